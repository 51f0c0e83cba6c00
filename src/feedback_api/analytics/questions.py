"""The questions family: `query_hours` (interactions per question and UTC hour, for the
hours the 90-day window covers), `query_windows` (their sums over each standard window's
whole hours: hour buckets plus kept window sums, kept.py) and `top_queries` (the first 100
per window), behind `GET /v1/metrics/top-queries`.

Each statement that changes `query_hours` (recomputing a touched hour, or dropping the
hours a window no longer covers) applies the same difference to `query_windows`. The first
100 of a window are read from its first 100 by whole-hour count together with the
questions of its partial first hour: no other question can rank, because 100 questions are
ahead of it on both its count and its name.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    SmallInteger,
    Table,
    Uuid,
    and_,
    cast,
    delete,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert

from feedback_api.analytics.buckets import STANDARD_WINDOWS, ceil_hour, in_hours, utc_hour
from feedback_api.analytics.kept import KeptWindows, left_windows
from feedback_api.analytics.models import QueryHour, QueryWindow, TopQuery
from feedback_api.analytics.rollup import Tick
from feedback_api.interactions.models import Interaction

TOP_QUERIES_KEPT = 100
_NAMES = ("hour", "query_hash", "query", "count")
KEPT = KeptWindows(
    hours=typing.cast(Table, QueryHour.__table__),
    windows=typing.cast(Table, QueryWindow.__table__),
    key=("query_hash",),
    carried=("query",),
    measures=("count",),
    empty="count",
)


def query_hash(query: Any) -> ColumnElement[uuid.UUID]:
    """md5 of the text: questions may be longer than a B-tree key may be."""
    return cast(func.md5(query), Uuid)


def _first_hour(now: datetime) -> datetime:
    """The first whole hour of the longest window: older hours are not kept."""
    return ceil_hour(now - timedelta(days=max(STANDARD_WINDOWS)))


async def _rebuild_all(tick: Tick) -> None:
    session = tick.session
    await session.execute(delete(QueryHour))
    await session.execute(delete(QueryWindow))
    hour = utc_hour(Interaction.created_at)
    counted = (
        select(hour, query_hash(Interaction.query), Interaction.query, func.count())
        .where(Interaction.created_at >= _first_hour(tick.now))
        .group_by(hour, Interaction.query)
    )
    new = (
        insert(QueryHour)
        .from_select(list(_NAMES), counted)
        .returning(*(KEPT.hours.c[n] for n in _NAMES))
        .cte("new")
    )
    await KEPT.add(session, new, 1, tick.now, STANDARD_WINDOWS)
    await KEPT.drop_empty(session)


async def _recount_hours(tick: Tick, hours: Collection[datetime]) -> None:
    """Recompute the question counts of `hours` (UTC interaction hours) and apply the
    difference to query_windows. Only the questions whose count differs are written: a new
    interaction changes a row, not the hour's."""
    hours = sorted(h for h in hours if h >= _first_hour(tick.now))
    if not hours:
        return
    hour = utc_hour(Interaction.created_at)
    counted = (
        select(
            hour.label("hour"),
            query_hash(Interaction.query).label("query_hash"),
            Interaction.query.label("query"),
            func.count().label("count"),
        )
        .where(in_hours(Interaction.created_at, hours))
        .group_by(hour, Interaction.query)
        .subquery("counted")
    )
    stored = (
        select(*(KEPT.hours.c[n] for n in _NAMES))
        .where(QueryHour.hour.in_(hours))
        .subquery("stored")
    )
    c, st = counted.c, stored.c
    diff = (
        select(
            func.coalesce(c.hour, st.hour).label("hour"),
            func.coalesce(c.query_hash, st.query_hash).label("query_hash"),
            func.coalesce(c.query, st.query).label("query"),
            (func.coalesce(c["count"], 0) - func.coalesce(st["count"], 0)).label("count"),
            c["count"].label("now_count"),
        )
        .select_from(
            counted.outerjoin(
                stored, and_(c.hour == st.hour, c.query_hash == st.query_hash), full=True
            )
        )
        .where(c["count"].is_distinct_from(st["count"]))
        .cte("diff")
    )
    kept = insert(QueryHour).from_select(
        list(_NAMES),
        select(diff.c.hour, diff.c.query_hash, diff.c.query, diff.c.now_count).where(
            diff.c.now_count.is_not(None)
        ),
    )
    kept = kept.on_conflict_do_update(
        index_elements=["hour", "query_hash"], set_={"count": kept.excluded.count}
    )
    gone = delete(QueryHour).where(
        tuple_(QueryHour.hour, QueryHour.query_hash).in_(
            select(diff.c.hour, diff.c.query_hash).where(diff.c.now_count.is_(None))
        )
    )
    await KEPT.add(
        tick.session, diff, 1, tick.now, STANDARD_WINDOWS, kept.cte("kept"), gone.cte("gone")
    )
    await KEPT.drop_empty(tick.session)


async def _rebuild_top(tick: Tick) -> None:
    """The first TOP_QUERIES_KEPT questions of each window: counts of its whole hours
    (query_windows) plus its partial first hour (from the interactions). The cost is an
    index read and an hour of rows."""
    await tick.session.execute(delete(TopQuery))
    for days in STANDARD_WINDOWS:
        start = tick.now - timedelta(days=days)
        edge = (
            select(
                query_hash(Interaction.query).label("query_hash"),
                Interaction.query,
                func.count().label("count"),
            )
            .where(Interaction.created_at >= start, Interaction.created_at < ceil_hour(start))
            .group_by(Interaction.query)
            .cte(f"edge_{days}")
        )
        leaders = (
            select(QueryWindow.query_hash)
            .where(QueryWindow.days == days)
            .order_by(QueryWindow.count.desc(), QueryWindow.query)
            .limit(TOP_QUERIES_KEPT)
        )
        candidates = select(edge.c.query_hash).union(leaders).subquery("candidates")
        stored = KEPT.windows.alias("stored")
        query = func.coalesce(stored.c.query, edge.c.query)
        counted = func.coalesce(stored.c.count, 0) + func.coalesce(edge.c.count, 0)
        rows = (
            select(
                literal(days, SmallInteger),
                func.row_number().over(order_by=(counted.desc(), query)),
                query,
                counted,
            )
            .select_from(candidates)
            .outerjoin(
                stored,
                and_(stored.c.days == days, stored.c.query_hash == candidates.c.query_hash),
            )
            .outerjoin(edge, edge.c.query_hash == candidates.c.query_hash)
            .order_by(counted.desc(), query)
            .limit(TOP_QUERIES_KEPT)
        )
        await tick.session.execute(
            insert(TopQuery).from_select(["days", "rank", "query", "count"], rows)
        )


class Questions:
    """query_hours per touched interaction hour, query_windows with them, then the top."""

    async def rebuild(self, tick: Tick) -> None:
        await _rebuild_all(tick)
        await _rebuild_top(tick)

    async def slide(self, tick: Tick) -> None:
        """Whenever a window's first whole hour moves, with or without interactions in
        between: query_windows must stay the sum from that hour on."""
        if await KEPT.slide(tick.session, STANDARD_WINDOWS, tick.previous, tick.now):
            first = _first_hour(tick.now)
            await tick.session.execute(delete(QueryHour).where(QueryHour.hour < first))
            await KEPT.drop_empty(tick.session)

    async def apply(self, tick: Tick) -> None:
        hours = tick.changes.query_hours
        if hours or await left_windows(
            tick.session, Interaction.created_at, STANDARD_WINDOWS, tick.previous, tick.now
        ):
            await _recount_hours(tick, hours)
            await _rebuild_top(tick)
