"""The scheduled weekly report: off by default, leader-elected, one write per finished week."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.app import build_jobs
from feedback_api.config import Settings
from feedback_api.kit.db import create_engine, create_sessionmaker
from feedback_api.kit.jobs import run_as_leader
from feedback_api.kit.time import last_finished_week
from feedback_api.reports.job import NAME, report_paths, write_atomically, write_finished_week


async def test_writes_last_week_once(
    rolled_back: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    sessionmaker = rolled_back
    week = last_finished_week(datetime.now(UTC))
    paths = report_paths(tmp_path, week)
    paths[next(iter(paths))].write_text("kept")  # one written by hand stays as it is

    ran, written = await run_as_leader(
        sessionmaker, NAME, lambda s: write_finished_week(s, tmp_path)
    )
    assert ran and written is not None
    assert sorted(p.name for p in written) == sorted(p.name for p in list(paths.values())[1:])
    assert paths[next(iter(paths))].read_text() == "kept"
    for path in written:
        assert path.read_text().strip()
    assert not list(tmp_path.glob(".*.tmp"))  # noqa: ASYNC240 (no half-written leftovers)

    async with sessionmaker() as session:
        assert await write_finished_week(session, tmp_path) == []


async def test_scheduled_job_runs_only_when_enabled(
    make_client: Callable[..., Any], settings: Settings, tmp_path: Path
) -> None:
    sessionmaker = create_sessionmaker(create_engine(settings))  # wired up, never connected
    assert "weekly-report" not in [job.name for job in build_jobs(settings, sessionmaker)]

    async with make_client(report_schedule_enabled=True, report_dir=tmp_path) as client:
        assert isinstance(client, httpx.AsyncClient)
        week = last_finished_week(datetime.now(UTC))
        target = tmp_path / f"weekly-{week}.json"
        # The job writes the formats one after another: wait for the last of them.
        paths = [tmp_path / f"weekly-{week}.{ext}" for ext in ("json", "html", "md")]
        for _ in range(100):
            if all(path.exists() for path in paths):
                break
            await asyncio.sleep(0.1)
        assert json.loads(target.read_text())["week"] == str(week)
        assert (tmp_path / f"weekly-{week}.html").exists()
        assert (tmp_path / f"weekly-{week}.md").exists()


def test_report_dir_defaults_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.report_schedule_enabled is False
    assert settings.reports_path == tmp_path / "reports"


def test_written_files_honour_the_umask(tmp_path: Path) -> None:
    # Like the exports: a mailer or a web server of another user may read the report.
    for umask, mode in ((0o022, 0o644), (0o027, 0o640), (0o077, 0o600)):
        previous = os.umask(umask)
        try:
            target = tmp_path / f"report-{umask:o}.html"
            write_atomically(target, "<p>week</p>")
        finally:
            os.umask(previous)
        assert stat.S_IMODE(target.stat().st_mode) == mode, oct(target.stat().st_mode)
        assert target.read_text() == "<p>week</p>"
    assert not list(tmp_path.glob(".*.tmp"))
