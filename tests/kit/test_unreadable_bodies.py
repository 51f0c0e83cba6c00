"""Every body the API cannot read is a 422 in the one error shape, saying what to mend."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.exceptions import describe_validation_errors
from tests.helpers import count, exchange

JSON = {"content-type": "application/json"}


def _error(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"detail", "code", "errors"}
    assert body["code"] == "invalid_input"
    return body


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'{"query": "q",\n "rating": 1,,}', "the body is not valid JSON: "),
        (b"{not json", "the body is not valid JSON: "),
    ],
)
async def test_malformed_json_names_the_reason_and_its_line_and_column(
    client: httpx.AsyncClient, engine: AsyncEngine, content: bytes, detail: str
) -> None:
    body = _error(await client.post("/v1/feedback", content=content, headers=JSON))
    assert body["detail"].startswith(detail)
    assert body["errors"] == [{"field": "body", "message": body["detail"], "type": "json_invalid"}]
    assert await count(engine, "feedback") == 0


async def test_the_line_and_column_are_where_the_json_breaks(client: httpx.AsyncClient) -> None:
    content = b'{"query": "q",\n "rating": 1,,}'
    body = _error(await client.post("/v1/feedback", content=content, headers=JSON))
    with pytest.raises(json.JSONDecodeError) as decoding:
        json.loads(content)
    # The json module's own words and position for the same text: the second comma.
    assert (decoding.value.lineno, decoding.value.colno) == (2, 14)
    assert body["detail"] == (
        "the body is not valid JSON: Expecting property name enclosed in double quotes "
        "at line 2 column 14"
    )


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_json_body_without_the_json_header_says_to_send_the_header(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = await client.post(
        "/v1/feedback",
        content=httpx.Request("POST", "/", json=exchange(rating=1)).content,
        headers=headers,
    )
    body = _error(r)  # no header at all as well: the framework reads JSON only when told
    assert body["detail"] == (
        "the body was not read as JSON: send it with the header content-type: application/json"
    )
    assert body["errors"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("content", "detail", "kind"),
    [
        (
            b'{"query": "caf\xe9"}',
            "the body is not valid UTF-8 (byte 0xe9 at offset 14)",
            "utf8_invalid",
        ),
        (
            gzip.compress(b'{"query": "q", "response": "a", "model": "m", "rating": 1}'),
            "the body is gzip-compressed: send JSON uncompressed",
            "body_compressed",
        ),
        (b"[" * 5000 + b"]" * 5000, "nest too deeply", "json_too_deep"),
        (
            b'{"metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
            "nest too deeply",
            "json_too_deep",
        ),
    ],
)
async def test_bytes_the_decoder_gives_up_on_are_a_422_like_every_unreadable_body(
    client: httpx.AsyncClient, content: bytes, detail: str, kind: str
) -> None:
    for path in ("/v1/feedback", "/v1/interactions", "/v1/feedback/batch"):
        body = _error(await client.post(path, content=content, headers=JSON))
        if kind == "json_too_deep" and path != "/v1/feedback" and detail not in body["detail"]:
            # The framework decodes these routes' bodies with `json.loads`, whose depth limit
            # is Python's recursion limit less the stack in use, which varies with what the
            # process ran before: when it reads the body, the body is answered as read (a
            # 422 in the same shape, about the fields). The vote route's parser stops at a
            # fixed depth, so its answer is always the one below.
            assert body["errors"] and all(e["type"] != kind for e in body["errors"])
            continue
        assert detail in body["detail"]
        assert body["errors"] == [{"field": "body", "message": body["detail"], "type": kind}]


async def test_lengths_are_counted_in_characters_for_text_and_items_for_lists(
    client: httpx.AsyncClient,
) -> None:
    # A label that is only spaces: stripped, then too short.
    r = await client.post("/v1/interactions", json={**exchange(), "model": "   "})
    assert _error(r)["detail"] == "model: should have at least 1 character, not 0"
    r = await client.post("/v1/interactions", json={**exchange(), "model": "m" * 201})
    assert _error(r)["detail"] == "model: should have at most 200 characters, not 201"
    r = await client.post("/v1/interactions/batch", json={"items": []})
    assert _error(r)["detail"] == "items: should have at least 1 item, not 0"
    r = await client.get("/v1/feedback", params={"model": "m" * 300})
    assert _error(r)["detail"] == "model: should have at most 255 characters, not 300"
    # Counted after stripping where the rule says only its minimum: the count it saw.
    r = await client.post("/v1/review/queues", json={"name": " "})
    assert _error(r)["detail"] == (
        "name: should have at least 1 character besides the spaces around it, not 0"
    )


def test_every_length_message_names_its_unit() -> None:
    raw = [
        {"type": "too_short", "loc": ("body", "a"), "msg": "Value should have at least 1 item "
         "after validation, not 0", "input": "", "ctx": {"min_length": 1, "actual_length": 0}},
        {"type": "string_too_long", "loc": ("query", "b"), "msg": "String should have at most 2 "
         "characters", "input": "abc", "ctx": {"max_length": 2}},
        {"type": "too_long", "loc": ("body", "c"), "msg": "List should have at most 1 item after "
         "validation, not 2", "input": [1, 2], "ctx": {"max_length": 1, "actual_length": 2}},
    ]  # fmt: skip
    _, errors = describe_validation_errors(raw)
    assert [e["message"] for e in errors] == [
        "should have at least 1 character, not 0",
        "should have at most 2 characters, not 3",
        "should have at most 1 item, not 2",
    ]


async def test_an_oversized_body_says_the_limit_and_what_can_be_done(
    make_client: Any,
) -> None:
    async with make_client(max_body_bytes=4096) as client:
        for path in ("/v1/feedback", "/v1/feedback/batch"):
            r = await client.post(path, json={"items": [exchange(rating=1, response="x" * 5000)]})
            assert r.status_code == 413
            detail = r.json()["detail"]
            assert "limit of 4096 bytes (FEEDBACK_MAX_BODY_BYTES)" in detail
            assert "batches too" in detail and "/v1/feedback/batch takes" not in detail
