"""Driver errors told apart by their class, on the real driver: the database's, no one else's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from feedback_api.app import create_app
from feedback_api.config import Settings
from feedback_api.exception_handlers import database_error_response
from feedback_api.kit.db import SessionDep, create_engine, create_sessionmaker
from feedback_api.kit.driver_errors import (
    DATABASE_ERRORS,
    DatabaseUnavailable,
    concerns_one_write,
    driver_exception,
    is_database_unavailable,
)
from feedback_api.kit.embedded import start_embedded
from tests.conftest import in_process

# A port nothing listens on: connection refused at once.
DEAD_URL = "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"
INTERNAL_ERROR = {
    "detail": "an unexpected error occurred; it has been logged",
    "code": "internal_error",
    "errors": [],
}


def _changed(settings: Settings, **overrides: Any) -> Settings:
    return Settings(**{**settings.model_dump(), **overrides}, _env_file=None)  # type: ignore[call-arg]


def _answer(exc: Exception) -> tuple[int, str]:
    response = database_error_response(exc)
    return response.status_code, json.loads(response.body)["code"]


async def test_a_refused_connection_is_unavailable_through_the_engine(settings: Settings) -> None:
    engine = create_engine(settings, DEAD_URL)
    try:
        with pytest.raises(DatabaseUnavailable) as connecting:
            async with engine.connect():
                pass
        with pytest.raises(DatabaseUnavailable) as in_session:
            async with create_sessionmaker(engine)() as session:
                await session.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    for raised in (connecting.value, in_session.value):
        assert isinstance(raised.__cause__, ConnectionRefusedError)  # the driver's, chained
        assert is_database_unavailable(raised)
        assert isinstance(raised, DATABASE_ERRORS)
        response = database_error_response(raised)
        assert response.status_code == 503
        assert json.loads(response.body)["code"] == "database_unavailable"
        assert response.headers["retry-after"]


async def test_sqlalchemy_alone_passes_a_refused_connection_on_as_a_bare_oserror() -> None:
    """Why classify_driver_errors exists: no handle_error for connect-time OSErrors
    (sqlalchemy/sqlalchemy#11956). Should this fail, SQLAlchemy now wraps them: revisit."""
    engine = create_async_engine(DEAD_URL)
    try:
        with pytest.raises(ConnectionRefusedError):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()


async def test_an_exhausted_pool_is_unavailable(settings: Settings, database_url: str) -> None:
    engine = create_engine(
        _changed(settings, pool_size=1, max_overflow=0, pool_timeout_seconds=0.2), database_url
    )
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(sa_exc.TimeoutError) as raised:
                async with engine.connect():
                    pass
    finally:
        await engine.dispose()
    assert is_database_unavailable(raised.value)
    assert _answer(raised.value) == (503, "database_unavailable")


@pytest.mark.slow  # waits out the driver's command timeout: 2.5 s
async def test_the_drivers_command_timeout_is_unavailable(
    settings: Settings, database_url: str
) -> None:
    """A server that stops answering mid-statement: asyncpg's TimeoutError, via handle_error."""
    # command_timeout is statement_timeout + 2 s; PostgreSQL's own cancel is switched off.
    engine = create_engine(_changed(settings, statement_timeout_seconds=0.5), database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET statement_timeout = 0"))
            with pytest.raises(DatabaseUnavailable) as raised:
                await conn.execute(text("SELECT pg_sleep(10)"))
    finally:
        await engine.dispose()
    assert isinstance(raised.value.__cause__, TimeoutError)
    assert _answer(raised.value) == (503, "database_unavailable")


@pytest.fixture(scope="module")
async def own_server_url() -> AsyncIterator[str]:
    """A PostgreSQL of this module's own, whose backends may be stopped harmlessly."""
    yield await asyncio.to_thread(
        start_embedded, Path(tempfile.mkdtemp(prefix="fb-errors-")), cleanup="delete"
    )


@pytest.mark.slow  # a PostgreSQL of its own
async def test_a_pooled_connection_that_stopped_answering_fails_its_ping_as_unavailable(
    settings: Settings, own_server_url: str
) -> None:
    engine = create_engine(_changed(settings, statement_timeout_seconds=0.5), own_server_url)
    try:
        async with engine.connect() as conn:
            pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        cmdline = await asyncio.to_thread(Path(f"/proc/{pid}/cmdline").read_bytes)
        assert b"postgres" in cmdline  # the server this module started, on this host
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(DatabaseUnavailable) as raised:
                async with engine.connect() as conn:  # pool_pre_ping: the ping times out
                    pass
        finally:
            os.kill(pid, signal.SIGCONT)
        assert isinstance(raised.value.__cause__, TimeoutError)
        assert _answer(raised.value) == (503, "database_unavailable")
        async with engine.connect() as conn:  # the silent connection was dropped
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("sqlstate", "status", "code"),
    [
        ("22P02", 422, "invalid_input"),  # invalid_text_representation
        ("22003", 422, "invalid_input"),  # numeric_value_out_of_range
        ("23505", 409, "conflict"),  # unique_violation
        ("57014", 503, "query_timeout"),  # query_canceled
        ("40001", 503, "write_conflict"),  # serialization_failure
        ("40P01", 503, "write_conflict"),  # deadlock_detected
        ("57P01", 503, "database_unavailable"),  # admin_shutdown
        ("57P02", 503, "database_unavailable"),  # crash_shutdown
        ("57P03", 503, "database_unavailable"),  # cannot_connect_now
        ("53300", 503, "database_unavailable"),  # too_many_connections
        ("08006", 503, "database_unavailable"),  # connection_failure
        ("42P01", 500, "internal_error"),  # undefined_table: a bug of ours
        ("XX000", 500, "internal_error"),  # internal_error
    ],
)
async def test_postgresql_answers_are_classified_through_either_driver_layer(
    engine: AsyncEngine, database_url: str, sqlstate: str, status: int, code: str
) -> None:
    """PostgreSQL itself answers with `sqlstate`; asyncpg picks its class by it."""
    statement = f"DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{sqlstate}'; END $$"
    async with engine.connect() as conn:
        with pytest.raises(sa_exc.DBAPIError) as wrapped:
            await conn.execute(text(statement))
    raw = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        with pytest.raises(asyncpg.PostgresError) as unwrapped:
            await raw.execute(statement)
    finally:
        await raw.close()
    for exc in (wrapped.value, unwrapped.value):
        assert type(driver_exception(exc)) is type(unwrapped.value)
        assert _answer(exc) == (status, code)
        assert concerns_one_write(exc) == (sqlstate[:2] in ("22", "23", "40"))


@pytest.mark.parametrize("value", [2**40, "twelve"])
async def test_a_value_the_driver_refuses_to_send_is_invalid_input(
    engine: AsyncEngine, value: object
) -> None:
    async with engine.connect() as conn:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            await conn.execute(text("SELECT CAST(:value AS integer)"), {"value": value})
    # asyncpg's "invalid input for query argument", raised before anything is sent.
    assert isinstance(driver_exception(raised.value), asyncpg.exceptions.DataError)
    assert _answer(raised.value) == (422, "invalid_input")
    assert concerns_one_write(raised.value)
    assert not is_database_unavailable(raised.value)


async def test_an_oserror_the_driver_did_not_raise_is_not_the_database(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        (tmp_path / "gone.jsonl").open()
    with pytest.raises(TimeoutError) as timed_out:
        await asyncio.wait_for(asyncio.sleep(1), timeout=0.01)
    for exc in (missing.value, timed_out.value, OSError(28, "No space left on device")):
        assert not is_database_unavailable(exc)


async def test_a_file_error_in_a_request_is_a_500_not_a_503(
    settings: Settings, tmp_path: Path
) -> None:
    """An export file that vanishes while a request uses the database: not 'unavailable'."""
    app = create_app(settings)

    @app.get("/test/vanishing-file")
    async def vanishing_file(session: SessionDep) -> None:
        await session.execute(text("SELECT 1"))
        (tmp_path / "export.jsonl").unlink()

    # Starlette re-raises an unhandled error after answering it, for the server to log.
    async with in_process(app, raise_app_exceptions=False) as client:
        r = await client.get("/test/vanishing-file")
    assert r.status_code == 500
    assert r.json() == INTERNAL_ERROR
    assert "retry-after" not in r.headers
