"""Leader-elected periodic jobs for the app's lifespan (refresher, weekly exports, reports).

Several API replicas may run against one database. A job runs in a tick only in the replica
whose transaction holds its PostgreSQL advisory lock, so a tick does the work once, and the
lock is released by the database itself if that replica dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)

T = TypeVar("T")


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def take_lock(session: AsyncSession, name: str, *, wait: bool) -> bool:
    """Take the job's transaction-scoped advisory lock; without `wait`, only if it is free."""
    if wait:
        await session.execute(select(func.pg_advisory_xact_lock(lock_key(name))))
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(lock_key(name)))))


async def run_as_leader(
    sessionmaker: async_sessionmaker[AsyncSession],
    name: str,
    job: Callable[[AsyncSession], Awaitable[T]],
) -> tuple[bool, T | None]:
    """Run `job` in one transaction if this process wins the lock; (ran, result).

    `pg_try_advisory_xact_lock` never waits: a replica that loses simply skips the tick.
    The job's writes commit with the transaction that held the lock.
    """
    async with sessionmaker() as session, session.begin():
        if not await take_lock(session, name, wait=False):
            return False, None
        return True, await job(session)


class PeriodicJob:
    """Calls `tick` every `interval` seconds until stopped; a failing tick is logged, not fatal.

    With `max_duty` set, the pause after a tick is at least (1 / max_duty - 1) times what the
    tick took: a refresh that grows slow with the tables never takes more than that share of
    the machine from the requests it shares it with.
    """

    def __init__(
        self,
        name: str,
        interval: float,
        tick: Callable[[], Awaitable[object]],
        *,
        max_duty: float | None = None,
    ) -> None:
        self.name = name
        self.interval = interval
        self.tick = tick
        self.max_duty = max_duty
        self._task: asyncio.Task[None] | None = None

    def pause_after(self, took: float) -> float:
        """The pause after a tick that took `took` seconds."""
        if self.max_duty:
            return max(self.interval, took * (1 / self.max_duty - 1))
        return self.interval

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"job:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be down or a refresh slow; the next tick tries again.
                logger.exception(
                    "periodic job %s failed; retrying in %.0fs", self.name, self.interval
                )
            await asyncio.sleep(self.pause_after(time.monotonic() - started))
