"""Engines and sessions, and the dependencies that give a request its session.

Write sessions hold one transaction per request, committed before the response is sent.
Read sessions (analytics, exports, reports) are on the read engine (a replica when one is
configured) in autocommit: a read costs one round trip, not four (a pool pre-ping, BEGIN,
the query, ROLLBACK). The read engine skips the pre-ping: a connection that a database
restart broke fails once with a clear 503, and the pool then replaces every connection it
holds. Streamed exports read in a transaction of their own (server-side cursors need one).
Statement sessions are for requests whose write is one statement (a review claim, a label's
submit): on the primary, in autocommit and without the pre-ping, like read sessions; the
statement is its own transaction, committed when it returns, so the request costs one round
trip instead of six (the pre-ping's BEGIN, `;` and ROLLBACK, BEGIN, the statement, COMMIT).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeAlias, TypeVar

from fastapi import Depends, Request
from pydantic_core import from_json
from sqlalchemy import Result, Select, func, select, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncResult,
    AsyncScalarResult,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from feedback_api.config import Settings
from feedback_api.kit.driver_errors import classify_driver_errors
from feedback_api.kit.models import AnyRow


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started on demand) when none is set."""
    if settings.database_url:
        return settings.database_url
    from feedback_api.kit.embedded import start_embedded

    return start_embedded(settings.data_dir)


def json_value(document: str | bytes) -> Any:
    """A JSON column's value: by pydantic's parser, or by `json.loads` where that parser
    gives up (a value nested deeper than its 200 levels, stored before requests were held
    to kit.fields.JSON_MAX_DEPTH): every stored value can be read."""
    try:
        return from_json(document)
    except ValueError:
        return json.loads(document)


def create_engine(
    settings: Settings,
    url: str | None = None,
    *,
    pre_ping: bool = True,
    statement_timeout: float | None = None,
) -> AsyncEngine:
    """An engine whose statements stop after `statement_timeout` seconds (default: the
    request limit, settings.statement_timeout_seconds; 0: never)."""
    timeout = settings.statement_timeout_seconds if statement_timeout is None else statement_timeout
    engine = create_async_engine(
        url or resolve_database_url(settings),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        # A connection that died with a database restart is replaced, not handed out.
        pool_pre_ping=pre_ping,
        # Statement errors in logs must not carry user ids or question text.
        hide_parameters=True,
        # JSON columns as read: one call into pydantic's parser instead of `json.loads`
        # and its Python layers, for every JSON value of every row (a vote's metadata).
        # PostgreSQL writes standard JSON, which both parse to the same values.
        json_deserializer=json_value,
        connect_args={
            "timeout": settings.connect_timeout_seconds,
            # A little longer than statement_timeout: PostgreSQL's own cancel (SQLSTATE
            # 57014, a clear "query_timeout") comes first; this one only catches a server
            # that stopped talking.
            "command_timeout": timeout + 2 if timeout else None,
            "server_settings": {
                "application_name": "feedback-api",
                "statement_timeout": str(int(timeout * 1000)),
            },
        },
    )
    classify_driver_errors(engine)
    return engine


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, its connections in autocommit: no BEGIN or ROLLBACK round trips.

    Not for server-side cursors (streamed exports): PostgreSQL keeps those in a transaction.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"
_O = TypeVar("_O")


class AsyncReadSession:
    """A session that reads: SELECTs and `get`, nothing that writes.

    A type of its own, not an `AsyncSession`: a repository that writes takes `AsyncSession`
    and mypy refuses it a read session, and an INSERT, UPDATE or DELETE given to `execute`
    is a type error. Repositories that only read take `ReadSession`, either kind.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def execute(self, statement: AnySelect) -> Result[*tuple[Any, ...]]:
        return await self._session.execute(statement)

    async def scalar(self, statement: AnySelect) -> Any:
        return await self._session.scalar(statement)

    async def get(
        self, entity: type[_O], ident: Any, *, populate_existing: bool = False
    ) -> _O | None:
        return await self._session.get(entity, ident, populate_existing=populate_existing)

    async def stream(self, statement: AnySelect) -> AsyncResult[*tuple[Any, ...]]:
        return await self._session.stream(statement)

    async def stream_scalars(self, statement: AnySelect) -> AsyncScalarResult[Any]:
        return await self._session.stream_scalars(statement)


ReadSession: TypeAlias = AsyncReadSession | AsyncSession

# PostgreSQL's code for a statement cancelled by its time limit.
QUERY_CANCELED = "57014"


def _plain(session: ReadSession) -> AsyncSession:
    return session._session if isinstance(session, AsyncReadSession) else session


async def stream_columns(session: ReadSession, statement: AnySelect) -> AsyncResult[Any]:
    """`stream` for a statement of columns (no entities), run by SQLAlchemy Core on the
    session's connection: the driver's rows without the ORM's loading step per row (a few
    microseconds a row of an export: docs/benchmarks/exports.md, bench_export)."""
    return await (await _plain(session).connection()).stream(statement)


async def first_row_within(session: ReadSession, statement: AnySelect, ms: int) -> AnyRow | None:
    """The first row of `statement`, or None when PostgreSQL has not found it within `ms`.

    Run in a savepoint that is always rolled back: a statement cancelled by the limit
    leaves the transaction usable, and the rollback also undoes the limit (a setting made
    local after a savepoint ends with it), so the transaction's own limit holds again
    without being read and written back."""
    plain = _plain(session)
    limit = select(func.set_config("statement_timeout", str(ms), true()))
    try:
        async with plain.begin_nested() as savepoint:
            await plain.execute(limit)
            row = (await plain.execute(statement)).first()
            await savepoint.rollback()
            return row
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != QUERY_CANCELED:
            raise
        return None


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    return sessionmaker


SessionMakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


async def get_read_session(request: Request) -> AsyncIterator[AsyncReadSession]:
    """A session on the read replica when one is configured, else on the primary.

    For analytics, exports and reports: they may lag the primary by the replica's delay,
    and they never write.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.read_sessionmaker
    async with sessionmaker() as session:
        yield AsyncReadSession(session)


async def get_stream_session(request: Request) -> AsyncIterator[AsyncReadSession]:
    """A read session in a transaction, for a server-side cursor (rolled back at the end)."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.stream_sessionmaker
    async with sessionmaker() as session:
        yield AsyncReadSession(session)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler returns, rolled back on error.

    Used with `scope="function"`, so the commit happens before the response is sent:
    a 2xx always means the rows are committed.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def get_statement_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session on the primary in autocommit: each statement commits as it returns.

    Only for a request whose every write is one statement (atomic by itself): what a later
    statement of the request reads or refuses cannot undo an earlier one. Reads after the
    write (why a write was refused) see what is committed.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.statement_sessionmaker
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
StatementSessionDep = Annotated[AsyncSession, Depends(get_statement_session, scope="function")]
ReadSessionDep = Annotated[AsyncReadSession, Depends(get_read_session, scope="function")]
# For streaming responses: the session must outlive the handler, until the last byte is sent.
StreamSessionDep = Annotated[AsyncReadSession, Depends(get_stream_session, scope="request")]
