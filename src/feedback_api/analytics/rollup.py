"""What every rollup family offers the refresher, and what a tick hands it.

A rollup family (a module: daily.py, votes.py, ...) keeps some tables from the raw ones with
three operations: `rebuild` them from the tables, `slide` its kept windows to the tick's
time (nothing happened, only time passed), and `apply` what the change log names. The
refresher runs them in the order of `refresher.ROLLUPS`: a family may read what the ones
before it wrote in the same tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.changes import Changes


@dataclass(frozen=True)
class Tick:
    """One refresh: its transaction, its time, the windows it keeps and what changed.

    `since` is the previous refresh's time (None on a full rebuild): the windows' starts
    moved from `since - days` to `now - days`.
    """

    session: AsyncSession
    now: datetime
    windows: tuple[int, ...]
    since: datetime | None = None
    changes: Changes = field(default_factory=Changes)

    @property
    def previous(self) -> datetime:
        assert self.since is not None, "only an ordinary tick has a previous refresh"
        return self.since


class Rollup(Protocol):
    """A rollup family: its tables kept from the raw ones by three operations."""

    async def rebuild(self, tick: Tick) -> None:
        """Rebuild every row from the tables (a full refresh)."""

    async def slide(self, tick: Tick) -> None:
        """Follow the windows' starts from `tick.since` to `tick.now`; runs before any
        family's `apply`, so that recomputed hours apply to the windows as they are now."""

    async def apply(self, tick: Tick) -> None:
        """Recompute what `tick.changes` names."""
