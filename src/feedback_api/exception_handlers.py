from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from feedback_api.exceptions import (
    AppError,
    ClientClosedRequest,
    describe_validation_errors,
    error_body,
    unreadable_body,
)
from feedback_api.kit import search
from feedback_api.kit.driver_errors import (
    DATABASE_ERRORS,
    PROGRAM_LIMIT_EXCEEDED,
    is_data_error,
    is_database_unavailable,
    sqlstate,
)

logger = logging.getLogger(__name__)

# What reaches one of PostgreSQL's own size limits through a request's values: most likely
# a row's search words (kit.search), which a batch checks item by item beforehand.
PAST_A_LIMIT = (
    "a value is past one of the database's limits: most likely a question, answer, comment "
    f"or correction with {search.TOO_MANY_WORDS}"
)


def _json(
    status_code: int, code: str, message: str, errors: list[Any] | None = None
) -> JSONResponse:
    headers = {"Retry-After": "2"} if status_code == 503 else None
    if status_code == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(code, message, errors), status_code, headers=headers)


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
    if sqlstate(exc) == "57014":
        return _json(503, "query_timeout", "the database took too long to answer; retry later")
    if sqlstate(exc) in ("40001", "40P01"):  # serialization failure, deadlock
        logger.warning("transaction aborted by a concurrent one: %s", type(exc).__name__)
        return _json(503, "write_conflict", "a concurrent write got in the way; retry")
    if is_data_error(exc):
        return _json(422, "invalid_input", "a value is out of range for the database")
    if sqlstate(exc) == PROGRAM_LIMIT_EXCEEDED:
        return _json(422, "invalid_input", PAST_A_LIMIT)
    if sqlstate(exc).startswith("23"):
        logger.warning("integrity error: %s", type(exc).__name__)
        return _json(409, "conflict", "the request conflicts with data already stored")
    logger.exception("unexpected database error")
    return unexpected_error_response()


def unexpected_error_response() -> JSONResponse:
    return _json(500, "internal_error", "an unexpected error occurred; it has been logged")


def overflow_response() -> JSONResponse:
    return _json(422, "invalid_input", "a date or number is out of the supported range")


def app_error_response(exc: AppError) -> JSONResponse:
    return _json(exc.status_code, exc.code, exc.message, exc.errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return app_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, errors = describe_validation_errors(list(exc.errors()), exc.body)
        return _json(422, "invalid_input", message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The framework answers a body its JSON decoder gave up on with a bare 400; every
        # unreadable body is a 422 saying what is wrong with it.
        unreadable = unreadable_body(exc.__cause__)
        if unreadable is not None:
            return app_error_response(unreadable)
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return _json(exc.status_code, code, str(exc.detail))

    async def _database(_: Request, exc: Exception) -> JSONResponse:
        return database_error_response(exc)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        return overflow_response()

    @app.exception_handler(ClientDisconnect)
    async def _gone(_: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client left while its body was being read: nobody reads this answer, and it
        # is no server error; the access log and the metrics show 499, not 500.
        return app_error_response(ClientClosedRequest("the client closed the connection"))

    # Registered per class (not for Exception) so Starlette's ExceptionMiddleware answers
    # them: a handler for Exception would run in ServerErrorMiddleware, which re-raises.
    for exc_class in DATABASE_ERRORS:
        app.add_exception_handler(exc_class, _database)
    # Anything else, a request's own OSError included (a file gone, a disk full: the
    # driver's come as DatabaseUnavailable, one of DATABASE_ERRORS), is a 500 from
    # middlewares.UnhandledErrors.
