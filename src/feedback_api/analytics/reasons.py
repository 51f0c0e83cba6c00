"""The reasons family: `reason_hours` (votes per reason, answer hour and segment) and
`daily_reasons` (per UTC day of the answers and CUBE cell), behind `GET /v1/metrics/reasons`.

A vote counts on its answer's day, like every per-day figure (`/v1/metrics/daily`, the
weekly report), once for each of its reasons (`figures.per_reason`); the row with `reason`
NULL counts every vote of the slice, with or without a reason: the whole that
`share_of_down_votes` divides by. An hour from its answers' votes, a day from its hours: a
tick that touched an hour reads that hour's votes, not the day's.
"""

from __future__ import annotations

import typing
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import BigInteger, Table, cast, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import (
    DIMENSIONS,
    cube,
    grouping,
    in_days,
    in_hours,
    utc_date,
    utc_day,
    utc_hour,
)
from feedback_api.analytics.models import DailyReason, ReasonHour
from feedback_api.analytics.rollup import Tick
from feedback_api.analytics.votes import votes_joined
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction

_REASON_HOURS = typing.cast(Table, ReasonHour.__table__)
TALLIES = ("up_votes", "down_votes")


async def rebuild_reasons(session: AsyncSession, hours: Collection[datetime] | None) -> None:
    """Recompute the votes per reason on the answers of the given UTC hours (reason_hours),
    then the days they belong to (daily_reasons, sums of their hours); or everything if
    None. Each hour's votes are found through its interactions, as the daily rollup's."""
    if hours is not None and not hours:
        return
    cleared = delete(ReasonHour)
    where = []
    if hours is not None:
        where = [in_hours(Interaction.created_at, hours)]
        cleared = cleared.where(ReasonHour.hour.in_(sorted(hours)))
    votes = (
        votes_joined()
        .add_columns(
            utc_hour(Interaction.created_at).label("hour"),
            Interaction.model,
            Interaction.intent,
            Interaction.project,
            Feedback.is_helpful,
            Feedback.reasons,
        )
        .where(*where)
        .cte("votes")
    )
    await session.execute(cleared)
    await session.execute(
        insert(ReasonHour).from_select(
            ["hour", *DIMENSIONS, "reason", *TALLIES],
            figures.per_reason(votes, ("hour", *DIMENSIONS)),
        )
    )
    await _rebuild_days(session, None if hours is None else {utc_date(h) for h in hours})


async def _rebuild_days(session: AsyncSession, days: Collection[date] | None) -> None:
    """The days of those hours, from all of their hours."""
    cleared = delete(DailyReason)
    where = []
    if days is not None:
        cleared = cleared.where(DailyReason.day.in_(sorted(days)))
        where = [in_days(ReasonHour.hour, days)]
    r = _REASON_HOURS
    day = utc_day(r.c.hour)
    rows = (
        select(
            day,
            grouping(r.c),
            r.c.model,
            r.c.intent,
            r.c.project,
            r.c.reason,
            *(cast(func.sum(r.c[t]), BigInteger) for t in TALLIES),
        )
        .where(*where)
        .group_by(day, r.c.reason, cube(r.c))
    )
    await session.execute(cleared)
    await session.execute(
        insert(DailyReason).from_select(["day", "grouping", *DIMENSIONS, "reason", *TALLIES], rows)
    )


class Reasons:
    """reason_hours per touched answer hour, then daily_reasons of their days."""

    async def rebuild(self, tick: Tick) -> None:
        await rebuild_reasons(tick.session, None)

    async def slide(self, tick: Tick) -> None:
        """Days are calendar days: nothing slides."""

    async def apply(self, tick: Tick) -> None:
        # Reasons count by the hour of the answer voted on; each day is the sum of its hours.
        await rebuild_reasons(tick.session, tick.changes.answer_hours)
