"""Every way to export first brings up to date the statistics that plan for none of a
table's rows (a table analyzed while empty, then filled): with them, an export's joins may
read a table once per row of another (decision 029)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from typer.testing import CliRunner

from feedback_api.cli.commands import app as cli
from feedback_api.config import Settings
from feedback_api.exports.job import weekly_export
from feedback_api.exports.repository import EXPORTED_FROM
from feedback_api.kit.db import create_engine, create_sessionmaker
from feedback_api.kit.statistics import refresh_stale_apart
from tests.helpers import plan_for_no_rows, planned_rows, write_exchanges

ROWS = 2_000  # more than kit.statistics.PLANNED_FEW: enough to be analyzed
FINETUNING = {"days": 2, "format": "kto", "label_source": "both", "redact": False}


@pytest.fixture
async def stale(no_autovacuum: None, engine: AsyncEngine) -> None:
    """ROWS exchanges with a vote each, in tables whose statistics say they are empty."""
    await plan_for_no_rows(engine)
    await write_exchanges(engine, "new-", ROWS)


# The lines or rows written; None where that depends on the hour (the weekly job's file).
Export = Callable[[httpx.AsyncClient, AsyncEngine, Settings, Path], Awaitable[int | None]]


async def _finetuning(client: httpx.AsyncClient, *_: object) -> int:
    r = await client.post("/v1/feedback/export/finetuning", json=FINETUNING)
    assert r.status_code == 200, r.text
    return len(r.text.splitlines())


async def _summary(client: httpx.AsyncClient, *_: object) -> int:
    r = await client.post("/v1/feedback/export/finetuning/summary", json=FINETUNING)
    assert r.status_code == 200, r.text
    return int(r.json()["examples"])


async def _interactions(client: httpx.AsyncClient, *_: object) -> int:
    params = {"days": 2, "format": "jsonl", "redact": "false"}
    r = await client.get("/v1/exports/interactions", params=params)
    assert r.status_code == 200, r.text
    return len(r.text.splitlines())


def _lines(*paths: Path) -> list[int]:
    return [len(path.read_text().splitlines()) for path in paths]


def _weekly_lines(where: Path) -> list[int]:
    return _lines(*where.glob("feedback-*-kto.jsonl"))


async def _cli(args: list[str], written: Path) -> int:
    # The CLI runs its own event loop: a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--output", str(written)])
    assert result.exit_code == 0, result.output
    (lines,) = _lines(written)
    return lines


async def _cli_finetuning(_: object, __: object, ___: object, where: Path) -> int:
    args = ["export", "finetuning", "--days", "2", "--format", "kto", "--no-redact"]
    return await _cli(args, where / "kto.jsonl")


async def _cli_interactions(_: object, __: object, ___: object, where: Path) -> int:
    args = ["export", "interactions", "--days", "2", "--format", "jsonl", "--no-redact"]
    return await _cli(args, where / "interactions.jsonl")


async def _weekly_job(
    _: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, where: Path
) -> None:
    configured = settings.model_copy(
        update={"export_dir": where, "export_formats": ["kto"], "export_redact": False}
    )
    await weekly_export(async_sessionmaker(engine), configured).tick()
    # Last week's file: which of the last 20 hours' exchanges it holds depends on the hour.
    (lines,) = _weekly_lines(where)  # the file was written
    assert lines <= ROWS


@pytest.mark.usefixtures("stale", "cli_env")
@pytest.mark.parametrize(
    "export",
    [_finetuning, _summary, _interactions, _cli_finetuning, _cli_interactions, _weekly_job],
    ids=lambda export: export.__name__.strip("_"),
)
async def test_an_export_analyzes_tables_whose_statistics_plan_for_none_of_their_rows(
    export: Export,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
) -> None:
    # One example or offline row per vote: each exchange has one vote and its own answer.
    written = await export(client, engine, settings, tmp_path)
    assert written in (ROWS, None)
    for table in ("interactions", "feedback"):
        assert await planned_rows(engine, table) == ROWS, table


@pytest.mark.usefixtures("no_autovacuum")
async def test_an_export_leaves_statistics_that_fit_alone(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await plan_for_no_rows(engine)
    await write_exchanges(engine, "few-", 50)  # too few to matter
    r = await client.post("/v1/feedback/export/finetuning", json=FINETUNING)
    assert r.status_code == 200, r.text
    assert len(r.text.splitlines()) == 50
    assert await planned_rows(engine, "interactions") == 0


@pytest.mark.usefixtures("stale")
async def test_the_check_does_not_wait_for_a_locked_table(engine: AsyncEngine) -> None:
    async with engine.begin() as locker:
        await locker.execute(text("LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE"))
        # Its size cannot be read meanwhile: not checked, and the export waits (where a
        # client that leaves cancels it: test_streaming.py); the other tables are.
        analyzed = await refresh_stale_apart(async_sessionmaker(engine), EXPORTED_FROM)
        assert analyzed == ["interactions"]
    assert await refresh_stale_apart(async_sessionmaker(engine), EXPORTED_FROM) == ["feedback"]
    for table in ("interactions", "feedback"):
        assert await planned_rows(engine, table) == ROWS, table


async def test_a_primary_that_cannot_be_reached_leaves_the_check_to_the_reader(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # The export may read a replica: the planner's aid failing on the primary is no reason
    # to refuse it (the reader answers 503 itself if it cannot read either).
    dead = create_engine(settings, "postgresql+asyncpg://nobody:x@127.0.0.1:1/none")
    try:
        assert await refresh_stale_apart(create_sessionmaker(dead), EXPORTED_FROM) == []
    finally:
        await dead.dispose()
    assert "the primary did not answer" in caplog.text


@pytest.mark.usefixtures("stale")
async def test_a_refused_export_checks_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    bad_body = await client.post("/v1/feedback/export/finetuning", json={"days": 0})
    bad_query = await client.get("/v1/exports/interactions", params={"days": 0})
    bad_format = await client.get("/v1/exports/interactions", params={"format": "xls"})
    assert {r.status_code for r in (bad_body, bad_query, bad_format)} == {422}
    # Not analyzed: a refused request costs the primary nothing.
    assert await planned_rows(engine, "interactions") == 0
