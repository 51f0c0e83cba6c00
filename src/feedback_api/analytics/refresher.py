"""The refresher: the rollups kept from the change log, every `refresh_interval_seconds`.

Leader-elected (see kit/jobs.py): with several replicas, one refreshes per tick. No trigger
ever refreshes anything, so an insert costs the same at 10 rows and at 10 million.

`ROLLUPS` is the one ordered list of rollup families (rollup.py says what each offers): a
new rollup is a module and a line here. A family may read what those before it wrote.
"""

from __future__ import annotations

import logging
import time
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.alerts.job import evaluate_after_refresh
from feedback_api.alerts.service import AlertRules
from feedback_api.analytics.accuracy import Accuracy
from feedback_api.analytics.buckets import STANDARD_WINDOWS
from feedback_api.analytics.changes import ChangeLog
from feedback_api.analytics.daily import Daily
from feedback_api.analytics.members import Members
from feedback_api.analytics.questions import Questions
from feedback_api.analytics.reasons import Reasons
from feedback_api.analytics.rollup import Rollup, Tick
from feedback_api.analytics.schemas import RefreshResult
from feedback_api.analytics.state import Clock, RefreshStates, database_clock
from feedback_api.analytics.votes import Votes
from feedback_api.analytics.window_stats import WindowStats
from feedback_api.config import Settings
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.jobs import PeriodicJob, run_as_leader, take_lock
from feedback_api.kit.statistics import TableStatistics
from feedback_api.observability import REFRESH_DURATION
from feedback_api.review.estimated.kept import SampledAnswers

logger = logging.getLogger(__name__)

JOB_NAME = "analytics-refresh"

ROLLUPS: tuple[Rollup, ...] = (
    Daily(),  # answer_hours, daily_metrics
    Votes(),  # vote_hours, vote_windows
    Reasons(),  # reason_hours, daily_reasons
    Members(),  # member_last_casts, member_hours, member_windows
    WindowStats(),  # window_stats, from the votes' and members' windows
    Accuracy(),  # model_accuracy, from vote_hours
    Questions(),  # query_hours, query_windows, top_queries
    SampledAnswers(),  # sampled_answers (review/estimated/kept.py)
)


# The tables a full rebuild reads whole.
REBUILT_FROM = (cast(Table, Interaction.__table__), cast(Table, Feedback.__table__))


class RefreshService:
    """Recomputes what the logged changes touched, in the caller's transaction.

    An ordinary refresh takes the change log, lets every family slide its windows to the
    refresh time, then apply what the log names. A full refresh (the first one, `full=True`,
    after an upgrade, or when the kept windows changed) rebuilds every family from the
    tables; both give the same rows (tests/test_analytics_incremental.py).
    """

    def __init__(
        self,
        session: AsyncSession,
        windows: tuple[int, ...] = (),
        *,
        clock: Clock = database_clock,
        rollups: tuple[Rollup, ...] = ROLLUPS,
    ) -> None:
        self.session = session
        # The windows whose votes and members are kept: the standard ones, and those the
        # alerts compare (their recent window, and recent + baseline).
        self.windows = tuple(sorted(set(STANDARD_WINDOWS) | set(windows)))
        self.clock = clock
        self.rollups = rollups
        self.states = RefreshStates(session)

    async def refresh(self, *, full: bool = False) -> RefreshResult:
        started = time.perf_counter()
        now = await self.clock(self.session)
        state = await self.states.get()
        full = (
            full
            or state is None
            or state.full_rebuild_at is None
            or tuple(state.windows or ()) != self.windows
        )
        # Taken first: a change committed later stays logged for the next refresh, and
        # what this one recomputes from the tables includes at least every change it took.
        changes = await ChangeLog(self.session).take()
        if full or state is None:
            # A full rebuild joins whole tables: with statistics that plan for none of their
            # rows (analyzed while empty), it would read one of them once per row of another.
            await TableStatistics(self.session).refresh_stale(REBUILT_FROM)
            tick = Tick(self.session, now, self.windows)
            for rollup in self.rollups:
                await rollup.rebuild(tick)
        else:
            # A refresh that waited for this one's lock may have started earlier: windows
            # never move backwards.
            now = max(now, state.refreshed_at)
            tick = Tick(self.session, now, self.windows, state.refreshed_at, changes)
            # First every window's sums follow its start; then the recomputed hours'
            # differences apply to the windows as they are at `now`.
            for rollup in self.rollups:
                await rollup.slide(tick)
            for rollup in self.rollups:
                await rollup.apply(tick)
        duration_ms = (time.perf_counter() - started) * 1000
        await self.states.record(now, duration_ms, full, self.windows)
        return RefreshResult(as_of=now, duration_ms=round(duration_ms, 1), full=full)

    async def refresh_due(self, min_age_seconds: float) -> bool:
        state = await self.states.get()
        if state is None:
            return True
        age = await self.clock(self.session) - state.refreshed_at
        return age.total_seconds() >= min_age_seconds


def refresher(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Clock = database_clock,
) -> PeriodicJob:
    async def tick() -> None:
        async def job(session: AsyncSession) -> RefreshResult | None:
            service = refresh_service(session, settings, clock)
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


async def refresh_now(
    session: AsyncSession, settings: Settings, *, full: bool, clock: Clock = database_clock
) -> RefreshResult:
    """Refresh in the caller's transaction, waiting for a refresh under way to finish first."""
    await take_lock(session, JOB_NAME, wait=True)
    result = await refresh_service(session, settings, clock).refresh(full=full)
    await evaluate_after_refresh(session, settings)
    return result


def refresh_service(
    session: AsyncSession, settings: Settings, clock: Clock = database_clock
) -> RefreshService:
    windows = AlertRules.from_settings(settings).windows if settings.alerts_enabled else ()
    return RefreshService(session, windows, clock=clock)
