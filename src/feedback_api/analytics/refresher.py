"""The background refresher: analytics rollups every `refresh_interval_seconds`.

Leader-elected (see kit/jobs.py): with several replicas, one refreshes per tick. No trigger
ever refreshes anything, so an insert costs the same at 10 rows and at 10 million.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.alerts.job import evaluate_after_refresh
from feedback_api.alerts.service import AlertRules
from feedback_api.analytics.repository import AnalyticsRepository, RollupRepository
from feedback_api.analytics.schemas import RefreshResult
from feedback_api.analytics.service import RefreshService
from feedback_api.config import Settings
from feedback_api.kit.jobs import PeriodicJob, run_as_leader, take_lock
from feedback_api.observability import REFRESH_DURATION

logger = logging.getLogger(__name__)

JOB_NAME = "analytics-refresh"


def refresher(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> PeriodicJob:
    async def tick() -> None:
        async def job(session: AsyncSession) -> RefreshResult | None:
            service = refresh_service(session, settings)
            # A replica that just started, or one whose clock ticks right after another's,
            # leaves alone figures that are still fresh.
            if not await service.refresh_due(settings.refresh_interval_seconds * 0.9):
                return None
            result = await service.refresh()
            # In the same leader transaction: alerts see the figures this refresh commits.
            await evaluate_after_refresh(session, settings)
            return result

        ran, result = await run_as_leader(sessionmaker, JOB_NAME, job)
        if ran and result is not None:
            REFRESH_DURATION.observe(result.duration_ms / 1000)
            logger.info("analytics refreshed in %.0f ms (full=%s)", result.duration_ms, result.full)

    # At most a fifth of the time refreshing, however long a refresh takes on large tables.
    return PeriodicJob(JOB_NAME, settings.refresh_interval_seconds, tick, max_duty=0.2)


async def refresh_now(session: AsyncSession, settings: Settings, *, full: bool) -> RefreshResult:
    """Refresh in the caller's transaction, waiting for a refresh under way to finish first."""
    await take_lock(session, JOB_NAME, wait=True)
    result = await refresh_service(session, settings).refresh(full=full)
    await evaluate_after_refresh(session, settings)
    return result


def refresh_service(session: AsyncSession, settings: Settings) -> RefreshService:
    windows = AlertRules.from_settings(settings).windows if settings.alerts_enabled else ()
    return RefreshService(RollupRepository(session, windows), AnalyticsRepository(session))
