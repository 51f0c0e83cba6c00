"""POST /v1/interactions/batch: many exchanges in one statement, one result per item, and
the request_id as each item's idempotency key."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange

SECRET = "s3cr3t-" + "y" * 40
KEYS = "ingest:ingest-key-0123456789,read:read-key-0123456789"


async def batch(client: httpx.AsyncClient, items: list[Any], **kwargs: Any) -> dict[str, Any]:
    r = await client.post("/v1/interactions/batch", json={"items": items}, **kwargs)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_one_result_per_item(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    items = [
        exchange(request_id="a", user_id="u1", tools_called=["rag"], metadata={"k": [1, 2]}),
        exchange(request_id="b", sources_used=[{"doc": "x.md", "score": 0.5}], memory_used=0.1),
        exchange(request_id="a", user_id="u1", tools_called=["rag"], metadata={"k": [1, 2]}),
        exchange(request_id="b", response="something else"),
        exchange(request_id="c", response_time_ms=-1),
        exchange(request_id="d", created_at=future),
        "not an object",
        exchange(),  # no request_id: one is generated
    ]
    data = await batch(client, items)
    assert [r["status"] for r in data["results"]] == [201, 201, 200, 409, 422, 422, 422, 201]
    assert [r["index"] for r in data["results"]] == list(range(len(items)))
    assert (data["created"], data["existing"], data["failed"]) == (3, 1, 4)
    first, _, again, conflict, negative, later, _, generated = data["results"]
    assert again["interaction"]["id"] == first["interaction"]["id"]
    assert again["interaction"]["created"] is False
    assert "'b'" in conflict["error"] and "response" in conflict["error"]
    assert "response_time_ms" in negative["error"]
    assert "future" in later["error"]
    assert generated["interaction"]["request_id"]
    assert await count(engine, "interactions") == 3
    stored = (await client.get(f"/v1/interactions/{first['interaction']['id']}")).json()
    assert (stored["user_id"], stored["tools_called"], stored["metadata"]) == (
        "u1",
        ["rag"],
        {"k": [1, 2]},
    )


async def test_a_retried_batch_stores_nothing_twice(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    when = "2026-03-01T08:30:00.123456+01:00"
    items = [
        exchange(
            request_id=f"r{i}",
            user_id=f"u{i % 3}",
            session_id="s",
            response_time_ms=i,
            memory_used=i / 7,
            sources_used={"docs": [i, "a"]},
            created_at=when if i % 2 else None,
        )
        for i in range(50)
    ]
    first = await batch(client, items)
    assert first["created"] == 50
    # A retry after a timeout (the answer was lost): the same items again, in another order.
    again = await batch(client, list(reversed(items)))
    assert (again["created"], again["existing"], again["failed"]) == (0, 50, 0)
    ids = {r["interaction"]["request_id"]: r["interaction"]["id"] for r in first["results"]}
    assert {r["interaction"]["request_id"]: r["interaction"]["id"] for r in again["results"]} == ids
    assert await count(engine, "interactions") == 50


async def test_an_exchange_logged_alone_is_already_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    single = (await client.post("/v1/interactions", json=exchange(request_id="one"))).json()
    data = await batch(client, [exchange(request_id="one"), exchange(request_id="two")])
    assert [r["status"] for r in data["results"]] == [200, 201]
    assert data["results"][0]["interaction"]["id"] == single["id"]
    # Votes find the exchanges of a batch by request_id.
    vote = {"request_id": "two", "is_helpful": True, "user_id": "u"}
    assert (await client.post("/v1/feedback", json=vote)).status_code == 201
    assert await count(engine, "interactions") == 2


async def test_limits(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    empty = await client.post("/v1/interactions/batch", json={"items": []})
    assert empty.status_code == 422 and "items" in empty.json()["detail"]
    over = {"items": [exchange(request_id=f"o{i}") for i in range(1001)]}
    refused = await client.post("/v1/interactions/batch", json=over)
    assert refused.status_code == 422 and "1000" in refused.json()["detail"]
    assert (await client.post("/v1/interactions/batch", json=[exchange()])).status_code == 422
    assert await count(engine, "interactions") == 0
    full = await batch(client, over["items"][:1000])
    assert full["created"] == 1000
    assert await count(engine, "interactions") == 1000


async def test_concurrent_overlapping_batches_store_each_exchange_once(
    make_client: Any, engine: AsyncEngine
) -> None:
    items = [exchange(request_id=f"x{i}", user_id="u") for i in range(200)]
    shuffled = [random.Random(seed).sample(items, len(items)) for seed in range(6)]
    async with make_client() as client:
        answers = await asyncio.gather(*(batch(client, order) for order in shuffled))
    assert sum(a["created"] for a in answers) == 200
    assert all(a["failed"] == 0 for a in answers)
    assert await count(engine, "interactions") == 200


async def test_tokens_and_pseudonyms(make_client: Any, engine: AsyncEngine) -> None:
    ingest = {"Authorization": "Bearer ingest-key-0123456789"}
    options = {"api_keys": KEYS, "secret_key": SECRET, "pseudonymize_users": True}
    async with make_client(**options) as client:
        missing = await client.post("/v1/interactions/batch", json={"items": [exchange()]})
        assert missing.status_code == 401
        read = {"X-API-Key": "read-key-0123456789"}
        wrong = await client.post(
            "/v1/interactions/batch", json={"items": [exchange()]}, headers=read
        )
        assert wrong.status_code == 403
        items = [exchange(request_id="p1", user_id="alice", session_id="s1")]
        first = await batch(client, items, headers=ingest)
        # Stored as pseudonyms, a retry is still the same exchange.
        again = await batch(client, items, headers=ingest)
        assert again["results"][0]["status"] == 200
        token = first["results"][0]["interaction"]["feedback_token"]
        assert token
        vote = {"request_id": "p1", "is_helpful": True, "user_id": "alice"}
        voted = await client.post("/v1/feedback", json=vote, headers={"X-Feedback-Token": token})
        assert voted.status_code == 201, voted.text
    assert await count(engine, "interactions", "user_id = 'alice'") == 0
    assert await count(engine, "interactions") == 1


async def test_a_batch_is_one_statement(make_client: Any) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async with make_client() as client:
        engine = client.state["engine"].sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            items = [exchange(request_id=f"s{i}") for i in range(500)]
            data = await batch(client, items)
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert data["created"] == 500
    # One statement writes the exchanges (and, in a CTE of its own, their analytics changes).
    inserts = [s for s in statements if "INSERT INTO interactions" in s]
    assert len(inserts) == 1, statements
    assert "INSERT INTO analytics_changes" in inserts[0]
    assert "json_to_recordset" in inserts[0] and "ON CONFLICT" in inserts[0]


async def test_a_batch_with_an_idempotency_key_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # The key would not be kept for a batch: a retry with it would write again whatever has
    # no request_id. Refused, with what makes a batch safe to send again.
    headers = {"Idempotency-Key": "batch-1"}
    for path, item in (
        ("/v1/interactions/batch", exchange()),
        ("/v1/feedback/batch", exchange(rating=1)),
    ):
        r = await client.post(path, json={"items": [item]}, headers=headers)
        assert r.status_code == 422 and "request_id" in r.json()["detail"], (path, r.text)
    assert await count(engine, "interactions") == 0


async def test_an_item_that_is_not_an_object_is_said_so_in_plain_words(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/v1/interactions/batch", "/v1/feedback/batch"):
        r = await client.post(path, json={"items": [exchange(rating=1), 42]})
        # Refused alone, in its result; the object beside it is stored.
        assert r.status_code == 200, r.text
        assert [item["status"] for item in r.json()["results"]][1] == 422, (path, r.text)
        text = r.text
        assert "JSON object" in text and "Create" not in text, (path, text)
