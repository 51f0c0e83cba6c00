"""The database driver's errors, classified by exception class: what failed, not how to answer.

Through SQLAlchemy an asyncpg error arrives wrapped twice: `sqlalchemy.exc.DBAPIError.orig` is
the dialect's PEP 249 class (`AsyncAdapt_asyncpg_dbapi.Error` and its subclasses, which carry
the `sqlstate`), raised `from` asyncpg's own exception. `driver_exception` unwraps both; every
test here is an `isinstance` on asyncpg's classes or, where PostgreSQL answered, its SQLSTATE.

Only errors that are the driver's own are classified, never an `OSError` at large: a file that
vanishes while an export is sent must not read as "database unavailable". The asyncpg dialect
passes the `OSError`s of its driver on unwrapped (a refused connection, an unknown host, a
connect or command timeout; sqlalchemy/sqlalchemy#11956), and SQLAlchemy's `handle_error`
event does not see those raised while connecting. `classify_driver_errors` turns them into
`DatabaseUnavailable` where they are raised, so that they are told apart by their class.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg import exceptions as pg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry


class DatabaseUnavailable(Exception):
    """The driver could not reach PostgreSQL, or lost it: `__cause__` is the driver's OSError
    (a refused connection, an unknown host, a connect, ping or command timeout)."""


def classify_driver_errors(engine: AsyncEngine) -> None:
    """Make the driver's OSErrors on `engine` raise DatabaseUnavailable (from the OSError).

    Call once, after any other `do_connect` listener: this one makes the connection itself.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _connect(
        dialect: Dialect, conn_rec: ConnectionPoolEntry, cargs: Any, cparams: Any
    ) -> DBAPIConnection:
        # What SQLAlchemy would call itself (a listener that returns a connection replaces
        # the call). Everything in it is the driver's: a pool checkout, a pre-ping failure's
        # reconnection and the first connection of a session all come here.
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:  # ConnectionRefusedError, socket.gaierror, TimeoutError, ...
            raise DatabaseUnavailable(f"could not connect to the database: {exc}") from exc

    @event.listens_for(sync_engine, "handle_error", retval=True)
    def _statement_failed(context: ExceptionContext) -> BaseException | None:
        # Every exception raised while SQLAlchemy runs a statement, begins or ends a
        # transaction or fetches rows, the driver's unwrapped ones included: asyncpg's
        # command_timeout is a TimeoutError. SQLAlchemy's own work there does no I/O, and
        # these models have no type that does.
        # Returned, not raised: listeners after this one still run. SQLAlchemy raises it
        # `from` the original.
        error = context.original_exception
        if isinstance(error, OSError):
            return DatabaseUnavailable(f"the database connection failed: {error!r}")
        return None

    # pool_pre_ping: SQLAlchemy gives a ping's PEP 249 errors to handle_error, nothing else.
    # A pooled connection that stopped answering fails its ping with command_timeout's
    # TimeoutError, which would pass unclassified. The pool drops that connection either way.
    dialect = sync_engine.dialect
    ping = dialect.do_ping

    def _ping(dbapi_connection: DBAPIConnection) -> bool:
        try:
            return ping(dbapi_connection)
        except OSError as exc:
            raise DatabaseUnavailable(f"the database connection failed: {exc!r}") from exc

    dialect.do_ping = _ping  # type: ignore[method-assign]


# asyncpg's errors for a server that is gone, going away or not taking connections now.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    pg.PostgresConnectionError,  # SQLSTATE class 08: ConnectionDoesNotExistError, ...
    pg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    pg.AdminShutdownError,  # 57P01
    pg.CrashShutdownError,  # 57P02
    pg.TooManyConnectionsError,  # 53300
    # Misuse of the driver, in practice a connection that closed under us (SQLAlchemy names
    # it a disconnect when it still holds the connection): unavailable.
    asyncpg.InterfaceError,
)

# asyncpg's base classes: whatever it raises itself is one of these.
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    pg.InternalClientError,
)


def driver_exception(exc: BaseException) -> BaseException | None:
    """asyncpg's own exception behind `exc` (`exc` itself when unwrapped), else None."""
    error: BaseException | None = exc
    if isinstance(error, sa_exc.DBAPIError):
        error = error.orig  # the dialect's PEP 249 class...
        if error is not None and not isinstance(error, _DRIVER_ERRORS):
            error = error.__cause__  # ...raised from asyncpg's
    return error if isinstance(error, _DRIVER_ERRORS) else None


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of the error behind `exc`, '' when PostgreSQL gave none."""
    error = driver_exception(exc)
    if isinstance(error, asyncpg.PostgresError):
        return str(getattr(error, "sqlstate", "") or "")
    return ""


def is_database_unavailable(exc: BaseException) -> bool:
    """True for failures that mean 'PostgreSQL cannot be reached now', not a bug of ours."""
    # sa_exc.TimeoutError: no connection came free in the pool within pool_timeout.
    if isinstance(exc, DatabaseUnavailable | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # PEP 249's OperationalError: a disconnect, an unknown data source. The asyncpg dialect
    # raises none today; another driver, or this one wrapping OSErrors some day, would.
    if isinstance(exc, sa_exc.OperationalError):
        return True
    return isinstance(driver_exception(exc), _UNAVAILABLE)


def is_data_error(exc: BaseException) -> bool:
    """A value PostgreSQL (SQLSTATE class 22) or the driver refused: bad input, not a bug.

    asyncpg's `DataError` is both: the base of class 22's errors, and what it raises itself
    for a query argument it cannot encode ("invalid input for query argument", SQLSTATE 22000).
    """
    return isinstance(driver_exception(exc), pg.DataError) or sqlstate(exc).startswith("22")


# SQLSTATE program_limit_exceeded: a value past one of PostgreSQL's own limits, such as
# a text with more distinct words than a tsvector holds (1 MB of them).
PROGRAM_LIMIT_EXCEEDED = "54000"


def concerns_one_write(exc: BaseException) -> bool:
    """Whether `exc` may come from one write's own values or its race with another write
    (a refused value, a value past a limit, a constraint, a deadlock), rather than from the
    database as a whole."""
    state = sqlstate(exc)
    return state[:2] in ("22", "23", "40") or state == PROGRAM_LIMIT_EXCEEDED or is_data_error(exc)


# What the database layer raises that is not a bug of ours: SQLAlchemy's errors, and ours for
# the driver's OSErrors (see classify_driver_errors). No OSError at large: a request's own
# (a file gone, a full disk) is a 500 like any other unexpected error.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    DatabaseUnavailable,
)
