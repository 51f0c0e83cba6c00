"""The weekly export: once per ISO week, last week's datasets in FEEDBACK_EXPORT_DIR.

Leader-elected like the refresher; the (iso_week, format) unique index makes a second
writer of the same week impossible even if two replicas raced past the check.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.config import Settings
from feedback_api.exports.repository import (
    ExportRepository,
    ExportRunRepository,
    Selection,
    Shape,
    refresh_exported_statistics,
)
from feedback_api.exports.service import ExportService, iso_week_window, run_values
from feedback_api.kit.jobs import PeriodicJob, run_as_leader
from feedback_api.kit.time import last_finished_week
from feedback_api.observability import EXPORT_RUNS
from feedback_api.privacy.redaction.dependencies import load_redactor

logger = logging.getLogger(__name__)


async def export_week(
    session: AsyncSession,
    settings: Settings,
    fmt: str,
    week: str,
    before: Callable[[], Awaitable[object]] | None = None,
) -> bool:
    """Write `week`'s dataset in `fmt` unless it was written already; True if written.
    `before`: run once the week is found due, before the export reads anything."""
    repository = ExportRepository(session)
    if await repository.scheduled_run_exists(week, fmt):
        return False
    if before is not None:
        await before()
    since, until = iso_week_window(week)
    shape = Shape(
        format=fmt,  # type: ignore[arg-type]
        positive_weight=settings.export_positive_weight,
        negative_weight=settings.export_negative_weight,
        label_source=settings.export_label_source,
    )
    path = settings.exports_path / f"feedback-{week}-{fmt}.jsonl"
    # FEEDBACK_EXPORT_REDACT=false is the operator's choice (whoever sets the server's
    # environment holds every key); each run and manifest records it.
    redactor = await load_redactor(settings.redaction) if settings.export_redact else None
    service = ExportService(repository, redactor)
    written = await service.write(Selection(since, until), shape, path)
    await ExportRunRepository(session).record_run(
        run_values(written, trigger="schedule", iso_week=week)
    )
    EXPORT_RUNS.labels(fmt).inc()
    logger.info(
        "weekly export %s %s: %d examples (%s)",
        week,
        fmt,
        written.files[0].examples,
        "redacted" if redactor else "NOT redacted: FEEDBACK_EXPORT_REDACT=false",
    )
    return True


def weekly_export(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> PeriodicJob:
    async def tick() -> None:
        week = str(last_finished_week(datetime.now(UTC)))

        refreshed = False

        async def fresh_statistics() -> None:
            # Once a tick, whatever the number of formats due (decision 029).
            nonlocal refreshed
            if not refreshed:
                refreshed = True
                await refresh_exported_statistics(sessionmaker)

        for fmt in settings.export_formats:

            async def job(session: AsyncSession, fmt: str = fmt) -> bool:
                return await export_week(session, settings, fmt, week, fresh_statistics)

            await run_as_leader(sessionmaker, f"weekly-export:{fmt}", job)

    return PeriodicJob("weekly-export", settings.export_check_interval_seconds, tick)
