"""The windows' figures: `window_stats`, per kept window (7, 30, 90 days and the alerts')
and CUBE cell, behind `GET /v1/feedback/stats?days=7/30/90` and the regression alerts.

Totals, sums and counts: the window's whole hours (vote_windows, a row per segment), plus
its partial first hour from the votes themselves. Unique voters and sessions: the members
whose last cast is at or after the window's start (member_windows for the whole hours,
member_last_casts for the partial one). Exact, at the cost of a row per segment and of an
hour of votes per window. Runs after the votes and members families.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    SmallInteger,
    cast,
    delete,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert

from feedback_api.analytics import members, votes
from feedback_api.analytics.buckets import DIMENSIONS, edges, same_cell
from feedback_api.analytics.changes import SESSION, USER
from feedback_api.analytics.kept import left_windows
from feedback_api.analytics.models import MemberLastCast, WindowStat
from feedback_api.analytics.rollup import Tick
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction

# window_stats' columns after the cell, in the order `_rows` selects them
_FIGURES = (
    "total_feedback", "positive", "negative", "corrections", "unique_voters", "unique_sessions",
    "avg_memory_used", "avg_response_time_ms", "avg_stars",
)  # fmt: skip


def _rows(tick: Tick) -> Any:
    # Each window's partial first hour with its bounds as constants: joined to a VALUES
    # list, the planner cannot see that they span an hour, and scans whole tables.
    parts_of = [
        (literal(e.days, SmallInteger), e.start, e.whole) for e in edges(tick.now, tick.windows)
    ]
    vw = votes.KEPT.windows
    whole = select(vw.c.days, *(vw.c[n] for n in (*DIMENSIONS, *votes.MEASURES)))
    dims_of_votes = (Interaction.model, Interaction.intent, Interaction.project)
    vote_edges = [
        votes.votes_joined()
        .add_columns(days, *dims_of_votes, *votes.vote_measures())
        .where(Feedback.created_at >= start, Feedback.created_at < whole_from)
        .group_by(*dims_of_votes)
        for days, start, whole_from in parts_of
    ]
    parts = union_all(whole, *vote_edges).subquery("parts")
    dims = (parts.c.model, parts.c.intent, parts.c.project)

    def total(name: str) -> Any:
        return cast(func.sum(parts.c[name]), BigInteger)

    def mean(name: str, count: str) -> Any:
        return cast(func.sum(parts.c[name]), Float) / func.nullif(func.sum(parts.c[count]), 0)

    totals = (
        select(
            parts.c.days,
            func.grouping(*dims).label("grouping"),
            *dims,
            total("total").label("total_feedback"),
            total("positive").label("positive"),
            total("negative").label("negative"),
            total("corrections").label("corrections"),
            mean("memory_sum", "memory_count").label("avg_memory_used"),
            mean("response_time_sum", "response_time_count").label("avg_response_time_ms"),
            mean("stars_sum", "stars_count").label("avg_stars"),
        )
        .group_by(parts.c.days, func.cube(*dims))
        .subquery("totals")
    )
    m, mw = MemberLastCast, members.KEPT.windows
    member_parts = union_all(
        select(mw.c.days, *(mw.c[n] for n in members.CELL), mw.c.count),
        *(
            select(
                days, m.kind, m.grouping, m.model, m.intent, m.project, literal(1, BigInteger)
            ).where(m.last_at >= start, m.last_at < whole_from)
            for days, start, whole_from in parts_of
        ),
    ).subquery("members")
    mp = member_parts

    def members_of(kind: int) -> Any:
        return cast(func.coalesce(func.sum(mp.c.count).filter(mp.c.kind == kind), 0), BigInteger)

    cell = ("days", "grouping", *DIMENSIONS)
    uniques = (
        select(
            *(mp.c[n] for n in cell),
            members_of(USER).label("voters"),
            members_of(SESSION).label("sessions"),
        )
        .group_by(*(mp.c[n] for n in cell))
        .subquery("uniques")
    )
    t = totals.c
    return select(
        *(t[n] for n in cell),
        t.total_feedback,
        t.positive,
        t.negative,
        t.corrections,
        func.coalesce(uniques.c.voters, 0),
        func.coalesce(uniques.c.sessions, 0),
        t.avg_memory_used,
        t.avg_response_time_ms,
        t.avg_stars,
    ).outerjoin_from(totals, uniques, same_cell(uniques, totals, "days"))


class WindowStats:
    """window_stats rebuilt from the window sums when a vote changed or left a window."""

    async def rebuild(self, tick: Tick) -> None:
        await tick.session.execute(delete(WindowStat))
        await tick.session.execute(
            insert(WindowStat).from_select(
                ["days", "grouping", *DIMENSIONS, *_FIGURES], _rows(tick)
            )
        )

    async def slide(self, tick: Tick) -> None:
        """The window sums it reads slide in their own families."""

    async def apply(self, tick: Tick) -> None:
        # With nothing voted and no vote gone out of a window, the rows are still exact at
        # the new time: the windows' sums did not change, nor did their partial hours' rows.
        if tick.changes.voted or await left_windows(
            tick.session, Feedback.created_at, tick.windows, tick.previous, tick.now
        ):
            await self.rebuild(tick)
