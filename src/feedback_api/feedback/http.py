"""The vote's request read once: its body validated from its bytes, its headers read directly.

POST /v1/feedback is the busiest operation. Declared the usual way (a body model, two header
parameters, the API key's two security schemes), FastAPI parses the body's JSON to Python
objects, validates those, and resolves six dependants for every request, with checks of
each dependant's callable on every call: more CPU than the rest of the route
(docs/benchmarks/ingest.md, "Votes at a million a week"). Here the route takes the `Request`, and
the body goes from bytes to a model in one pydantic call (`model_validate_json`).

Every refusal is the one FastAPI's own handling gives, in the same order: a body that is not
JSON is refused before the key is checked, a bad key before a bad header or field, and the
header and field errors come together in one 422. A body the one call refuses is parsed and
validated again the way FastAPI does (`json.loads`, then the model), so its errors are
FastAPI's own, word for word; that costs nothing on the accepted path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import Field, TypeAdapter, ValidationError

from feedback_api.auth.keys import Principal, authenticate
from feedback_api.auth.tokens import TOKEN_MAX_LENGTH
from feedback_api.exceptions import HALF_SURROGATE, unreadable_body
from feedback_api.feedback.schemas import CoreCheckedFeedback, FeedbackCreate
from feedback_api.kit.fields import python_checks_needed

# The headers the route reads, with the longest value each may have.
TOKEN_HEADER = "X-Feedback-Token"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
_LIMITS = {TOKEN_HEADER: TOKEN_MAX_LENGTH, IDEMPOTENCY_HEADER: IDEMPOTENCY_KEY_MAX_LENGTH}


_MISSING = object()  # no body at all


@dataclass(slots=True)
class VoteRequest:
    payload: FeedbackCreate
    principal: Principal | None
    token: str | None  # X-Feedback-Token
    idempotency_key: str | None


def validate_json_body(body: bytes) -> FeedbackCreate:
    """A vote's JSON body validated in one call: FeedbackCreate's rules, in pydantic's core
    where the body allows it (`CoreCheckedFeedback`). Its errors are not the ones to answer
    with."""
    model = FeedbackCreate if python_checks_needed(body) else CoreCheckedFeedback
    return model.model_validate_json(body)


async def read_vote(request: Request) -> VoteRequest:
    """The vote a request sends, who sends it, and its two optional headers; or the
    refusal FastAPI would give (RequestValidationError, or the key's AppError)."""
    body = await request.body()
    # Every header the route reads, from one dict: the first of repeated headers, as
    # Starlette's `request.headers.get` gives it (which walks the whole list per name).
    # Only the values used are decoded.
    header = dict(reversed(request.scope["headers"])).get
    payload: FeedbackCreate | None = None
    parsed: Any = _MISSING
    if body:
        if _is_json(header(b"content-type")):
            try:
                payload = validate_json_body(body)
            except ValidationError as refused:
                if _too_deep(refused):
                    raise _unreadable(RecursionError()) from refused
                parsed = _json_body(body)  # FastAPI's parse: a JSON error is refused here
        else:
            parsed = body  # not declared JSON: validated as the bytes it is, as FastAPI does
    authorization, api_key = header(b"authorization"), header(b"x-api-key")
    principal = await authenticate(
        request,
        None if authorization is None else _bearer_credentials(authorization.decode("latin-1")),
        api_key.decode("latin-1") if api_key else None,
    )
    token, key = _text(header(b"x-feedback-token")), _text(header(b"idempotency-key"))
    errors = []
    if token is not None or key is not None:
        errors = [*_header_errors(TOKEN_HEADER, token), *_header_errors(IDEMPOTENCY_HEADER, key)]
    if payload is None:
        payload, body_errors = _validate(parsed)
        errors += body_errors
    if errors:
        raise RequestValidationError(errors)
    assert payload is not None
    return VoteRequest(payload, principal, token, key)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _bearer_credentials(authorization: str) -> HTTPAuthorizationCredentials | None:
    """The API key in `Authorization: Bearer <key>`, as the other routes' HTTPBearer(
    auto_error=False) reads it: None for another scheme, or no credentials."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


def _is_json(content_type: bytes | None) -> bool:
    """FastAPI's test of a body's declared type; a missing type is not JSON."""
    if content_type == b"application/json":
        return True
    if content_type is None:
        return False
    message = Message()
    message["content-type"] = content_type.decode("latin-1")
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _json_body(body: bytes) -> Any:
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as e:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", e.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": e.msg},
                }
            ],
            body=e.doc,
        ) from e
    except (UnicodeDecodeError, RecursionError) as e:
        raise _unreadable(e) from e
    except ValueError as e:  # an integer longer than Python reads, or another refusal
        unreadable = unreadable_body(e)
        if unreadable is None:
            raise
        raise unreadable from e
    # JSON may escape half of a UTF-16 pair ("\\ud800"), which `json.loads` keeps as a lone
    # surrogate: no character, so no UTF-8 to store or hash. Checked here, where only bodies
    # pydantic's own parser refused arrive, so the accepted path pays nothing for it.
    halves = [
        {
            "type": "string_unicode",
            "loc": ("body", *where),
            "msg": HALF_SURROGATE,
            "input": None,
        }
        for where in _lone_surrogates(parsed, ())
    ]
    if halves:
        raise RequestValidationError(halves)
    return parsed


def _lone_surrogates(value: Any, where: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    """Where in a parsed JSON value a string holds a lone surrogate (a key that holds one:
    the object's place, as the key itself could not be written in the answer)."""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _lone_surrogates(key, where)
            yield from _lone_surrogates(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _lone_surrogates(item, (*where, index))


def _too_deep(refused: ValidationError) -> bool:
    """pydantic's parser stops at a fixed depth (200 levels), where `json.loads` depends on
    how deep Python's stack already is: decided here, so the answer does not vary."""
    first = refused.errors(include_url=False)[0]
    return first["type"] == "json_invalid" and "recursion limit" in first["msg"]


def _unreadable(cause: BaseException) -> Exception:
    """The answer every other route gives to a body its decoder gave up on: bytes that are
    not UTF-8, or nesting deeper than a parser recurses."""
    unreadable = unreadable_body(cause)
    assert unreadable is not None
    return unreadable


def _validate(parsed: Any) -> tuple[FeedbackCreate | None, list[dict[str, Any]]]:
    if parsed is _MISSING:
        return None, [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
    try:
        return FeedbackCreate.model_validate(parsed, from_attributes=True), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        return None, [{**err, "loc": ("body", *err["loc"])} for err in errors]


_HEADER_VALUES = {
    name: TypeAdapter(Annotated[str, Field(max_length=limit)]) for name, limit in _LIMITS.items()
}


def _header_errors(name: str, value: str | None) -> list[dict[str, Any]]:
    if value is None or len(value) <= _LIMITS[name]:
        return []
    try:
        _HEADER_VALUES[name].validate_python(value)
    except ValidationError as exc:
        return [{**err, "loc": ("header", name)} for err in exc.errors(include_url=False)]
    return []


def _schema() -> dict[str, Any]:
    schema = FeedbackCreate.model_json_schema()
    assert "$defs" not in schema, "nested models need components of their own"
    return schema


def _header_doc(name: str, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "anyOf": [{"type": "string", "maxLength": _LIMITS[name]}, {"type": "null"}],
        "title": name,
    }
    doc: dict[str, Any] = {"name": name, "in": "header", "required": False, "schema": schema}
    if description:
        schema["description"] = doc["description"] = description
    return doc


# What FastAPI would document for the parameters the route reads itself.
VOTE_OPENAPI: dict[str, Any] = {
    "security": [{"HTTPBearer": []}, {"APIKeyHeader": []}],
    "parameters": [
        _header_doc(TOKEN_HEADER),
        _header_doc(
            IDEMPOTENCY_HEADER,
            "Retry with the same key: the first answer returns, nothing is written twice.",
        ),
    ],
    "requestBody": {"required": True, "content": {"application/json": {"schema": _schema()}}},
}
