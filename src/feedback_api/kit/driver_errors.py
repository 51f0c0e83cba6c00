from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc


def is_database_unavailable(exc: BaseException) -> bool:
    """True for failures that mean 'PostgreSQL cannot be reached now', not a bug of ours."""
    if isinstance(exc, sa_exc.TimeoutError):  # pool exhausted for pool_timeout seconds
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.InterfaceError | sa_exc.OperationalError):
        return True
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError | TimeoutError | ConnectionError):
            return True
        name = type(cur).__name__
        if name in {
            "ConnectionDoesNotExistError",
            "CannotConnectNowError",
            "ConnectionFailureError",
            "TooManyConnectionsError",
            "AdminShutdownError",
            "CrashShutdownError",
        }:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _sqlstate(exc: Exception) -> str:
    driver_error = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    return str(getattr(driver_error, "sqlstate", "") or "")


def _is_data_error(exc: Exception) -> bool:
    """A value PostgreSQL (SQLSTATE class 22) or the driver refused: bad input, not a bug."""
    if _sqlstate(exc).startswith("22"):
        return True
    if isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError):
        return True  # asyncpg's own DataError: it refused a value before sending it
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return type(cause).__name__ == "DataError" or "invalid input for query argument" in str(exc)


def concerns_one_write(exc: Exception) -> bool:
    """Whether `exc` may come from one write's own values or its race with another write
    (a refused value, a constraint, a deadlock), rather than from the database as a whole."""
    return _sqlstate(exc)[:2] in ("22", "23", "40") or _is_data_error(exc)


# What the database layer raises that is not a bug of ours. asyncpg's own errors come from
# vote ingestion (POST /v1/feedback and its batch), which writes below SQLAlchemy.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
