"""Exports at size: streamed from the first vote, never cut silently, named by one rule,
written with ordinary JSON separators, files renamed into place only when whole."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from feedback_api.app import create_app
from feedback_api.cli.commands import app as cli
from feedback_api.config import Settings
from feedback_api.exports.service import StagedFiles
from feedback_api.kit.time import iso_week_of
from tests.helpers import exchange
from tests.live_server import LiveServer

# Exchanges, each with one vote, written by PostgreSQL itself (a few seconds for thousands).
_FILL = text(
    """
WITH i AS (
  INSERT INTO interactions (id, request_id, query, response, model, intent, created_at)
  SELECT gen_random_uuid(), 'bulk-' || g, 'question ' || g, 'answer ' || g, 'm1', 'code',
         now() - interval '1 hour'
  FROM generate_series(1, :rows) AS g RETURNING id, created_at)
INSERT INTO feedback (id, interaction_id, is_helpful, user_id, created_at)
SELECT gen_random_uuid(), id, random() < 0.7, 'user', created_at FROM i
"""
)


async def fill(engine: AsyncEngine, rows: int) -> None:
    """`rows` exchanges with a vote each, in one statement. The connection's cached plans are
    dropped first: its foreign-key check (each vote's exchange looked up) may have been
    planned by an earlier test when `interactions` held a few rows, as a sequential scan,
    and PostgreSQL would run that scan once per vote of the fill (minutes at 100,000)."""
    async with engine.begin() as conn:
        await conn.execute(text("DISCARD PLANS"))
        await conn.execute(_FILL, {"rows": rows})


@pytest.fixture
def served(database_url: str) -> Iterator[LiveServer]:
    settings = Settings(database_url=database_url, refresh_enabled=False, _env_file=None)  # type: ignore[call-arg]
    with LiveServer(create_app(settings)) as server:
        yield server


async def _cut_the_export(engine: AsyncEngine) -> int:
    """End the database connection that streams the export (the server's one connection in
    a transaction), as a failing database server would."""
    async with engine.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'feedback-api' AND state <> 'idle' "
                "AND pid <> pg_backend_pid()"
            )
        )
    return int(killed or 0)


@pytest.mark.slow  # 100,000 votes written, then the database ends the export's connection
async def test_an_export_cut_after_its_first_line_reaches_the_client_as_an_error(
    served: LiveServer, engine: AsyncEngine
) -> None:
    await fill(engine, 100_000)
    received = b""
    async with (
        httpx.AsyncClient(base_url=served.url, timeout=60) as client,
        client.stream("POST", "/v1/feedback/export/finetuning", json={"days": 1}) as response,
    ):
        assert response.status_code == 200
        chunks = response.aiter_raw()
        received += await anext(chunks)
        assert received.count(b"\n") >= 1
        assert await _cut_the_export(engine) == 1
        # The server aborts the response: no last chunk, so the client knows it is cut.
        with pytest.raises(httpx.RemoteProtocolError):
            async for chunk in chunks:
                received += chunk
    assert 0 < received.count(b"\n") < 100_000  # cut: not every example arrived


async def test_a_whole_export_streams_every_line(served: LiveServer, engine: AsyncEngine) -> None:
    await fill(engine, 3_000)
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as client:
        r = await client.post("/v1/feedback/export/finetuning", json={"days": 1, "format": "kto"})
    lines = r.text.splitlines()
    assert len(lines) == 3_000 and all(json.loads(line)["prompt"] for line in lines)


async def test_exports_and_jobs_have_their_own_statement_limits(
    make_client: Any, engine: AsyncEngine
) -> None:
    limits = {"statement_timeout_seconds": 2, "export_statement_timeout_seconds": 0}
    async with make_client(**limits) as client:
        async with client.state["stream_sessionmaker"]() as session:
            assert await session.scalar(text("SHOW statement_timeout")) == "0"
        async with client.state["sessionmaker"]() as session:
            assert await session.scalar(text("SHOW statement_timeout")) == "2s"


async def test_json_lines_use_the_ordinary_separators(client: httpx.AsyncClient) -> None:
    items = [{**exchange(request_id="sep", query="q", response="a"), "rating": 1}]
    assert (await client.post("/v1/feedback/batch", json={"items": items})).status_code == 200
    r = await client.post("/v1/feedback/export/finetuning", json={"days": 1, "format": "kto"})
    assert '"label": true' in r.text and '" : ' not in r.text
    offline = await client.get("/v1/exports/interactions", params={"format": "jsonl", "days": 1})
    assert '"request_id": "sep"' in offline.text and '" : ' not in offline.text


async def test_the_api_and_the_cli_name_a_dataset_by_one_rule(
    client: httpx.AsyncClient, cli_env: Path
) -> None:
    items = [{**exchange(request_id="named"), "rating": 1}]
    assert (await client.post("/v1/feedback/batch", json={"items": items})).status_code == 200
    r = await client.post("/v1/feedback/export/finetuning", json={"days": 7, "format": "kto"})
    since = datetime.fromisoformat(r.headers["x-export-since"])
    name = f"feedback-{iso_week_of(since)}-kto.jsonl"
    assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
    args = ["export", "finetuning", "--days", "7", "--format", "kto"]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert (cli_env / name).is_file()
    # The week the window starts in: last week's, for the usual 7 days.
    assert iso_week_of(since) == iso_week_of(datetime.now(UTC) - timedelta(days=7))


def test_files_appear_only_whole(tmp_path: Path) -> None:
    target = tmp_path / "data.jsonl"
    with pytest.raises(RuntimeError), StagedFiles([target]) as (handle,):
        handle.write(b'{"half": ')
        assert not target.exists()
        raise RuntimeError("the database went away")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its partial one
    with StagedFiles([target]) as (handle,):
        handle.write(b"{}\n")
    assert target.read_bytes() == b"{}\n" and list(tmp_path.iterdir()) == [target]


_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'feedback-api' "
    "AND wait_event_type = 'Lock'"
)


async def _count_until(engine: AsyncEngine, query: Any, expected: int, seconds: float) -> int:
    """The count `query` gives once it is `expected`, or when `seconds` have passed (each
    read in a transaction of its own: pg_stat_activity keeps one snapshot a transaction)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        async with engine.connect() as conn:
            found = int(await conn.scalar(query) or 0)
        if found == expected or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


@pytest.mark.slow  # a socket, a table lock and a few polls of pg_stat_activity
async def test_a_client_that_leaves_before_the_first_line_stops_the_export_query(
    served: LiveServer, engine: AsyncEngine
) -> None:
    body = json.dumps({"days": 1, "format": "kto"}).encode()
    request = (
        f"POST /v1/feedback/export/finetuning HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    # The export's query waits behind this lock until the client has gone.
    async with engine.begin() as locker:
        await locker.execute(text("LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE"))
        _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(request)
        await writer.drain()
        assert await _count_until(engine, _WAITING, 1, seconds=10) == 1
        writer.close()
        await writer.wait_closed()
        # Cancelled in PostgreSQL while the lock is still held: not at the statement limit.
        assert await _count_until(engine, _WAITING, 0, seconds=10) == 0
