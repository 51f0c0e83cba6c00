"""The daily family: `answer_hours` (each hour's answers and the votes on them) and
`daily_metrics` (per UTC day of the interactions and CUBE cell), behind `GET
/v1/metrics/daily`; the estimate of accuracy (review/estimated) reads `answer_hours` too.

Days are those of the interactions: a day's ratio is the quality of the answers given that
day, and feedback_rate (answers that got any vote) stays between 0 and 1. A day's own
figures (p95, unique askers) come from all of its interactions, so they are exact; its vote
figures are the sums of its answer hours. So a vote on an old answer costs an hour of
answers and a day of hour rows, and only a new (or deleted) interaction recomputes its
day's interactions.
"""

from __future__ import annotations

import typing
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Table,
    cast,
    delete,
    distinct,
    func,
    join,
    or_,
    outerjoin,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import (
    DIMENSIONS,
    cube,
    grouping,
    in_days,
    in_hours,
    same_cell,
    utc_day,
    utc_hour,
)
from feedback_api.analytics.models import AnswerHour, DailyMetric
from feedback_api.analytics.rollup import Tick
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction

_ANSWER_HOURS = typing.cast(Table, AnswerHour.__table__)
_DAILY = typing.cast(Table, DailyMetric.__table__)
# daily_metrics' vote columns, as answer_hours holds them per hour
ANSWER_VOTES = (
    "feedback_count",
    "interactions_with_feedback",
    "positive",
    "negative",
    "corrections",
)
# The sums of each voted answer's share of thumbs-up and of its square (the estimate of
# accuracy's): in answer_hours and, summed, in daily_metrics
SHARES = ("share_sum", "share_squares")
# daily_metrics' columns summed from answer_hours
DAY_SUMS = (*ANSWER_VOTES, *SHARES)
# daily_metrics' own columns, from the day's interactions
_ASKED = ("total_queries", "avg_response_time_ms", "p95_response_time_ms", "unique_askers")


async def rebuild_answer_hours(session: AsyncSession, hours: Collection[datetime] | None) -> None:
    """Recompute the answers of `hours` (UTC hours of the interactions) and the votes on
    them, or of every hour if None."""
    if hours is not None and not hours:
        return
    tallies = (
        figures.votes().label("n"),
        figures.positive().label("positive"),
        figures.negative().label("negative"),
        figures.corrections().label("corrections"),
    )
    votes: FromClause
    cleared = delete(AnswerHour)
    where: list[ColumnElement[bool]] = []
    if hours is None:
        # Every vote: one pass over the votes, grouped by interaction, hash-joined to every
        # answer (those without a vote count too).
        grouped = select(Feedback.interaction_id, *tallies).group_by(Feedback.interaction_id)
        votes = grouped.subquery("v")
        joined = outerjoin(Interaction, votes, votes.c.interaction_id == Interaction.id)
    else:
        # The votes of these hours' interactions only, each interaction's through the index
        # on feedback.interaction_id. Joined to all votes, the planner scans the whole vote
        # table for the hour's few (measured: docs/benchmarks/analytics.md, bench_refresh.py).
        cleared = cleared.where(AnswerHour.hour.in_(sorted(hours)))
        where = [in_hours(Interaction.created_at, hours)]
        votes = select(*tallies).where(Feedback.interaction_id == Interaction.id).lateral("v")
        joined = join(Interaction, votes, true())
    hour = utc_hour(Interaction.created_at)
    dims = (Interaction.model, Interaction.intent, Interaction.project)
    share = figures.vote_share(votes.c.positive, votes.c.n)

    def total(value: Any) -> Any:
        return func.coalesce(func.sum(value), 0)

    rows = (
        select(
            hour,
            *dims,
            total(votes.c.n),
            # feedback_rate's part: answers with at least one vote
            func.count().filter(votes.c.n > 0),
            total(votes.c.positive),
            total(votes.c.negative),
            total(votes.c.corrections),
            func.count(),
            total(share),
            total(share * share),
        )
        .select_from(joined)
        .where(*where)
        .group_by(hour, *dims)
    )
    await session.execute(cleared)
    await session.execute(
        insert(AnswerHour).from_select(
            ["hour", *DIMENSIONS, *ANSWER_VOTES, "answers", *SHARES], rows
        )
    )


def _votes_of_days(days: Collection[date] | None) -> typing.Any:
    """daily_metrics' vote columns of `days` (or all), per CUBE cell: sums of their answer
    hours."""
    a = _ANSWER_HOURS
    day = utc_day(a.c.hour)
    where = [] if days is None else [in_days(a.c.hour, days)]
    return (
        select(
            day.label("day"),
            grouping(a.c).label("grouping"),
            a.c.model,
            a.c.intent,
            a.c.project,
            *(cast(func.sum(a.c[n]), BigInteger).label(n) for n in ANSWER_VOTES),
            *(func.sum(a.c[n]).label(n) for n in SHARES),
        )
        .where(*where)
        .group_by(day, cube(a.c))
        .subquery("voted")
    )


async def _rebuild_days(session: AsyncSession, days: Collection[date] | None) -> None:
    """Recompute the days (or all) whole: their interactions, and their answer hours."""
    where = [] if days is None else [in_days(Interaction.created_at, days)]
    day = utc_day(Interaction.created_at)
    asked = (
        select(
            day.label("day"),
            grouping().label("grouping"),
            Interaction.model,
            Interaction.intent,
            Interaction.project,
            func.count().label("total_queries"),
            func.avg(Interaction.response_time_ms).label("avg_response_time_ms"),
            func.percentile_cont(0.95)
            .within_group(Interaction.response_time_ms)
            .label("p95_response_time_ms"),
            func.count(distinct(Interaction.user_id)).label("unique_askers"),
        )
        .where(*where)
        .group_by(day, cube())
        .subquery("asked")
    )
    voted = _votes_of_days(days)
    cell = ("day", "grouping", *DIMENSIONS)
    rows = select(
        *(asked.c[n] for n in cell),
        *(asked.c[n] for n in _ASKED),
        *(func.coalesce(voted.c[n], 0) for n in DAY_SUMS),
    ).outerjoin_from(asked, voted, same_cell(asked, voted, "day"))
    cleared = delete(DailyMetric)
    if days is not None:
        cleared = cleared.where(DailyMetric.day.in_(sorted(days)))
    await session.execute(cleared)
    await session.execute(insert(DailyMetric).from_select([*cell, *_ASKED, *DAY_SUMS], rows))


async def _update_day_votes(session: AsyncSession, days: Sequence[date]) -> None:
    """Set the vote figures of `days` from their answer hours; rows whose figures did not
    change are not written."""
    d = _DAILY
    voted = _votes_of_days(days)
    computed = (
        select(d.c.id, *(func.coalesce(voted.c[n], 0).label(n) for n in DAY_SUMS))
        .outerjoin_from(d, voted, same_cell(d, voted, "day"))
        .where(d.c.day.in_(days))
        .subquery("figures")
    )
    await session.execute(
        update(d)
        .where(
            d.c.id == computed.c.id,
            or_(*(d.c[n].is_distinct_from(computed.c[n]) for n in DAY_SUMS)),
        )
        .values({n: computed.c[n] for n in DAY_SUMS})
    )


class Daily:
    """answer_hours, then daily_metrics from them and from the days' interactions."""

    async def rebuild(self, tick: Tick) -> None:
        await rebuild_answer_hours(tick.session, None)
        await _rebuild_days(tick.session, None)

    async def slide(self, tick: Tick) -> None:
        """Days are calendar days: nothing slides."""

    async def apply(self, tick: Tick) -> None:
        changes = tick.changes
        # An hour's answers change with its votes and with its interactions.
        await rebuild_answer_hours(tick.session, changes.answer_hours | changes.query_hours)
        days = changes.days
        if days:
            await _rebuild_days(tick.session, days)
        only_votes = sorted(changes.vote_days - days)
        if only_votes:
            await _update_day_votes(tick.session, only_votes)
