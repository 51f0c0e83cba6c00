"""The review section of the weekly report: labels done, alpha, votes against reviews."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from feedback_api.review.agreement import alpha_nominal, votes_vs_reviews
from feedback_api.review.repository import QueueRepository
from feedback_api.review.schemas import ReviewModelWeek, ReviewWeek, VotesVsReviews


class WeeklyReview:
    def __init__(self, repository: QueueRepository) -> None:
        self.repository = repository

    async def week(self, start: datetime, end: datetime) -> ReviewWeek:
        verdicts = await self.repository.week_verdicts(start, end)
        decided = await self.repository.week_decided(start, end)
        units: dict[object, list[str]] = defaultdict(list)
        for item_id, _, verdict in verdicts:
            units[item_id].append(verdict)
        per_model: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        for model, verdict, up, down in decided:
            per_model[model].append((verdict, up, down))
        return ReviewWeek(
            labels=await self.repository.labels_between(start, end),
            krippendorff_alpha=alpha_nominal(list(units.values())),
            models=[
                ReviewModelWeek(
                    model=model,
                    decided=len(rows),
                    reviewed_correct=sum(verdict == "correct" for verdict, _, _ in rows)
                    / len(rows),
                    votes_vs_reviews=VotesVsReviews.model_validate(votes_vs_reviews(rows)),
                )
                for model, rows in sorted(per_model.items())
            ],
        )
