"""Engine and session factories, and the one-session-per-request dependency."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from feedback_api.config import Settings
from feedback_api.kit.driver_errors import classify_driver_errors


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started on demand) when none is set."""
    if settings.database_url:
        return settings.database_url
    from feedback_api.kit.embedded import start_embedded

    return start_embedded(settings.data_dir)


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    engine = create_async_engine(
        url or resolve_database_url(settings),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        # A connection that died with a database restart is replaced, not handed out.
        pool_pre_ping=True,
        # Statement errors in logs must not carry user ids or question text.
        hide_parameters=True,
        connect_args={
            "timeout": settings.connect_timeout_seconds,
            "command_timeout": _client_timeout(settings),
            "server_settings": _server_settings(settings),
        },
    )
    classify_driver_errors(engine)
    return engine


def create_raw_pool(settings: Settings, url: str, *, max_size: int) -> asyncpg.Pool:
    """A small asyncpg pool below SQLAlchemy, for vote ingestion (group commit).

    The same timeouts and session settings as the engine's connections; jsonb decodes to
    Python objects as it does through SQLAlchemy. Not opened until first used.
    """

    async def init(connection: asyncpg.Connection) -> None:
        await connection.set_type_codec(
            "jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads
        )

    return asyncpg.create_pool(
        url.replace("postgresql+asyncpg://", "postgresql://", 1),
        min_size=0,
        max_size=max_size,
        timeout=settings.connect_timeout_seconds,
        command_timeout=_client_timeout(settings),
        server_settings=_server_settings(settings),
        init=init,
        # asyncpg's default reset (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL) is a
        # round trip per group, about a tenth of a vote's CPU, that undoes nothing: the
        # writers leave no session state (one autocommitted statement, no SET, LISTEN or
        # cursor). asyncpg still rolls back a stray transaction and drops a closed
        # connection before this is called; a connection broken while idle is found by the
        # writer (feedback.service.vote_group).
        reset=_keep_session,
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    return None


def _client_timeout(settings: Settings) -> float:
    # A little longer than statement_timeout: PostgreSQL's own cancel (SQLSTATE 57014, a
    # clear "query_timeout") comes first; this one only catches a server that stopped talking.
    return settings.statement_timeout_seconds + 2


def _server_settings(settings: Settings) -> dict[str, str]:
    return {
        "application_name": "feedback-api",
        "statement_timeout": str(int(settings.statement_timeout_seconds * 1000)),
    }


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session on the read replica when one is configured, else on the primary.

    For analytics, exports and reports: they may lag the primary by the replica's delay,
    and they never write.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    async with sessionmaker() as session:
        yield session


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler returns, rolled back on error.

    Used with `scope="function"`, so the commit happens before the response is sent:
    a 2xx always means the rows are committed.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
# For streaming responses: the session must outlive the handler, until the last byte is sent.
StreamSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="request")]
