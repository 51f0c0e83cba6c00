"""The database unreachable: a clear 503 within seconds, never a hang or a 500."""

from __future__ import annotations

import time
from typing import Any

from tests.helpers import exchange

# A port nothing listens on: connection refused at once.
DEAD_URL = "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"


async def test_writes_get_503_when_the_database_is_unreachable(make_client: Any) -> None:
    async with make_client(database_url=DEAD_URL, connect_timeout_seconds=2) as client:
        started = time.monotonic()
        r = await client.post("/v1/feedback", json=exchange(rating=1))
        assert time.monotonic() - started < 5
        assert r.status_code == 503
        assert r.json()["code"] == "database_unavailable"
        assert "retry" in r.json()["detail"]
        assert r.headers["retry-after"]

        r = await client.get("/v1/feedback")
        assert r.status_code == 503

        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert (await client.get("/healthz")).status_code == 200


async def test_readyz_says_when_migrations_are_pending(make_client: Any) -> None:
    async with make_client() as client:
        client._transport.app.state.schema_head = "9999"  # type: ignore[attr-defined]
        r = await client.get("/readyz")
    assert r.status_code == 503
    assert "feedback-api db upgrade" in r.json()["detail"]


async def test_streamed_export_fails_cleanly_when_the_database_is_unreachable(
    make_client: Any,
) -> None:
    async with make_client(database_url=DEAD_URL, connect_timeout_seconds=2) as client:
        r = await client.post("/v1/feedback/export/finetuning", json={"days": 7})
        assert r.status_code == 503
        r = await client.get("/v1/feedback/accuracy")
        assert r.status_code == 503
