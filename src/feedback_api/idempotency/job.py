from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.idempotency.repository import forget_older_than
from feedback_api.kit.jobs import PeriodicJob, run_as_leader


def idempotency_cleanup(
    sessionmaker: async_sessionmaker[AsyncSession], ttl_hours: int
) -> PeriodicJob:
    """Hourly: forget keys older than FEEDBACK_IDEMPOTENCY_TTL_HOURS (leader-elected)."""

    async def tick() -> None:
        await run_as_leader(
            sessionmaker, "idempotency-cleanup", lambda s: forget_older_than(s, ttl_hours)
        )

    return PeriodicJob("idempotency-cleanup", 3600, tick)
