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
        client.state["schema_head"] = "9999"
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


async def test_constraint_violations_are_409_from_either_driver_layer(
    engine: Any, database_url: str
) -> None:
    """SQLAlchemy's wrapped error and asyncpg's own (the vote writers') get one answer."""
    import asyncpg
    from sqlalchemy import exc as sa_exc
    from sqlalchemy import text

    from feedback_api.exception_handlers import database_error_response

    raised: list[Exception] = []
    async with engine.connect() as conn:
        await conn.execute(text("CREATE TEMP TABLE once (id int PRIMARY KEY)"))
        await conn.execute(text("INSERT INTO once VALUES (1)"))
        try:
            await conn.execute(text("INSERT INTO once VALUES (1)"))
        except sa_exc.IntegrityError as exc:
            raised.append(exc)
    raw = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        await raw.execute("CREATE TEMP TABLE once (id int PRIMARY KEY)")
        await raw.execute("INSERT INTO once VALUES (1)")
        try:
            await raw.execute("INSERT INTO once VALUES (1)")
        except asyncpg.UniqueViolationError as exc:
            raised.append(exc)
    finally:
        await raw.close()
    assert len(raised) == 2
    for exc in raised:
        answer = database_error_response(exc)
        assert answer.status_code == 409 and b'"code":"conflict"' in answer.body
