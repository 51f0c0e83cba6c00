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

    async def queue_alphas(
        self, start: datetime, end: datetime
    ) -> list[tuple[str, int, float | None]]:
        """Per queue, by name: the items labelled in [start, end) with 2 or more labels, and
        Krippendorff's alpha (nominal) over their labels."""
        units: dict[str, dict[object, list[str]]] = defaultdict(lambda: defaultdict(list))
        for queue, item_id, verdict in await self.repository.week_verdicts_by_queue(start, end):
            units[queue][item_id].append(verdict)
        return [
            (
                queue,
                sum(len(unit) >= 2 for unit in items.values()),
                alpha_nominal(list(items.values())),
            )
            for queue, items in sorted(units.items())
        ]
