"""The scheduled job that writes each finished week's report to FEEDBACK_REPORT_DIR.

Leader-elected like the refresher: in a tick, only the replica holding the advisory lock
looks for a missing report. A report is written once per week: the files' presence is the
record, so the directory should be shared by the replicas (a volume), and a report written
by hand is never overwritten.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.config import Settings
from feedback_api.kit.jobs import PeriodicJob, run_as_leader
from feedback_api.kit.time import Week, last_finished_week
from feedback_api.reports.render import ReportFormat, render
from feedback_api.reports.service import report_service

logger = logging.getLogger(__name__)

NAME = "weekly-report"


def report_paths(directory: Path, week: Week) -> dict[ReportFormat, Path]:
    return {fmt: directory / f"weekly-{week}.{fmt.value}" for fmt in ReportFormat}


def write_atomically(path: Path, text: str) -> None:
    """Readers (a mailer, a web server) never see half a report.

    The file gets the mode the umask allows (-rw-r--r-- under the usual 022), like the
    exports: mkstemp's 0600 would hide it from a web server or a mailer of another user.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # 64 random bits name the temporary file; O_EXCL still refuses to reuse one.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


async def write_finished_week(session: AsyncSession, directory: Path) -> list[Path]:
    """Write last week's report in every format, unless it is there already."""
    service = report_service(session)
    week = last_finished_week(await service.repo.now())
    missing = {fmt: p for fmt, p in report_paths(directory, week).items() if not p.exists()}
    if not missing:
        return []
    report = await service.weekly(week)
    for fmt, path in missing.items():
        await asyncio.to_thread(write_atomically, path, render(report, fmt))
    return list(missing.values())


def build_report_job(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> PeriodicJob:
    directory = settings.reports_path

    async def job(session: AsyncSession) -> list[Path]:
        return await write_finished_week(session, directory)

    async def tick() -> None:
        ran, written = await run_as_leader(sessionmaker, NAME, job)
        if ran and written:
            logger.info("weekly report written: %s", ", ".join(map(str, written)))

    return PeriodicJob(NAME, settings.report_check_interval_seconds, tick)
