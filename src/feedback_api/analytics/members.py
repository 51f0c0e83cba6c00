"""The members family: unique voters and sessions, exact over any kept window.

A member (a voter, kind 0, or a session, kind 1) is in a window starting at S if and only
if its last cast in that cell is at or after S. `member_last_casts` keeps each member's last
cast per CUBE cell; `member_hours` counts the members per hour of their last cast, and
`member_windows` sums those hours over each kept window's whole hours (kept.py). A window's
unique count is its `member_windows` row plus the members whose last cast lies in its
partial first hour (window_stats.py). No sketch, no approximation: the count of a set.
"""

from __future__ import annotations

import typing
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    SmallInteger,
    Table,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert

from feedback_api.analytics.buckets import cube, grouping, utc_hour
from feedback_api.analytics.changes import SESSION, USER, CastKey
from feedback_api.analytics.kept import KeptWindows
from feedback_api.analytics.models import MemberHour, MemberLastCast, MemberWindow
from feedback_api.analytics.rollup import Tick
from feedback_api.analytics.votes import votes_joined
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import AnySelect
from feedback_api.kit.recordset import json_recordset

CELL = ("kind", "grouping", "model", "intent", "project")
# Tables, not ORM classes, where a statement takes parameters (an ORM insert with
# parameters is a bulk insert) or returns rows to another statement.
_MEMBERS = typing.cast(Table, MemberLastCast.__table__)
KEPT = KeptWindows(
    hours=typing.cast(Table, MemberHour.__table__),
    windows=typing.cast(Table, MemberWindow.__table__),
    key=CELL,
    measures=("count",),
)


async def _count_members(tick: Tick, rows: Any, sign: int) -> None:
    """member_hours += sign for each row of `rows` (a CTE with the cell columns and
    last_at), at the hour of its last cast: in the statement that changes member_last_casts
    when `rows` is that change."""
    cell = [rows.c[n] for n in CELL]
    hour = utc_hour(rows.c.last_at)
    summed = select(
        *cell, hour.label("hour"), (cast(func.count(), BigInteger) * sign).label("count")
    ).group_by(*cell, hour)
    await _move_members(tick, summed)


async def _move_members(tick: Tick, summed: AnySelect, params: Any = None) -> None:
    """member_hours += `summed` (the cell columns, hour, count), and member_windows += the
    same counts in each window whose whole hours hold them: one statement."""
    counted = summed.cte("counted")
    windows = KEPT.upsert(KEPT.in_windows(counted, 1, tick.now, tick.windows)).cte("windows")
    table = KEPT.hours
    stmt = insert(table).from_select([*CELL, "hour", "count"], select(*counted.c))
    stmt = stmt.on_conflict_do_update(
        index_elements=[*CELL, "hour"], set_={"count": table.c.count + stmt.excluded.count}
    ).add_cte(windows)
    await tick.session.execute(stmt, params)


async def _recompute(tick: Tick, members: Collection[tuple[int, str]] | None) -> None:
    """Recompute the last cast times of `members` ((kind, member)) from their votes, or of
    everyone."""
    table = _MEMBERS
    returned = [table.c[n] for n in (*CELL, "last_at")]
    for kind, member_column in ((USER, Feedback.user_id), (SESSION, Interaction.session_id)):
        where = [member_column.is_not(None)]
        if members is not None:
            names = sorted(name for k, name in members if k == kind)
            if not names:
                continue
            gone = (
                delete(table)
                .where(table.c.kind == kind, table.c.member.in_(names))
                .returning(*returned)
                .cte("gone")
            )
            await _count_members(tick, gone, -1)
            where.append(member_column.in_(names))
        rows = (
            votes_joined()
            .add_columns(
                literal(kind, SmallInteger),
                member_column,
                grouping(),
                Interaction.model,
                Interaction.intent,
                Interaction.project,
                func.max(Feedback.created_at),
            )
            .where(*where)
            .group_by(member_column, cube())
        )
        new = (
            insert(table)
            .from_select(
                ["kind", "member", "grouping", "model", "intent", "project", "last_at"], rows
            )
            .returning(*returned)
            .cte("new")
        )
        await _count_members(tick, new, 1)


async def _advance(
    tick: Tick, casts: dict[CastKey, datetime], skip: Collection[tuple[int, str]]
) -> None:
    """Move last cast times forward for new votes (a max only grows with new votes; a
    replaced vote keeps its cast time). Members in `skip` were recomputed."""
    cells: dict[tuple[int, str, int, str | None, str | None, str | None], datetime] = {}
    for (kind, member, model, intent, project), at in casts.items():
        if (kind, member) in skip:
            continue
        for g in range(8):  # every CUBE cell the vote counts in
            key = (
                kind, member, g, None if g & 4 else model, None if g & 2 else intent,
                None if g & 1 else project,
            )  # fmt: skip
            known = cells.get(key)
            cells[key] = at if known is None else max(known, at)
    if not cells:
        return
    names = ("kind", "member", "grouping", "model", "intent", "project", "last_at")
    rows = json_recordset("casts", [_MEMBERS.c[n] for n in names])
    params = {
        "casts": [
            {**dict(zip(names[:-1], key, strict=True)), "last_at": at.isoformat()}
            for key, at in sorted(cells.items(), key=lambda item: str(item[0]))
        ]
    }
    table = _MEMBERS
    # One statement: the upsert, which keeps in prev_at the last cast it replaced (the
    # stored row as the statement found it; NULL for a new row), and the hour counts it
    # moves (a moved last cast leaves its old hour and joins its new one). No separate
    # read of the stored rows: the upsert's own lookup finds them.
    upsert = insert(table).from_select(list(names), select(*(rows.c[n] for n in names)))
    upsert = upsert.on_conflict_do_update(
        index_elements=["kind", "member", "cell"],
        set_={
            "last_at": func.greatest(table.c.last_at, upsert.excluded.last_at),
            "prev_at": table.c.last_at,
        },
    )
    done = upsert.returning(*(table.c[n] for n in (*CELL, "last_at", "prev_at"))).cte("done")
    cell = [done.c[n] for n in CELL]
    moved = union_all(
        select(*cell, utc_hour(done.c.prev_at).label("hour"), literal(-1).label("n")).where(
            done.c.prev_at < done.c.last_at
        ),
        select(*cell, utc_hour(done.c.last_at), literal(1)).where(
            or_(done.c.prev_at.is_(None), done.c.prev_at < done.c.last_at)
        ),
    ).subquery("moved")
    moved_cell = [moved.c[n] for n in CELL]
    summed = select(
        *moved_cell, moved.c.hour, cast(func.sum(moved.c.n), BigInteger).label("count")
    ).group_by(*moved_cell, moved.c.hour)
    await _move_members(tick, summed, params)


class Members:
    """member_last_casts moved forward by new votes, recomputed after a removal; the hour
    counts and window sums follow in the same statements."""

    async def rebuild(self, tick: Tick) -> None:
        for table in (MemberHour, MemberWindow, MemberLastCast):
            await tick.session.execute(delete(table))
        await _recompute(tick, None)

    async def slide(self, tick: Tick) -> None:
        await KEPT.slide(tick.session, tick.windows, tick.previous, tick.now)

    async def apply(self, tick: Tick) -> None:
        removed = tick.changes.removed_members
        if removed:
            await _recompute(tick, removed)
        await _advance(tick, tick.changes.cast, removed)
