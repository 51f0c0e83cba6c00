"""Weekly report rules: which week, per-model figures, intervals and the week-on-week test."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, timedelta
from typing import Any

from feedback_api.alerts.repository import AlertRepository
from feedback_api.alerts.service import AlertQueries
from feedback_api.analytics import figures
from feedback_api.analytics.service import ALPHA
from feedback_api.analytics.stats import two_proportion_test, wilson_interval
from feedback_api.exceptions import InvalidInput
from feedback_api.kit.db import ReadSession
from feedback_api.kit.time import Week, parse_week
from feedback_api.reports.repository import ReportRepository
from feedback_api.reports.schemas import (
    Accuracy,
    Change,
    DayVolume,
    DownvotedQuestion,
    DownvoteReason,
    EstimatedWeek,
    IntentAccuracy,
    ModelDay,
    ModelWeek,
    QueueAlpha,
    WeeklyReport,
)
from feedback_api.review.estimated.repository import EstimateRepository
from feedback_api.review.estimated.service import EstimateService
from feedback_api.review.repository import QueueRepository
from feedback_api.review.weekly import WeeklyReview

MIN_VOTES = 5
WORST_INTENTS = 3
DOWNVOTED_PER_MODEL = 5


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(
        f"week: {message}", errors=[{"field": "week", "message": message, "type": "week"}]
    )


def _accuracy(positive: int, votes: int) -> Accuracy:
    low, high = wilson_interval(positive, votes) or (0.0, 1.0)
    return Accuracy(
        votes=votes,
        positive=positive,
        accuracy=figures.accuracy(positive, votes) or 0.0,  # votes > 0 here
        accuracy_ci_low=low,
        accuracy_ci_high=high,
    )


def _change(current: Accuracy, previous: Accuracy) -> Change:
    test = two_proportion_test(current.positive, current.votes, previous.positive, previous.votes)
    return Change(
        previous=previous,
        difference=test.difference,
        difference_ci_low=test.difference_ci_low,
        difference_ci_high=test.difference_ci_high,
        p_value=test.p_value,
        significant=test.p_value < ALPHA,
    )


def report_service(session: ReadSession) -> ReportService:
    return ReportService(
        ReportRepository(session),
        AlertQueries(AlertRepository(session)),
        WeeklyReview(QueueRepository(session)),
        EstimateService(EstimateRepository(session)),
    )


class ReportService:
    def __init__(
        self,
        repository: ReportRepository,
        alerts: AlertQueries,
        review: WeeklyReview | None = None,
        estimates: EstimateService | None = None,
    ) -> None:
        self.repo = repository
        self.alerts = alerts
        self.review = review
        self.estimates = estimates

    async def resolve_week(self, raw: str | None) -> Week:
        """The week asked for, or the current one; a week that has not begun is refused."""
        now = await self.repo.now()
        if raw is None:
            return Week.containing(now.astimezone(UTC).date())
        try:
            week = parse_week(raw)
        except ValueError as exc:
            raise _invalid(str(exc)) from None
        if week.start > now:
            raise _invalid(f"{week} has not begun yet")
        return week

    async def weekly(self, week: Week) -> WeeklyReport:
        now = await self.repo.now()
        start, end = week.start, week.end
        prev = week.previous
        traffic = {row.model: row for row in await self.repo.model_traffic(start, end)}
        votes = {row.model: row for row in await self.repo.votes(start, end)}
        before = {row.model: row for row in await self.repo.votes(prev.start, prev.end)}
        intents: dict[str, list[IntentAccuracy]] = defaultdict(list)
        for row in await self.repo.votes(start, end, by_intent=True):
            if row.total >= MIN_VOTES:
                intents[row.model].append(
                    IntentAccuracy(
                        intent=row.intent, **_accuracy(row.positive, row.total).model_dump()
                    )
                )
        downvoted: dict[str, list[DownvotedQuestion]] = defaultdict(list)
        for row in await self.repo.most_downvoted(start, end, DOWNVOTED_PER_MODEL):
            downvoted[row.model].append(
                DownvotedQuestion(
                    query=row.query,
                    downvotes=row.downvotes,
                    votes=row.votes,
                    last_comment=row.last_comment,
                )
            )
        reasons: dict[str, list[Any]] = defaultdict(list)
        for row in await self.repo.downvote_reasons(start, end):
            reasons[row.model].append(row)
        model_days: dict[str, list[Any]] = defaultdict(list)
        for row in await self.repo.daily(start, end, by_model=True):
            model_days[row.model].append(row)
        models = []
        for name in sorted(traffic, key=lambda m: (-traffic[m].volume, m)):
            traffic_row, vote_row, prev_row = traffic[name], votes.get(name), before.get(name)
            accuracy = _accuracy(vote_row.positive, vote_row.total) if vote_row else None
            previous = _accuracy(prev_row.positive, prev_row.total) if prev_row else None
            down = vote_row.total - vote_row.positive if vote_row else 0
            # The reasons' whole (reason None) is every down-vote of the model: `down`.
            given = [r for r in reasons[name] if r.reason is not None]
            models.append(
                ModelWeek(
                    model=name,
                    volume=traffic_row.volume,
                    feedback_rate=figures.feedback_rate(vote_row.answered, traffic_row.volume)
                    if vote_row
                    else None,
                    accuracy=accuracy,
                    avg_stars=vote_row.avg_stars if vote_row else None,
                    change=_change(accuracy, previous) if accuracy and previous else None,
                    response_time_p50_ms=traffic_row.p50,
                    response_time_p95_ms=traffic_row.p95,
                    worst_intents=sorted(
                        intents[name], key=lambda i: (i.accuracy, -i.votes, i.intent or "")
                    )[:WORST_INTENTS],
                    most_downvoted=downvoted[name],
                    downvotes=down,
                    downvote_reasons=[
                        DownvoteReason(
                            reason=r.reason,
                            downvotes=r.downvotes,
                            share_of_downvotes=figures.share_of_down_votes(r.downvotes, down)
                            or 0.0,  # a reason's down-votes are among the model's
                        )
                        for r in given
                    ],
                    downvotes_without_reason=reasons[name][0].silent if reasons[name] else 0,
                    days=_model_days(week, model_days[name]),
                )
            )
        return WeeklyReport(
            week=str(week),
            previous_week=str(prev),
            start=start,
            end=end,
            complete=end <= now,
            generated_at=now,
            alpha=ALPHA,
            min_votes=MIN_VOTES,
            volume=sum(m.volume for m in models),
            votes=sum(m.accuracy.votes for m in models if m.accuracy),
            positive=sum(m.accuracy.positive for m in models if m.accuracy),
            models=models,
            days=_days(week, await self.repo.daily(start, end)),
            alerts=await self.alerts.active_between(start, end),
            review=await self.review.week(start, end) if self.review else None,
            estimated=await self._estimated(week, [m.model for m in models]),
        )

    async def _estimated(self, week: Week, busiest: list[str]) -> EstimatedWeek | None:
        """Per model, the estimated accuracy of the week's answers beside the voted one, and
        each review queue's alpha on the week's labels."""
        if self.estimates is None or self.review is None:
            return None
        estimate = await self.estimates.estimated_accuracy(
            model=None,
            intent=None,
            project=None,
            since=week.start,
            until=week.end,
            group_by="model",
            queue_id=None,
        )
        order = {name: index for index, name in enumerate(busiest)}
        covered = [item for item in estimate.items if item.answers and item.model is not None]
        covered.sort(key=lambda item: (order.get(item.model or "", len(order)), item.model))
        queues = [
            QueueAlpha(queue=name, items=items, krippendorff_alpha=alpha)
            for name, items, alpha in await self.review.queue_alphas(week.start, week.end)
        ]
        return EstimatedWeek(models=covered, queues=queues)


def _days(week: Week, rows: list[Any]) -> list[DayVolume]:
    found = {row.day: row for row in rows}
    days = []
    for offset in range(7):
        day = week.monday + timedelta(days=offset)
        row = found.get(day)
        days.append(
            DayVolume(
                date=day,
                volume=row.volume if row else 0,
                votes=int(row.votes) if row else 0,
                positive=int(row.positive) if row else 0,
            )
        )
    return days


def _model_days(week: Week, rows: list[Any]) -> list[ModelDay]:
    found = {row.day: row for row in rows}
    days = []
    for offset in range(7):
        day = week.monday + timedelta(days=offset)
        row = found.get(day)
        votes = int(row.votes) if row else 0
        days.append(
            ModelDay(
                date=day,
                volume=row.volume if row else 0,
                accuracy=_accuracy(int(row.positive), votes) if row and votes else None,
            )
        )
    return days
