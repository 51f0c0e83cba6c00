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


class ClientClosedRequest(AppError):
    """The client left before the answer started (the status nginx logs for it: nobody reads
    the answer, the access log does)."""

    status_code = 499
    code = "client_closed_request"


class ErrorItem(BaseModel):
    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    detail: str = Field(description="A sentence a person can act on.")
    code: str = Field(description="A stable machine code, e.g. invalid_input.")
    errors: list[ErrorItem] = Field(default_factory=list)


def error_body(code: str, message: str, errors: list[Any] | None = None) -> dict[str, Any]:
    return {"detail": message, "code": code, "errors": errors or []}


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]  # where it came from is clear from the request; the name is not
    return ".".join(parts) or "body"


JSON_HEADER = "content-type: application/json"


def _plural(count: Any, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _length_message(err: dict[str, Any]) -> str | None:
    """pydantic's length rule in the unit of the value: characters of a string, items of a
    list (pydantic says "items" of a string once a validator ran before its constraint)."""
    value, ctx = err.get("input"), err.get("ctx") or {}
    if not isinstance(value, str | list):
        return None
    unit = "character" if isinstance(value, str) else "item"
    actual = ctx.get("actual_length", len(value))
    if err.get("type") in ("too_short", "string_too_short") and "min_length" in ctx:
        if isinstance(value, str) and actual >= ctx["min_length"]:
            # Long enough as sent: the rule counted it with its surrounding spaces stripped.
            return (
                f"should have at least {_plural(ctx['min_length'], unit)} besides the spaces "
                f"around it, not {len(value.strip())}"
            )
        return f"should have at least {_plural(ctx['min_length'], unit)}, not {actual}"
    if err.get("type") in ("too_long", "string_too_long") and "max_length" in ctx:
        return f"should have at most {_plural(ctx['max_length'], unit)}, not {actual}"
    return None


def _line_and_column(document: str, position: int) -> tuple[int, int]:
    """1-based, as the json module counts them."""
    line = document.count("\n", 0, position) + 1
    return line, position - document.rfind("\n", 0, position)


def _json_message(err: dict[str, Any], body: Any) -> str:
    """The reason a body is not JSON, at a line and column a person can find."""
    reason = str((err.get("ctx") or {}).get("error", "")) or str(err.get("msg", ""))
    # pydantic's own parser says "Invalid JSON: <reason> at line L column C" already.
    reason = reason.removeprefix("Invalid JSON: ")
    loc = err.get("loc", ())
    position = loc[-1] if loc and isinstance(loc[-1], int) else None
    if position is not None and isinstance(body, str) and " at line " not in reason:
        line, column = _line_and_column(body, position)
        reason += f" at line {line} column {column}"
    return f"the body is not valid JSON: {reason}"


# A text holding half of a UTF-16 pair: pydantic's words for it ("unable to parse raw data
# as a unicode string") say nothing a client can act on.
HALF_SURROGATE = (
    "Text must be valid Unicode: it holds half of a UTF-16 surrogate pair "
    "(\\ud800-\\udfff) without its other half"
)


def _message(err: dict[str, Any], body: Any) -> tuple[str, str]:
    """(field, message) of one of pydantic's errors, as a person reads it."""
    loc = err.get("loc", ())
    if err.get("type") == "json_invalid":
        return "body", _json_message(err, body)
    if tuple(loc) == ("body",) and isinstance(err.get("input"), bytes | bytearray):
        # The framework reads a body as JSON only when the header says it is.
        return "body", f"the body was not read as JSON: send it with the header {JSON_HEADER}"
    if err.get("type") == "string_unicode":
        return _location(loc), HALF_SURROGATE
    if err.get("type") == "model_type":
        # pydantic names the model class ("...or instance of FeedbackCreate"): say what to send.
        return _location(loc), "should be a JSON object of the item's fields"
    msg = _length_message(err) or str(err.get("msg", "invalid value"))
    return _location(loc), msg.removeprefix("Value error, ")


def describe_validation_errors(
    raw: list[Any], body: Any = None
) -> tuple[str, list[dict[str, Any]]]:
    """Turn pydantic's error list into one readable sentence plus a clean, JSON-safe list.

    `body`: the request body as the framework decoded it, for the line and column of a JSON
    syntax error."""
    errors = []
    for err in raw:
        field, msg = _message(err, body)
        errors.append({"field": field, "message": msg, "type": err.get("type", "")})
    if not errors:
        return "the request is invalid", []
    first = errors[0]
    message = (
        first["message"] if first["field"] == "body" else f"{first['field']}: {first['message']}"
    )
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return message, errors


# The first two bytes of a gzip stream (RFC 1952): a body sent compressed.
GZIP_MAGIC = b"\x1f\x8b"


def unreadable_body(cause: BaseException | None) -> InvalidInput | None:
    """The answer to a body the JSON decoder gave up on before any syntax error: bytes that
    are not UTF-8, nesting deeper than Python recurses, or an integer longer than Python
    reads. None for any other cause."""
    if isinstance(cause, UnicodeDecodeError):
        if bytes(cause.object[:2]) == GZIP_MAGIC:
            return _unreadable(
                "the body is gzip-compressed: send JSON uncompressed, without "
                "Content-Encoding (only POST /v1/traces reads compressed bodies)",
                "body_compressed",
            )
        byte = cause.object[cause.start : cause.start + 1].hex()
        return _unreadable(
            f"the body is not valid UTF-8 (byte 0x{byte} at offset {cause.start}): "
            "send JSON encoded as UTF-8",
            "utf8_invalid",
        )
    if isinstance(cause, RecursionError):
        return _unreadable(
            "the body is not readable JSON: its arrays or objects nest too deeply "
            "(hundreds of levels); no field of this API needs more than a few",
            "json_too_deep",
        )
    if isinstance(cause, ValueError) and "digits" in str(cause):
        # Python reads no integer of more than 4,300 digits (sys.int_info).
        return _unreadable(
            "the body is not readable JSON: it holds an integer of thousands of digits; "
            "send numbers of at most 4,300 digits (or as text)",
            "json_number_too_long",
        )
    return None


def _unreadable(message: str, kind: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"field": "body", "message": message, "type": kind}])
