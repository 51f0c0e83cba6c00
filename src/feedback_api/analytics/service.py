"""Analytics rules: windows, ratios, intervals and the comparison (the figures' expressions
are figures.py's; the refresh is refresher.py's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import DIMENSIONS, STANDARD_WINDOWS, Slice
from feedback_api.analytics.models import DailyMetric
from feedback_api.analytics.repository import AnalyticsRepository
from feedback_api.analytics.schemas import (
    AccuracyReport,
    Comparison,
    DailyItem,
    DailyMetrics,
    DailySeries,
    DayWindow,
    Dimension,
    FeedbackStats,
    GroupedDailyMetrics,
    ModelFigures,
    ReasonItem,
    ReasonMetrics,
    TopQueries,
    TopQuery,
    Window,
)
from feedback_api.analytics.stats import two_proportion_test, wilson_interval
from feedback_api.exceptions import InvalidInput, NotFound
from feedback_api.kit.time import MAX_DAYS

ALPHA = 0.05


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_group_by(raw: str | None) -> list[str]:
    if raw is None:
        return list(DIMENSIONS)
    wanted = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in DIMENSIONS]
    if unknown:
        raise InvalidInput(
            f"group_by: unknown dimension {unknown[0]!r}; use a comma list of "
            "model, intent, project (or an empty value for one overall figure)"
        )
    return [d for d in DIMENSIONS if d in wanted]


def _day_range(since: date | None, until: date | None) -> tuple[date, date]:
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=29)
    if since > until:
        raise InvalidInput("since must not be later than until")
    if (until - since).days >= MAX_DAYS:
        raise InvalidInput(f"ask for at most {MAX_DAYS} days at a time")
    return since, until


def _every_day(since: date, until: date, rows: list[DailyMetric]) -> list[DailyItem]:
    """Every day of the range, zeros included, so a chart's x-axis has no silent gaps."""
    stored = {row.day: row for row in rows}
    items = []
    day = since
    while day <= until:
        row = stored.get(day)
        if row is None:
            items.append(
                DailyItem(
                    date=day, total_queries=0, feedback_count=0, feedback_rate=None,
                    positive=0, negative=0, corrections=0, positive_ratio=None,
                    avg_response_time_ms=None, p95_response_time_ms=None, unique_askers=0,
                )
            )  # fmt: skip
        else:
            items.append(
                DailyItem(
                    date=day,
                    total_queries=row.total_queries,
                    feedback_count=row.feedback_count,
                    feedback_rate=figures.feedback_rate(
                        row.interactions_with_feedback, row.total_queries
                    ),
                    positive=row.positive,
                    negative=row.negative,
                    corrections=row.corrections,
                    positive_ratio=figures.positive_ratio(row.positive, row.negative),
                    avg_response_time_ms=row.avg_response_time_ms,
                    p95_response_time_ms=row.p95_response_time_ms,
                    unique_askers=row.unique_askers,
                )
            )
        day += timedelta(days=1)
    return items


class AnalyticsService:
    def __init__(self, repository: AnalyticsRepository) -> None:
        self.repository = repository

    async def as_of(self) -> datetime | None:
        state = await self.repository.refresh_state()
        return state.refreshed_at if state else None

    async def accuracy(self, where: Slice, group_by: str | None, min_total: int) -> AccuracyReport:
        dims = parse_group_by(group_by)
        rows = await self.repository.accuracy(where, dims, min_total)
        items = []
        for row in rows:
            # Unpacked, not read by name: a hundred groups make attribute lookups add up.
            *labels, total, positive, negative, stars_sum, stars_count, last_at, _ = row
            interval = wilson_interval(positive, total)
            assert interval is not None  # groups have at least one vote
            item = dict(zip(dims, labels, strict=True))
            item.update(
                total=total,
                positive=positive,
                negative=negative,
                accuracy=figures.accuracy(positive, total),
                accuracy_ci_low=interval[0],
                accuracy_ci_high=interval[1],
                avg_stars=figures.mean(stars_sum, stars_count),
                last_feedback_at=last_at,
            )
            items.append(item)
        as_of = rows[0].as_of if rows else await self.as_of()
        # Validated in one call (pydantic's core, not Python, walks the list): cheaper than
        # constructing a hundred models one by one. Dimensions not grouped by stay unset.
        return AccuracyReport.model_validate(
            {"as_of": as_of, "group_by": dims, "min_total": min_total, "items": items}
        )

    async def stats(
        self,
        where: Slice,
        days: int | None,
        since: datetime | None,
        until: datetime | None,
    ) -> FeedbackStats:
        if days is not None and (since is not None or until is not None):
            raise InvalidInput("give either days or since/until, not both")
        as_of = await self.as_of()
        if since is None and until is None:
            days = 7 if days is None else days
            if days in STANDARD_WINDOWS and as_of is not None:
                stored = await self.repository.window_stats(days, where)
                window = Window(since=as_of - timedelta(days=days), until=as_of, days=days)
                return self._stats(as_of, window, where, stored)
            until = await self.repository.transaction_time()
            since = until - timedelta(days=days)
        else:
            until = until or await self.repository.transaction_time()
            since = since or until - timedelta(days=7)
            if since >= until:
                raise InvalidInput("since must be earlier than until")
        row = await self.repository.live_stats(since, until, where)
        days_ = (until - since).total_seconds() / 86400
        # Computed from the tables just now: as fresh as the request itself, as of the
        # window's end (since and until are in UTC: kit.fields.Timestamp).
        return self._stats(until, Window(since=since, until=until, days=days_), where, row)

    @staticmethod
    def _stats(as_of: datetime, window: Window, where: Slice, row: Any) -> FeedbackStats:
        total = int(row.total_feedback) if row else 0
        positive = int(row.positive) if row else 0
        negative = int(row.negative) if row else 0
        return FeedbackStats(
            as_of=as_of,
            window=window,
            model=where.model,
            intent=where.intent,
            project=where.project,
            total_feedback=total,
            positive=positive,
            negative=negative,
            positive_pct=figures.percent(positive, total),
            negative_pct=figures.percent(negative, total),
            corrections=int(row.corrections) if row else 0,
            unique_voters=int(row.unique_voters) if row else 0,
            unique_sessions=int(row.unique_sessions) if row else 0,
            avg_memory_used=_float(row.avg_memory_used) if row else None,
            avg_response_time_ms=_float(row.avg_response_time_ms) if row else None,
            avg_stars=_float(row.avg_stars) if row else None,
        )

    async def daily(self, where: Slice, since: date | None, until: date | None) -> DailyMetrics:
        since, until = _day_range(since, until)
        rows = await self.repository.daily(since, until, where)
        items = _every_day(since, until, rows)
        return DailyMetrics(as_of=await self.as_of(), since=since, until=until, items=items)

    async def reasons(
        self, where: Slice, days: int | None, since: date | None, until: date | None
    ) -> ReasonMetrics:
        """Votes per reason over whole UTC days (of the answers voted on, like the daily
        metrics): the last `days` up to today,
        or since/until (both included; 30 days up to today by default)."""
        if days is not None and (since is not None or until is not None):
            raise InvalidInput("give either days or since/until, not both")
        until = until or datetime.now(UTC).date()
        since = since or until - timedelta(days=(days or 30) - 1)
        if since > until:
            raise InvalidInput("since must not be later than until")
        if (until - since).days >= MAX_DAYS:
            raise InvalidInput(f"ask for at most {MAX_DAYS} days at a time")
        rows = await self.repository.reasons(since, until, where)
        down_votes = {row.model: row.down for row in rows if row.reason is None}
        items = [
            ReasonItem(
                reason=row.reason,
                model=row.model,
                up_votes=row.up,
                down_votes=row.down,
                share_of_down_votes=figures.share_of_down_votes(
                    row.down, down_votes.get(row.model, 0)
                ),
            )
            for row in rows
            if row.reason is not None
        ]
        window = DayWindow(since=since, until=until, days=(until - since).days + 1)
        return ReasonMetrics(as_of=await self.as_of(), window=window, items=items)

    async def daily_by(
        self, where: Slice, since: date | None, until: date | None, by: Dimension
    ) -> GroupedDailyMetrics:
        """A series per value of `by` (within the slice), the busiest first."""
        since, until = _day_range(since, until)
        groups: dict[str | None, list[DailyMetric]] = {}
        for row in await self.repository.daily(since, until, where, by.value):
            groups.setdefault(getattr(row, by.value), []).append(row)
        votes = {key: sum(r.positive + r.negative for r in rows) for key, rows in groups.items()}
        order = sorted(groups, key=lambda key: (-votes[key], key is None, key or ""))
        series = [
            DailySeries.model_validate(
                {by.value: key, "items": _every_day(since, until, groups[key])}
            )
            for key in order
        ]
        return GroupedDailyMetrics(
            as_of=await self.as_of(), since=since, until=until, group_by=by, series=series
        )

    async def top_queries(self, days: int, limit: int) -> TopQueries:
        as_of = await self.as_of()
        if days in STANDARD_WINDOWS and as_of is not None:
            rows = await self.repository.top_queries(days, limit)
        else:
            as_of = await self.repository.transaction_time()
            rows = await self.repository.live_top_queries(as_of - timedelta(days=days), limit)
        items = [TopQuery(query=row.query, count=row.count) for row in rows]
        return TopQueries(as_of=as_of, days=days, items=items)

    async def compare(
        self, model_a: str, model_b: str, intent: str | None, project: str | None
    ) -> Comparison:
        if model_a == model_b:
            raise InvalidInput("model_a and model_b must be two different models")
        figures = [await self._model_figures(m, intent, project) for m in (model_a, model_b)]
        a, b = figures
        test = two_proportion_test(a.positive, a.total, b.positive, b.total)
        return Comparison(
            as_of=await self.as_of(),
            intent=intent,
            project=project,
            model_a=a,
            model_b=b,
            difference=test.difference,
            difference_ci_low=test.difference_ci_low,
            difference_ci_high=test.difference_ci_high,
            z=test.z,
            p_value=test.p_value,
            significant=test.p_value < ALPHA,
            alpha=ALPHA,
        )

    async def _model_figures(
        self, model: str, intent: str | None, project: str | None
    ) -> ModelFigures:
        rows = await self.repository.accuracy(Slice(model, intent, project), [], 1)
        if not rows:
            scope = "".join(
                f", {name}={value!r}"
                for name, value in (("intent", intent), ("project", project))
                if value
            )
            raise NotFound(f"no votes for model {model!r}{scope} (as of the last refresh)")
        row = rows[0]
        low, high = wilson_interval(int(row.positive), int(row.total)) or (0.0, 0.0)
        return ModelFigures(
            model=model,
            total=row.total,
            positive=row.positive,
            negative=row.negative,
            accuracy=figures.accuracy(row.positive, row.total) or 0.0,  # total > 0 here
            accuracy_ci_low=low,
            accuracy_ci_high=high,
        )
