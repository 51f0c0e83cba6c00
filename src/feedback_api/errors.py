"""One error hierarchy for the whole service, and the handlers that turn it into JSON.

Services raise `AppError` subclasses; nothing below the router knows HTTP status codes
beyond the one each error class carries. Every error response has the same shape:
`{"detail": "<a sentence a person can act on>", "code": "<machine code>", "errors": [...]}`.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class InvalidInput(AppError):
    status_code = 422
    code = "invalid_input"


class ErrorItem(BaseModel):
    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    detail: str = Field(description="A sentence a person can act on.")
    code: str = Field(description="A stable machine code, e.g. invalid_input.")
    errors: list[ErrorItem] = Field(default_factory=list)


def _described(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Declared on every operation, so the OpenAPI schema says what clients can get back.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _described("Bad request, e.g. a cursor this API did not return"),
    401: _described("An API key (or feedback token) is required or invalid"),
    403: _described("The key's scope does not allow this"),
    404: _described("Not found"),
    413: _described("The request body is over the size limit"),
    422: _described("The request is invalid; `detail` says which rule was broken"),
    503: _described("The database is unavailable; retry after Retry-After seconds"),
}


def error_body(code: str, message: str, errors: list[Any] | None = None) -> dict[str, Any]:
    return {"detail": message, "code": code, "errors": errors or []}


def _json(
    status_code: int, code: str, message: str, errors: list[Any] | None = None
) -> JSONResponse:
    headers = {"Retry-After": "2"} if status_code == 503 else None
    if status_code == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(code, message, errors), status_code, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]  # where it came from is clear from the request; the name is not
    return ".".join(parts) or "body"


def describe_validation_errors(raw: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """Turn pydantic's error list into one readable sentence plus a clean, JSON-safe list."""
    errors = []
    for err in raw:
        loc = err.get("loc", ())
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        errors.append({"field": _location(loc), "message": msg, "type": err.get("type", "")})
    if not errors:
        return "the request is invalid", []
    first = errors[0]
    message = (
        first["message"] if first["field"] == "body" else f"{first['field']}: {first['message']}"
    )
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return message, errors


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


def database_error_response(exc: Exception) -> JSONResponse:
    """The answer to an exception of one of DATABASE_ERRORS."""
    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        return _json(
            503,
            "database_unavailable",
            "the database is unavailable right now; retry in a few seconds",
        )
    # query_canceled: statement_timeout. Through SQLAlchemy the driver's exception arrives
    # wrapped in its adapter class, so match the SQLSTATE, not a class name.
    if _sqlstate(exc) == "57014":
        return _json(503, "query_timeout", "the database took too long to answer; retry later")
    if _sqlstate(exc) in ("40001", "40P01"):  # serialization failure, deadlock
        logger.warning("transaction aborted by a concurrent one: %s", type(exc).__name__)
        return _json(503, "write_conflict", "a concurrent write got in the way; retry")
    if _is_data_error(exc):
        return _json(422, "invalid_input", "a value is out of range for the database")
    if _sqlstate(exc).startswith("23"):
        logger.warning("integrity error: %s", type(exc).__name__)
        return _json(409, "conflict", "the request conflicts with data already stored")
    logger.exception("unexpected database error")
    return _json(500, "internal_error", "an unexpected error occurred; it has been logged")


def concerns_one_write(exc: Exception) -> bool:
    """Whether `exc` may come from one write's own values or its race with another write
    (a refused value, a constraint, a deadlock), rather than from the database as a whole."""
    return _sqlstate(exc)[:2] in ("22", "23", "40") or _is_data_error(exc)


def overflow_response() -> JSONResponse:
    return _json(422, "invalid_input", "a date or number is out of the supported range")


def app_error_response(exc: AppError) -> JSONResponse:
    return _json(exc.status_code, exc.code, exc.message, exc.errors)


# What the database layer raises that is not a bug of ours. asyncpg's own errors come from
# vote ingestion (POST /v1/feedback and its batch), which writes below SQLAlchemy.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return app_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, errors = describe_validation_errors(list(exc.errors()))
        return _json(422, "invalid_input", message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return _json(exc.status_code, code, str(exc.detail))

    async def _database(_: Request, exc: Exception) -> JSONResponse:
        return database_error_response(exc)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        return overflow_response()

    # Registered per class (not for Exception) so Starlette's ExceptionMiddleware answers
    # them: a handler for Exception would run in ServerErrorMiddleware, which re-raises.
    for exc_class in DATABASE_ERRORS:
        app.add_exception_handler(exc_class, _database)
