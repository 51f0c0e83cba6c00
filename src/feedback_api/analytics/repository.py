"""The analytics' reads: the rollups, the view, and live queries over the tables for what
no rollup keeps. What each figure counts: docs/analytics.md. The refresh's SQL lives in the
rollup modules (daily.py, votes.py, ...), each its own repository."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, and_, cast, distinct, func, or_, select

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import GROUPING_BITS, Slice, cube_row, sliced
from feedback_api.analytics.models import (
    DailyMetric,
    DailyReason,
    RefreshState,
    TopQuery,
    WindowStat,
    model_accuracy,
)
from feedback_api.analytics.state import transaction_time
from feedback_api.analytics.votes import votes_joined
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession
from feedback_api.kit.models import AnyRow


def _live_figures() -> list[Any]:
    """window_stats' figures, computed from the votes of any range."""
    return [
        figures.votes().label("total_feedback"),
        figures.positive().label("positive"),
        figures.negative().label("negative"),
        figures.corrections().label("corrections"),
        func.count(distinct(Feedback.user_id)).label("unique_voters"),
        func.count(distinct(Interaction.session_id)).label("unique_sessions"),
        func.avg(Interaction.memory_used).label("avg_memory_used"),
        func.avg(Interaction.response_time_ms).label("avg_response_time_ms"),
        func.avg(Feedback.stars).label("avg_stars"),
    ]


class AnalyticsRepository:
    """The analytics' reads: the rollups, the view and live queries over the tables."""

    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def transaction_time(self) -> datetime:
        return await transaction_time(self.session)

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
        stmt = select(WindowStat).where(WindowStat.days == days, *cube_row(WindowStat, where))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def live_stats(self, since: datetime, until: datetime, where: Slice) -> AnyRow:
        stmt = (
            votes_joined()
            .add_columns(*_live_figures())
            .where(Feedback.created_at >= since, Feedback.created_at < until, *sliced(where))
        )
        return (await self.session.execute(stmt)).one()

    async def daily(
        self, since: date, until: date, where: Slice, by: str | None = None
    ) -> list[DailyMetric]:
        """The slice's days; with `by`, one row per day and value of that dimension."""
        stmt = (
            select(DailyMetric)
            .where(DailyMetric.day >= since, DailyMetric.day <= until)
            .where(*cube_row(DailyMetric, where, by))
            .order_by(DailyMetric.day)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def reasons(self, since: date, until: date, where: Slice) -> list[AnyRow]:
        """Per model (and for all models: model NULL) and reason (NULL: every vote): up and
        down votes over the UTC days from `since` to `until`, both included."""
        grouping = where.grouping()  # with the model bit (4) set unless a model is given
        groupings = [grouping] if where.model is not None else [grouping, grouping & ~4]
        conditions = [getattr(DailyReason, dim) == v for dim, v in where.given().items()]
        up = cast(func.sum(DailyReason.up_votes), BigInteger)
        down = cast(func.sum(DailyReason.down_votes), BigInteger)
        stmt = (
            select(DailyReason.model, DailyReason.reason, up.label("up"), down.label("down"))
            .where(DailyReason.day >= since, DailyReason.day <= until)
            .where(DailyReason.grouping.in_(groupings), *conditions)
            .group_by(DailyReason.grouping, DailyReason.model, DailyReason.reason)
            .order_by(DailyReason.model.nulls_first(), down.desc(), DailyReason.reason)
        )
        return list((await self.session.execute(stmt)).all())

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

    async def segment_votes(self, days: int) -> list[AnyRow]:
        """Votes of the window of `days` kept by the last refresh (RefreshService.windows),
        per segment: (model, intent, project, positive, negative) for each model, model x
        intent and model x project, with the dimension that is not part of the segment NULL
        (segments of an unknown intent or project are left out, so a NULL always means
        "all"). A row per segment of window_stats: exact, and as of the last refresh."""
        w = WindowStat
        bits = GROUPING_BITS
        by_model = w.grouping == bits["intent"] | bits["project"]
        by_intent = and_(w.grouping == bits["project"], w.intent.is_not(None))
        by_project = and_(w.grouping == bits["intent"], w.project.is_not(None))
        stmt = (
            select(w.model, w.intent, w.project, w.positive, w.negative)
            .where(w.days == days, or_(by_model, by_intent, by_project))
            .order_by(w.model, w.intent.nulls_first(), w.project.nulls_first())
        )
        return list((await self.session.execute(stmt)).all())
