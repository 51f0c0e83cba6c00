"""When the rollups were last refreshed (the `as_of` of every analytics answer), and the
clock a refresh takes its time from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.models import RefreshState
from feedback_api.kit.db import ReadSession

# A refresh's clock: the time its windows end at, given its transaction.
Clock = Callable[[AsyncSession], Awaitable[datetime]]


async def transaction_time(session: ReadSession) -> datetime:
    value: datetime | None = await session.scalar(select(func.now()))
    assert value is not None
    return value


async def database_clock(session: AsyncSession) -> datetime:
    """The database's clock: the transaction's start, the same on every replica."""
    return await transaction_time(session)


class RefreshStates:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self) -> RefreshState | None:
        return await self.session.get(RefreshState, 1, populate_existing=True)

    async def record(
        self, as_of: datetime, duration_ms: float, full: bool, windows: Sequence[int]
    ) -> None:
        values_: dict[str, Any] = {"refreshed_at": as_of, "duration_ms": duration_ms}
        if full:
            values_ |= {"full_rebuild_at": as_of, "windows": list(windows)}
        stmt = insert(RefreshState).values(id=1, **values_)
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values_))
