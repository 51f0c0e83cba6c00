"""The refresher runs its one ordered list of rollup families, at the time its clock says."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from feedback_api.analytics.refresher import ROLLUPS, RefreshService
from feedback_api.analytics.rollup import Tick
from feedback_api.analytics.state import database_clock


class Recorder:
    """A rollup family that keeps no table: it records what the refresher asked of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime, datetime | None]] = []

    async def rebuild(self, tick: Tick) -> None:
        self.calls.append(("rebuild", tick.now, tick.since))

    async def slide(self, tick: Tick) -> None:
        self.calls.append(("slide", tick.now, tick.since))

    async def apply(self, tick: Tick) -> None:
        self.calls.append(("apply", tick.now, tick.since))


async def test_a_rollup_is_one_more_entry_and_runs_at_the_clocks_time(engine: AsyncEngine) -> None:
    recorder = Recorder()
    ahead = timedelta(hours=2)

    async def clock(session: AsyncSession) -> datetime:
        return await database_clock(session) + ahead

    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    results = []
    for _ in range(2):  # the first refresh is a full one, the second an ordinary tick
        async with sessionmaker() as session, session.begin():
            service = RefreshService(session, clock=clock, rollups=(*ROLLUPS, recorder))
            results.append(await service.refresh())
        ahead += timedelta(hours=1)
    first, second = results
    assert (first.full, second.full) == (True, False)
    assert recorder.calls == [
        ("rebuild", first.as_of, None),
        ("slide", second.as_of, first.as_of),
        ("apply", second.as_of, first.as_of),
    ]
    assert second.as_of - first.as_of > timedelta(minutes=59)  # the clock's, not the wall's
