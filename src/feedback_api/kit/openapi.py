"""The answers an operation can give besides its success, described once for the schema.

Each route lists its own (`responses=responses(404, 422, 503)`): /docs then shows what a
caller can really get back, and no operation claims answers it never gives.
"""

from __future__ import annotations

from typing import Any

from feedback_api.exceptions import ErrorBody

ANSWERS: dict[int, str] = {
    400: "A cursor this API did not return",
    401: "An API key is required (FEEDBACK_API_KEYS is set) or the one sent is not valid",
    403: "The API key's scope does not allow this operation",
    404: "Not found",
    409: "Conflicts with what is stored",
    413: "The request body is larger than FEEDBACK_MAX_BODY_BYTES",
    415: "A body in a media type this operation does not take",
    422: "The request is invalid: a parameter, a query parameter this operation does not "
    "take, or the body; `detail` says which rule was broken",
    503: "The database is unavailable or too slow right now; retry after Retry-After seconds",
}

# Shorthands for the usual sets.
KEYED = (401, 403)  # behind an API key's scope
READ = (401, 403, 422, 503)  # a read behind a key
WRITE = (401, 403, 413, 422, 503)  # a write with a body, behind a key


def responses(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes, in the one error shape; `described`
    words an answer for this operation (`_404="No such feedback"`)."""
    own = {int(key.lstrip("_")): text for key, text in described.items()}
    return {
        code: {"model": ErrorBody, "description": own.get(code, ANSWERS.get(code, ""))}
        for code in sorted({*codes, *own})
    }
