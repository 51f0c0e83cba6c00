"""JSON values and texts the API stores: every one it accepts can be stored, read back and
answered; what it cannot is refused with a 422 that says why, on every route alike."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.kit.db import json_value
from feedback_api.kit.fields import JSON_MAX_DEPTH
from tests.helpers import count, exchange

JSON = {"content-type": "application/json"}


def nested(depth: int) -> Any:
    """A JSON value of `depth` levels of objects and arrays: {"a": [{"a": [...]}]}."""
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def _posts(field: str, value: Any, request_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) of each route that writes exchanges, the field set to `value`; each body
    an exchange of its own (`request_id`-0 to -3)."""

    def item(n: int) -> dict[str, Any]:
        return exchange(request_id=f"{request_id}-{n}", **{field: value})

    return [
        ("/v1/feedback", {**item(0), "rating": 1}),
        ("/v1/feedback/batch", {"items": [{**item(1), "rating": 1}]}),
        ("/v1/interactions", item(2)),
        ("/v1/interactions/batch", {"items": [item(3)]}),
    ]


def _refusal(r: httpx.Response) -> str:
    """Why a request, or the one item of a batch, was refused (422)."""
    body = r.json()
    if r.status_code == 200 and "results" in body:  # a batch: its item's own refusal
        [item] = body["results"]
        assert item["status"] == 422 and body["failed"] == 1, item
        return str(item["error"])
    assert r.status_code == 422, (r.status_code, r.text)
    return str(body["detail"])


@pytest.mark.parametrize("field", ["metadata", "sources_used"])
async def test_json_nested_deeper_than_the_limit_is_refused_on_every_route(
    client: httpx.AsyncClient, engine: AsyncEngine, field: str
) -> None:
    # Deep enough for Python's parser, too deep for pydantic's (200 levels), which reads
    # the stored value back: once accepted and stored, then answered with a 500.
    for depth in (JSON_MAX_DEPTH + 1, 300):
        value = nested(depth) if field == "sources_used" else {"x": nested(depth - 1)}
        for path, body in _posts(field, value, f"deep-{field}-{depth}"):
            r = await client.post(path, content=json.dumps(body), headers=JSON)
            detail = _refusal(r)
            # The vote route reads its body with pydantic's parser, which stops at 200
            # levels: a body that deep is unreadable JSON to it, before any field is read.
            unreadable = path == "/v1/feedback" and depth >= 200
            expected = "nest too deeply" if unreadable else f"nested more than {JSON_MAX_DEPTH}"
            assert expected in detail, (path, detail)
    assert await count(engine, "feedback") == 0
    assert await count(engine, "interactions") == 0


async def test_json_at_the_limit_is_stored_and_read_back(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    metadata = {"x": nested(JSON_MAX_DEPTH - 1)}
    for path, body in _posts("metadata", metadata, "at-the-limit"):
        r = await client.post(path, json=body)
        assert r.status_code in (200, 201), r.text
    listed = (await client.get("/v1/feedback", params={"limit": 10})).json()
    assert {json.dumps(item["metadata"]) for item in listed["items"]} == {json.dumps(metadata)}


async def test_a_value_stored_deeper_than_the_parsers_limit_is_still_read(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # Written before the limit (or by another tool), deeper than pydantic's parser reads (200
    # levels): reads fall back to Python's parser.
    r = await client.post("/v1/feedback", json=exchange(request_id="old-deep", rating=1))
    assert r.status_code == 201, r.text
    deep = nested(230)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE feedback SET metadata = CAST(:m AS jsonb)"), {"m": json.dumps({"x": deep})}
        )
    r = await client.get("/v1/feedback")
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["metadata"] == {"x": deep}
    assert json_value(json.dumps(deep)) == deep


@pytest.mark.parametrize(
    "field", ["intent", "model", "project", "user_id", "session_id", "query", "response"]
)
async def test_half_of_a_surrogate_pair_in_a_text_is_refused_on_every_route(
    client: httpx.AsyncClient, engine: AsyncEngine, field: str
) -> None:
    for path, body in _posts(field, "\ud800", f"surrogate-{field}"):
        # json.dumps writes the lone half as the escape "\ud800", as a client would send it.
        r = await client.post(path, content=json.dumps(body), headers=JSON)
        detail = _refusal(r)
        # The same words on every route, for every text (pydantic's own for some of them
        # said "unable to parse raw data as a unicode string").
        assert "half of a UTF-16 surrogate pair" in detail, (path, detail)
    assert await count(engine, "feedback") == 0
    assert await count(engine, "interactions") == 0


async def test_half_of_a_surrogate_pair_in_metadata_is_refused_on_every_route(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for key, value in (("note", "\udfff"), ("\ud800", "v")):
        for path, body in _posts("metadata", {key: value}, f"surrogate-{len(key)}"):
            r = await client.post(path, content=json.dumps(body), headers=JSON)
            assert "surrogate" in _refusal(r), path
    # A whole pair (an emoji, as JSON writers escape it) is a character like any other.
    for path, body in _posts("metadata", {"mood": "\U0001f600"}, "pair"):
        r = await client.post(path, content=json.dumps(body), headers=JSON)
        assert r.status_code in (200, 201), r.text
        assert "results" not in r.json() or r.json()["failed"] == 0, r.text
    assert await count(engine, "interactions") == 4


async def test_a_number_that_jsonb_writes_back_otherwise_is_the_same_exchange(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # jsonb keeps 1e23's decimal digits: it reads back as the integer 10**23, not the double
    # sent. The same exchange sent again is no conflict, nor is the first time it is sent.
    for path, body in _posts("metadata", {"x": 1e23, "y": [1.5e300, 0.1]}, "big-number"):
        for _ in range(2):
            r = await client.post(path, json=body)
            assert r.status_code in (200, 201), (path, r.text)
            answer = r.json()
            assert "results" not in answer or answer["failed"] == 0, (path, r.text)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_nan_or_infinity_in_json_fields_is_refused_on_every_route(
    client: httpx.AsyncClient, engine: AsyncEngine, number: str
) -> None:
    # Python's and pydantic's JSON parsers read these; JSON and PostgreSQL's jsonb have none.
    for path, body in _posts("metadata", {"x": [1.5, "MARK"]}, f"nan-{number}"):
        content = json.dumps(body).replace('"MARK"', number)
        detail = _refusal(await client.post(path, content=content, headers=JSON))
        assert "NaN or Infinity" in detail, (path, detail)
    assert await count(engine, "feedback") == 0
    assert await count(engine, "interactions") == 0


async def test_an_integer_longer_than_python_reads_is_an_unreadable_body(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for path, body in _posts("metadata", {"x": "MARK"}, "long-integer"):
        content = json.dumps(body).replace('"MARK"', "1" * 5000)
        r = await client.post(path, content=content, headers=JSON)
        assert r.status_code == 422, (path, r.text)
        assert "integer of thousands of digits" in r.json()["detail"], (path, r.text)
    assert await count(engine, "interactions") == 0


async def test_true_and_1_are_not_the_same_exchange(client: httpx.AsyncClient) -> None:
    body = exchange(request_id="flag", metadata={"x": True})
    assert (await client.post("/v1/interactions", json=body)).status_code == 201
    again = await client.post("/v1/interactions", json={**body, "metadata": {"x": 1}})
    assert again.status_code == 409 and "metadata" in again.json()["detail"], again.text
