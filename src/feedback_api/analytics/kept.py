"""Hour buckets plus kept window sums: the one mechanism behind every sliding window.

A family keeps counts per UTC hour and key (`hours`), and per kept window and key the sums
of those hours over the window's whole hours (`windows`). A window ending at the refresh
time T starts at S = T - days, usually inside an hour; its figures are its row of `windows`
plus the rows of its partial first hour [S, next whole hour), read from the tables.

Three operations keep `windows` equal to those sums, whatever happens:

* the signed upsert (`add`): each statement that changes hour rows applies the same
  difference (old rows with -1, new ones with +1) to the windows whose whole hours hold
  them, in that same statement;
* the slide (`slide`): each tick first takes out of each window the whole hours its start
  has passed since the last tick (nothing, unless a start crossed an hour);
* the left-window probe (`left_windows`): one index probe per window tells whether a row
  left a window between two ticks, so a tick with no writes skips what did not change.

Votes (vote_hours), voters and sessions (member_hours) and questions (query_hours) use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Insert,
    SmallInteger,
    Table,
    and_,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.buckets import ceil_hour, window_values
from feedback_api.kit.db import AnySelect


def _signed_sum(column: Any, sign: int, type_: Any) -> Any:
    """sign x sum(column), of the window column's type (a sum of bigints is a numeric)."""
    total = cast(func.sum(column), type_)
    return total if sign == 1 else total * sign


@dataclass(frozen=True)
class KeptWindows:
    """A family's hour buckets (`hours`: hour, key, carried, measures) and window sums
    (`windows`: days, key, carried, measures; unique on days and key)."""

    hours: Table
    windows: Table
    key: tuple[str, ...]
    measures: tuple[str, ...]
    # Columns that follow the key (the question's text): kept as they are, not summed.
    carried: tuple[str, ...] = ()
    # The measure that is zero exactly when a window's row sums nothing (dropped then).
    empty: str | None = None

    def _type(self, measure: str) -> Any:
        return self.windows.c[measure].type

    @property
    def columns(self) -> list[str]:
        """The windows' columns a sum fills, in order."""
        return ["days", *self.key, *self.carried, *self.measures]

    def in_windows(self, rows: Any, sign: int, now: datetime, windows: Sequence[int]) -> AnySelect:
        """sign x the sums of `rows` (hour rows: a CTE or subquery with the hour, the key,
        the carried columns and the measures) per window whose whole hours hold them."""
        w = window_values(now, windows)
        key = [rows.c[k] for k in self.key]
        return (
            select(
                w.c.days,
                *key,
                *(func.min(rows.c[c]) for c in self.carried),
                *(_signed_sum(rows.c[m], sign, self._type(m)) for m in self.measures),
            )
            .join_from(rows, w, rows.c.hour >= w.c.whole)
            .group_by(w.c.days, *key)
        )

    def upsert(self, summed: AnySelect) -> Insert:
        """windows += `summed` (rows of `columns`)."""
        table = self.windows
        stmt = insert(table).from_select(self.columns, summed)
        return stmt.on_conflict_do_update(
            index_elements=["days", *self.key],
            set_={m: table.c[m] + stmt.excluded[m] for m in self.measures},
        )

    async def add(
        self,
        session: AsyncSession,
        rows: Any,
        sign: int,
        now: datetime,
        windows: Sequence[int],
        *ctes: Any,
    ) -> None:
        """windows += sign x `rows` in one statement, with `ctes` (the change of the hour
        rows that `rows` returns, when it is not `rows` itself)."""
        stmt = self.upsert(self.in_windows(rows, sign, now, windows)).add_cte(*ctes)
        await session.execute(stmt)

    async def slide(
        self, session: AsyncSession, windows: Sequence[int], since: datetime, now: datetime
    ) -> bool:
        """Take out of each window the whole hours it no longer covers: its first whole
        hour moved from that of the refresh at `since` to that of `now`. Whether any moved."""
        h = self.hours
        key = [h.c[k] for k in self.key]
        moved = False
        for days in windows:
            old, new = (ceil_hour(t - timedelta(days=days)) for t in (since, now))
            if new <= old:
                continue
            moved = True
            passed = (
                select(
                    literal(days, SmallInteger),
                    *key,
                    *(func.min(h.c[c]) for c in self.carried),
                    *(_signed_sum(h.c[m], -1, self._type(m)) for m in self.measures),
                )
                .where(h.c.hour >= old, h.c.hour < new)
                .group_by(*key)
            )
            await session.execute(self.upsert(passed))
        return moved

    async def drop_empty(self, session: AsyncSession) -> None:
        if self.empty is not None:
            await session.execute(delete(self.windows).where(self.windows.c[self.empty] == 0))


async def left_windows(
    session: AsyncSession, ts: Any, windows: Sequence[int], since: datetime, now: datetime
) -> bool:
    """Whether a row's `ts` lies between the windows' starts at `since` and at `now`: it has
    left a window since the refresh at `since`. One index probe per window."""
    ranges = [and_(ts >= since - timedelta(days=d), ts < now - timedelta(days=d)) for d in windows]
    return bool(await session.scalar(select(or_(*(exists().where(r) for r in ranges)))))
