"""All analytics SQL: the refresh of the rollups, and the reads the endpoints serve from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    cast,
    column,
    delete,
    distinct,
    func,
    literal,
    literal_column,
    not_,
    select,
    text,
    values,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.models import (
    DailyMetric,
    RefreshState,
    TopQuery,
    WindowStat,
    model_accuracy,
)
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession
from feedback_api.kit.models import AnyRow

DIMENSIONS = ("model", "intent", "project")
STANDARD_WINDOWS = (7, 30, 90)
TOP_QUERIES_KEPT = 100
ONE_DAY: ColumnElement[Any] = literal_column("interval '1 day'")


@dataclass(frozen=True)
class Slice:
    """The model / intent / project an analyst filters on (None: all of them)."""

    model: str | None = None
    intent: str | None = None
    project: str | None = None

    def given(self) -> dict[str, str]:
        return {d: v for d in DIMENSIONS if (v := getattr(self, d)) is not None}

    def grouping(self, by: str | None = None) -> int:
        """The GROUPING(model, intent, project) bitmask of the CUBE rows that answer us:
        the slice's dimensions fixed, and `by` (if given) one row per value."""
        bits = {"model": 4, "intent": 2, "project": 1}
        return sum(bit for dim, bit in bits.items() if getattr(self, dim) is None and dim != by)


def _cube_row(table: Any, where: Slice, by: str | None = None) -> list[ColumnElement[bool]]:
    conditions = [table.grouping == where.grouping(by)]
    conditions += [getattr(table, dim) == value for dim, value in where.given().items()]
    return conditions


def _slice(where: Slice) -> list[ColumnElement[bool]]:
    return [getattr(Interaction, dim) == value for dim, value in where.given().items()]


def _cube() -> Any:
    return func.cube(Interaction.model, Interaction.intent, Interaction.project)


def _grouping() -> Any:
    return func.grouping(Interaction.model, Interaction.intent, Interaction.project)


def utc_day(ts: Any) -> ColumnElement[date]:
    """The UTC calendar day of a timestamptz.

    A literal, not a bound parameter, so the expression in SELECT and in GROUP BY is one.
    """
    return cast(func.timezone(literal_column("'UTC'"), ts), Date)


def _feedback_aggregates() -> list[Any]:
    return [
        func.count(Feedback.id).label("total_feedback"),
        func.count(Feedback.id).filter(Feedback.is_helpful).label("positive"),
        func.count(Feedback.id).filter(not_(Feedback.is_helpful)).label("negative"),
        func.count(distinct(Feedback.user_id)).label("unique_users"),
        func.count(distinct(Interaction.session_id)).label("unique_sessions"),
        func.avg(Interaction.memory_used).label("avg_memory_used"),
        func.avg(Interaction.response_time_ms).label("avg_response_time_ms"),
        func.avg(Feedback.stars).label("avg_stars"),
    ]


class RollupRepository:
    """The refresh's writes: the materialized view and the rollup tables."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def refresh_accuracy_view(self) -> None:
        # CONCURRENTLY: readers keep the old rows until the new ones commit.
        await self.session.execute(text("REFRESH MATERIALIZED VIEW CONCURRENTLY model_accuracy"))

    async def rebuild_daily(self, since: date | None) -> None:
        """Recompute the daily rollup from `since` (a UTC day) on, or entirely if None.

        Days are those of the interactions: a day's ratio is the quality of the answers given
        that day, and feedback_rate (answers that got any vote) stays between 0 and 1.
        """
        start = func.timezone("UTC", cast(literal(since), Date)) if since else None
        in_range = [Interaction.created_at >= start] if start is not None else []
        votes = (
            select(
                Feedback.interaction_id,
                func.count().label("n"),
                func.count().filter(Feedback.is_helpful).label("positive"),
                func.count().filter(not_(Feedback.is_helpful)).label("negative"),
            )
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where(*in_range)
            .group_by(Feedback.interaction_id)
            .subquery("v")
        )
        day = utc_day(Interaction.created_at)
        rows = (
            select(
                day,
                _grouping(),
                Interaction.model,
                Interaction.intent,
                Interaction.project,
                func.count(),
                func.coalesce(func.sum(votes.c.n), 0),
                func.count(votes.c.interaction_id),
                func.coalesce(func.sum(votes.c.positive), 0),
                func.coalesce(func.sum(votes.c.negative), 0),
                func.avg(Interaction.response_time_ms),
                func.percentile_cont(0.95).within_group(Interaction.response_time_ms),
                func.count(distinct(Interaction.user_id)),
            )
            .outerjoin(votes, votes.c.interaction_id == Interaction.id)
            .where(*in_range)
            .group_by(day, _cube())
        )
        cleared = delete(DailyMetric)
        if since is not None:
            cleared = cleared.where(DailyMetric.day >= since)
        await self.session.execute(cleared)
        await self.session.execute(
            insert(DailyMetric).from_select(
                [
                    "day", "grouping", "model", "intent", "project", "total_queries",
                    "feedback_count", "interactions_with_feedback", "positive", "negative",
                    "avg_response_time_ms", "p95_response_time_ms", "unique_users",
                ],
                rows,
            )
        )  # fmt: skip

    async def rebuild_windows(self) -> None:
        """Feedback statistics over the standard windows, ending at the refresh."""
        windows = values(column("days", Integer), name="w").data([(d,) for d in STANDARD_WINDOWS])
        now = func.now()
        rows = (
            select(
                windows.c.days,
                _grouping(),
                Interaction.model,
                Interaction.intent,
                Interaction.project,
                *_feedback_aggregates(),
            )
            .select_from(Feedback)
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .join(windows, Feedback.created_at >= now - windows.c.days * ONE_DAY)
            .where(
                Feedback.created_at >= now - max(STANDARD_WINDOWS) * ONE_DAY,
                Feedback.created_at < now,
            )
            .group_by(windows.c.days, _cube())
        )
        await self.session.execute(delete(WindowStat))
        await self.session.execute(
            insert(WindowStat).from_select(
                [
                    "days", "grouping", "model", "intent", "project", "total_feedback",
                    "positive", "negative", "unique_users", "unique_sessions",
                    "avg_memory_used", "avg_response_time_ms", "avg_stars",
                ],
                rows,
            )
        )  # fmt: skip

    async def rebuild_top_queries(self) -> None:
        await self.session.execute(delete(TopQuery))
        for days in STANDARD_WINDOWS:
            counted = func.count()
            rows = (
                select(
                    literal(days),
                    func.row_number().over(order_by=(counted.desc(), Interaction.query)),
                    Interaction.query,
                    counted,
                )
                .where(Interaction.created_at >= func.now() - days * ONE_DAY)
                .group_by(Interaction.query)
                .order_by(counted.desc(), Interaction.query)
                .limit(TOP_QUERIES_KEPT)
            )
            await self.session.execute(
                insert(TopQuery).from_select(["days", "rank", "query", "count"], rows)
            )

    async def record_refresh(self, duration_ms: float, full: bool) -> None:
        values_ = {"refreshed_at": func.now(), "duration_ms": duration_ms}
        if full:
            values_["full_rebuild_at"] = func.now()
        stmt = insert(RefreshState).values(id=1, **values_)
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values_))


class AnalyticsRepository:
    """The analytics' reads: the rollups, the view and live queries over the tables."""

    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def transaction_time(self) -> datetime:
        value: datetime | None = await self.session.scalar(select(func.now()))
        assert value is not None
        return value

    async def refresh_state(self) -> RefreshState | None:
        return await self.session.get(RefreshState, 1, populate_existing=True)

    async def accuracy(self, where: Slice, group_by: Sequence[str], min_total: int) -> list[AnyRow]:
        """Per group: the `group_by` labels in order, then total, positive, negative,
        stars_sum, stars_count, last_feedback_at and the refresh time (as_of)."""
        dims = [model_accuracy.c[d] for d in group_by]

        def total_of(column: Any) -> Any:
            # sum(bigint) is numeric in PostgreSQL: back to bigint, so Python sees ints.
            return cast(func.sum(column), BigInteger)

        total = total_of(model_accuracy.c.total)
        stmt = (
            select(
                *dims,
                total.label("total"),
                total_of(model_accuracy.c.positive).label("positive"),
                total_of(model_accuracy.c.negative).label("negative"),
                total_of(model_accuracy.c.stars_sum).label("stars_sum"),
                total_of(model_accuracy.c.stars_count).label("stars_count"),
                func.max(model_accuracy.c.last_feedback_at).label("last_feedback_at"),
                # The refresh time rides along: one round trip instead of two.
                select(RefreshState.refreshed_at).scalar_subquery().label("as_of"),
            )
            .where(*(model_accuracy.c[d] == v for d, v in where.given().items()))
            .group_by(*dims)
            .having(total >= max(min_total, 1))
            .order_by(*dims)
        )
        return list((await self.session.execute(stmt)).all())

    async def window_stats(self, days: int, where: Slice) -> WindowStat | None:
        stmt = select(WindowStat).where(WindowStat.days == days, *_cube_row(WindowStat, where))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def live_stats(self, since: datetime, until: datetime, where: Slice) -> AnyRow:
        stmt = (
            select(*_feedback_aggregates())
            .select_from(Feedback)
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where(Feedback.created_at >= since, Feedback.created_at < until, *_slice(where))
        )
        return (await self.session.execute(stmt)).one()

    async def daily(
        self, since: date, until: date, where: Slice, by: str | None = None
    ) -> list[DailyMetric]:
        """The slice's days; with `by`, one row per day and value of that dimension."""
        stmt = (
            select(DailyMetric)
            .where(DailyMetric.day >= since, DailyMetric.day <= until)
            .where(*_cube_row(DailyMetric, where, by))
            .order_by(DailyMetric.day)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def top_queries(self, days: int, limit: int) -> list[AnyRow]:
        stmt = (
            select(TopQuery.query, TopQuery.count)
            .where(TopQuery.days == days)
            .order_by(TopQuery.rank)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def live_top_queries(self, since: datetime, limit: int) -> list[AnyRow]:
        counted = func.count()
        stmt = (
            select(Interaction.query, counted.label("count"))
            .where(Interaction.created_at >= since)
            .group_by(Interaction.query)
            .order_by(counted.desc(), Interaction.query)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())
