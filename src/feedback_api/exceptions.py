from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


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
