"""The reasons family: `reason_hours` (votes per reason, cast hour and segment) and
`daily_reasons` (per UTC cast day and CUBE cell), behind `GET /v1/metrics/reasons`.

A vote counts once for each of its reasons; the row with `reason` NULL counts every vote
of the slice, with or without a reason: the whole that `share_of_down_votes` divides by.
An hour from its votes, a day from its hours: a tick that touched the current hour reads
that hour's votes, not the day's.
"""

from __future__ import annotations

import typing
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import BigInteger, Table, Text, cast, delete, func, null, select, union_all
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
    """Recompute the votes per reason of the given UTC cast hours (reason_hours), then the
    days they belong to (daily_reasons, sums of their hours); or everything if None."""
    if hours is not None and not hours:
        return
    hour = utc_hour(Feedback.created_at)
    cleared = delete(ReasonHour)
    where = []
    if hours is not None:
        where = [in_hours(Feedback.created_at, hours)]
        cleared = cleared.where(ReasonHour.hour.in_(sorted(hours)))
    votes = (
        votes_joined()
        .add_columns(
            hour.label("hour"),
            Interaction.model,
            Interaction.intent,
            Interaction.project,
            Feedback.is_helpful,
            Feedback.reasons,
        )
        .where(*where)
        .cte("votes")
    )
    per_reason = select(
        *(votes.c[name] for name in ("hour", *DIMENSIONS, "is_helpful")),
        func.unnest(votes.c.reasons).label("reason"),
    ).subquery("per_reason")
    await session.execute(cleared)
    # Once per reason of a vote, and once per vote (reason NULL: the slice's whole), in one
    # statement: the votes are read once (a CTE named twice is computed once).
    counted = []
    for source, reason in ((per_reason, per_reason.c.reason), (votes, None)):
        dims = [source.c[d] for d in DIMENSIONS]
        by_reason = [reason] if reason is not None else []
        counted.append(
            select(
                source.c.hour,
                *dims,
                reason if reason is not None else cast(null(), Text),
                figures.positive(source.c.is_helpful),
                figures.negative(source.c.is_helpful),
            ).group_by(source.c.hour, *dims, *by_reason)
        )
    await session.execute(
        insert(ReasonHour).from_select(
            ["hour", *DIMENSIONS, "reason", *TALLIES], union_all(*counted)
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
    """reason_hours per touched cast hour, then daily_reasons of their days."""

    async def rebuild(self, tick: Tick) -> None:
        await rebuild_reasons(tick.session, None)

    async def slide(self, tick: Tick) -> None:
        """Days are calendar days: nothing slides."""

    async def apply(self, tick: Tick) -> None:
        # Reasons count by the hour a vote was cast, and each day is the sum of its hours.
        await rebuild_reasons(tick.session, tick.changes.vote_hours)
