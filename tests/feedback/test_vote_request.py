"""The vote route reads its body and headers itself: every answer must be the one FastAPI's
own handling of the same declaration gives.

The reference: a FastAPI app with the route declared the usual way (the body as a
FeedbackCreate parameter, the two headers as Header parameters, the API key through the
same security dependency) and the app's own error handlers. For each request below, the
real route's answer to a refused vote is compared with the reference's, word for word.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Response
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import asyncpg

from feedback_api.auth.keys import Principal, authenticate
from feedback_api.auth.tokens import TOKEN_MAX_LENGTH
from feedback_api.exception_handlers import install_error_handlers
from feedback_api.exceptions import AppError, InvalidInput, NotFound
from feedback_api.feedback.http import validate_json_body
from feedback_api.feedback.repository import SUBMIT_VOTES, _submit_votes
from feedback_api.feedback.schemas import (
    ITEM_FIELDS,
    BatchItemResult,
    BatchResult,
    FeedbackCreate,
    FeedbackOut,
    answer_fields,
    batch_result_json,
    feedback_json,
)
from feedback_api.feedback.service import validated_items
from feedback_api.feedback.view import ANSWER_COLUMNS
from feedback_api.idempotency.http import IdempotencyKeyHeader
from feedback_api.kit.fields import python_checks_needed
from tests.helpers import exchange

KEYS = "ingest:ingest-key-0123456789,read:read-key-0123456789"


def reference_app(settings: Any) -> FastAPI:
    """The vote route as FastAPI would parse it, answering 418 once everything is valid."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/feedback")
    async def vote(
        payload: FeedbackCreate,
        principal: Annotated[Principal | None, Depends(authenticate)],
        token: Annotated[
            str | None, Header(alias="X-Feedback-Token", max_length=TOKEN_MAX_LENGTH)
        ] = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        return Response(status_code=418)

    async def served(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "state": {"settings": settings}}, receive, send)

    return served  # type: ignore[return-value]


BODIES: list[bytes] = [
    b"{not json",
    b"",
    b"[1, 2, 3]",
    b"null",
    b'{"rating": 1}',
    b'{"request_id": "r", "rating": 7}',
    b'{"request_id": "a\nb", "rating": 1}',
    b'{"request_id": "r", "rating": 1} x',
    b'{"query": "q", "response": "r", "model": "m", "rating": 1.0}',
    b'{"query": "q", "response": "r", "rating": 1}',
    b'{"request_id": "r", "rating": 1, "intent": "x"}',
    b'{"query": "q", "response": "r", "model": "m", "rating": 1, "is_helpful": "yes"}',
    b'{"query": "q", "response": "r", "model": "m", "created_at": "nope", "stars": 9}',
    json.dumps(exchange(user_id="u" * 300)).encode(),
    # Texts that are checked in pydantic's core on the accepted path, refused.
    json.dumps(exchange(model="   ", request_id=" " + "r" * 129)).encode(),
    json.dumps(exchange(model=" " + "m" * 201, tools_called=["t", "  "])).encode(),
    json.dumps(exchange(query="q\x00", metadata={"k\x00": 1}, session_id="\x1f")).encode(),
    json.dumps(exchange(comment="c" * 20_001, user_id="\u3000" * 3)).encode(),
]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", None]
HEADERS: list[dict[str, str]] = [
    {},
    {"x-feedback-token": "t" * (TOKEN_MAX_LENGTH + 1)},
    {"idempotency-key": "k" * 256, "x-feedback-token": "t" * (TOKEN_MAX_LENGTH + 1)},
    {"x-api-key": "nope"},
    {"authorization": "Basic ingest-key-0123456789"},
    {"authorization": "Bearer ingest-key-0123456789", "idempotency-key": "k" * 256},
]


@pytest.mark.parametrize("keyed", [False, True])
async def test_refusals_are_fastapis_own(make_client: Any, keyed: bool) -> None:
    options = {"api_keys": KEYS} if keyed else {}
    async with make_client(**options) as client:
        reference = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=reference_app(client.state["settings"])),
            base_url="http://test",
        )
        compared = 0
        for body in BODIES:
            for content_type in CONTENT_TYPES:
                for headers in HEADERS:
                    sent = {**headers, **({"content-type": content_type} if content_type else {})}
                    expected = await reference.post("/v1/feedback", content=body, headers=sent)
                    if expected.status_code == 418:  # valid: the real route writes it
                        continue
                    answer = await client.post("/v1/feedback", content=body, headers=sent)
                    assert (answer.status_code, answer.json()) == (
                        expected.status_code,
                        expected.json(),
                    ), (body, sent)
                    compared += 1
        await reference.aclose()
    assert compared > 200


# Every character Python's `str.strip` or pydantic's core strips, NUL, and some that neither
# strips.
EDGES = [*" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f"]
EDGES += ["\u3000", "\x00", "\u200b", "\ufeff", "\u180e", "x"]


def test_texts_are_judged_alike_in_pydantics_core_and_in_python() -> None:
    """The accepted path's one validation gives FeedbackCreate's own values (or refuses, and
    FeedbackCreate's errors are answered): stripping, lengths and NUL on every text."""
    compared = 0
    for c in EDGES:
        for texts in (
            {"model": f"{c}m{c}", "intent": c * 3, "request_id": f"{c}r", "query": f"q{c}"},
            {"project": f"{c}{'p' * 200}{c}", "user_id": f"{c}u", "session_id": c},
            {"tools_called": [f"{c}t{c}"], "metadata": {f"k{c}": c}, "sources_used": [c]},
            {"comment": f"{c}c{c}", "correction": c, "response": c * 2},
        ):
            for ascii_only in (True, False):
                body = json.dumps(exchange(rating=1, **texts), ensure_ascii=ascii_only).encode()
                try:
                    expected: Any = FeedbackCreate.model_validate_json(body).model_dump()
                except ValidationError:
                    expected = None
                try:
                    got: Any = validate_json_body(body).model_dump()
                except ValidationError:
                    got = None  # answered from FeedbackCreate's own validation
                assert got in (expected, None), (c, texts)
                if c not in "\x00\x1c\x1d\x1e\x1f":
                    assert got == expected, (c, texts)
                compared += expected is not None
                # A batch's items, parsed as the batch route parses them.
                items = validated_items([json.loads(body)], not python_checks_needed(body))
                assert [p.model_dump() for p in items or []] == ([expected] if expected else [])
    assert compared > 100


def test_the_answer_is_feedback_outs_json() -> None:
    now = datetime.now(UTC)
    cases: list[tuple[bool, dict[str, Any]]] = [
        (True, {}),
        (False, {"stars": 2, "reasons": ["wrong"], "comment": "caf\u00e9 \u2603"}),
        (True, {"metadata": {"a": [1, 2.5, {"b": None}], "c": "\U0001f600"}}),
    ]
    for is_helpful, extra in cases:
        view: dict[str, Any] = {
            "id": uuid.uuid4(),
            "interaction_id": uuid.uuid4(),
            "is_helpful": is_helpful,
            "stars": None,
            "comment": None,
            "reasons": [],
            "correction": None,
            "user_id": "u1",
            "metadata": {},
            "created_at": now,
            "updated_at": now,
            "request_id": "r1",
            "query": "q",
            "response": "a",
            "model": "m",
            "intent": None,
            "project": "p",
            "session_id": None,
            **extra,
        }
        expected = FeedbackOut.model_validate(view).model_dump_json().encode()
        assert feedback_json(answer_fields(dict(view))) == expected


def test_a_batchs_answer_is_batch_results_json() -> None:
    now = datetime.now(UTC)

    def answer(**extra: Any) -> dict[str, Any]:
        return answer_fields({
            "id": uuid.uuid4(), "interaction_id": uuid.uuid4(), "is_helpful": True,
            "stars": None, "comment": None, "reasons": [], "correction": None, "user_id": None,
            "metadata": {}, "created_at": now, "updated_at": now, "request_id": "r",
            "query": "q", "response": "a", "model": "m", "intent": None, "project": None,
            "session_id": None, **extra,
        })  # fmt: skip

    outcomes: list[tuple[dict[str, Any], bool] | AppError] = [
        (answer(), True),
        InvalidInput("rating: must be +1 or -1"),
        (answer(is_helpful=False, stars=2, reasons=["x"]), False),
        NotFound("no interaction with request_id 'caf\u00e9'"),
        (answer(metadata={"a": [1, 2.5, None]}, user_id="u"), True),
    ]
    assert tuple(BatchItemResult.model_fields) == ITEM_FIELDS
    for answered in (outcomes, outcomes[1:2], []):
        results: list[dict[str, Any]] = []
        for index, outcome in enumerate(answered):
            if isinstance(outcome, AppError):
                results.append(
                    {"index": index, "status": outcome.status_code, "error": outcome.message}
                )
            else:
                code = 201 if outcome[1] else 200
                results.append({"index": index, "status": code, "feedback": outcome[0]})
        counts = [r["status"] for r in results]
        expected = BatchResult.model_validate(
            {
                "created": counts.count(201),
                "replaced": counts.count(200),
                "failed": sum(c >= 400 for c in counts),
                "results": results,
            }
        ).model_dump_json()
        assert batch_result_json(answered) == expected.encode()


def test_the_vote_statement_returns_answers_in_order() -> None:
    """The vote statement returns each vote's FeedbackOut fields in their order."""
    returned = [c.key for c in SUBMIT_VOTES.selected_columns]
    assert tuple(returned) == (*FeedbackOut.model_fields, "inserted", "allowed_reasons")
    assert tuple(FeedbackOut.model_fields) == ANSWER_COLUMNS


def test_the_frozen_vote_statement_is_the_statements_own_sql() -> None:
    """Executed as text, the vote statement sends PostgreSQL the SQL its Core form compiles
    to (parameters named alike; only their numbering may differ)."""
    dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]

    def named(compiled: Any) -> str:
        return re.sub(
            r"\$(\d+)", lambda m: ":" + compiled.positiontup[int(m.group(1)) - 1], str(compiled)
        )

    core = _submit_votes().compile(dialect=dialect)
    frozen = SUBMIT_VOTES.compile(dialect=dialect)
    assert named(frozen) == named(core)
    assert [c.key for c in SUBMIT_VOTES.selected_columns] == [
        c.key for c in _submit_votes().selected_columns
    ]
