"""The rules job: every refresh interval, the leader applies the sample rules and the
triggers to what was logged and voted since its last pass (never in the vote path)."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.config import Settings
from feedback_api.kit.jobs import PeriodicJob, run_as_leader, take_lock
from feedback_api.review.rules import RuleRepository

logger = logging.getLogger(__name__)

JOB_NAME = "review-rules"
# A backfill over millions of answers may take longer than a request may.
APPLY_TIMEOUT = "600s"


async def apply_rules(session: AsyncSession) -> int:
    """Apply the rules in the caller's transaction, after a pass under way elsewhere; the
    number of answers queued."""
    await take_lock(session, JOB_NAME, wait=True)
    return await _apply(session)


async def _apply(session: AsyncSession) -> int:
    await session.execute(select(func.set_config("statement_timeout", APPLY_TIMEOUT, True)))
    return await RuleRepository(session).apply()


def review_rules(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> PeriodicJob:
    async def tick() -> None:
        ran, added = await run_as_leader(sessionmaker, JOB_NAME, _apply)
        if ran and added:
            logger.info("review rules queued %d answers", added)

    return PeriodicJob(JOB_NAME, settings.refresh_interval_seconds, tick, max_duty=0.2)
