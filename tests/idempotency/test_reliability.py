"""Ingestion that tolerates the real network: retries, concurrency, acknowledged = committed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange


async def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Idempotency-Key": "vote-1"}
    first = await client.post("/v1/feedback", json=exchange(rating=1), headers=headers)
    again = await client.post("/v1/feedback", json=exchange(rating=1), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(engine, "feedback") == 1 and await count(engine, "interactions") == 1

    other = await client.post("/v1/feedback", json=exchange(rating=-1), headers=headers)
    assert other.status_code == 422 and "different request" in other.json()["detail"]


async def test_interactions_take_idempotency_keys_too(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Idempotency-Key": "log-1"}
    first = await client.post("/v1/interactions", json=exchange(), headers=headers)
    again = await client.post("/v1/interactions", json=exchange(), headers=headers)
    assert first.json() == again.json() and first.status_code == again.status_code == 201
    assert await count(engine, "interactions") == 1


async def test_concurrent_retries_write_once(make_client: Any, engine: AsyncEngine) -> None:
    async with make_client() as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/feedback",
                    json=exchange(rating=1, user_id="u"),
                    headers={"Idempotency-Key": "burst"},
                )
                for _ in range(12)
            )
        )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(engine, "feedback") == 1 and await count(engine, "interactions") == 1


async def test_failed_requests_are_not_remembered(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "too-early"}
    body = {"request_id": "later", "is_helpful": True}
    assert (await client.post("/v1/feedback", json=body, headers=headers)).status_code == 404
    await client.post("/v1/interactions", json=exchange(request_id="later"))
    assert (await client.post("/v1/feedback", json=body, headers=headers)).status_code == 201


async def test_32_concurrent_clients_every_2xx_is_a_committed_row(
    make_client: Any, engine: AsyncEngine
) -> None:
    acknowledged: list[str] = []

    async def client_loop(client: httpx.AsyncClient, n: int) -> None:
        for i in range(8):
            r = await client.post(
                "/v1/feedback", json=exchange(rating=1, request_id=f"c{n}-{i}", user_id=f"u{n}")
            )
            if 200 <= r.status_code < 300:
                acknowledged.append(r.json()["id"])

    async with make_client(pool_size=8, max_overflow=4) as client:
        await asyncio.gather(*(client_loop(client, n) for n in range(32)))
    assert len(acknowledged) == 32 * 8
    assert await count(engine, "feedback") == len(set(acknowledged)) == 256
    assert await count(engine, "interactions") == 256


async def test_old_idempotency_keys_are_forgotten(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from feedback_api.idempotency.repository import forget_older_than

    await client.post("/v1/feedback", json=exchange(rating=1), headers={"Idempotency-Key": "old"})
    await client.post("/v1/feedback", json=exchange(rating=1), headers={"Idempotency-Key": "new"})
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '2 days' "
                "WHERE key = 'old'"
            )
        )
    async with async_sessionmaker(engine)() as session, session.begin():
        assert await forget_older_than(session, 24) == 1
    assert await count(engine, "idempotency_keys") == 1


async def test_a_lone_surrogate_is_the_same_422_with_an_idempotency_key(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """JSON may escape half of a UTF-16 pair (`\\ud800`), which is no character: the vote
    is refused alike with and without a key, and the key stays unused."""
    body = b'{"request_id": "\\ud800", "is_helpful": true}'
    json_type = {"Content-Type": "application/json"}
    plain = await client.post("/v1/feedback", content=body, headers=json_type)
    keyed = await client.post(
        "/v1/feedback", content=body, headers={**json_type, "Idempotency-Key": "half-a-pair"}
    )
    assert plain.status_code == keyed.status_code == 422
    assert keyed.json() == plain.json()
    assert plain.json()["errors"] == [
        {
            "field": "request_id",
            "message": "Text must be valid Unicode: it holds half of a UTF-16 surrogate pair "
            "(\\ud800-\\udfff) without its other half",
            "type": "string_unicode",
        }
    ]
    # The same in a key of the body: the answer names the object, not the key.
    odd_key = b'{"request_id": "r", "is_helpful": true, "metadata": {"\\udfff": 1}}'
    answer = await client.post(
        "/v1/feedback", content=odd_key, headers={**json_type, "Idempotency-Key": "odd-key"}
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "metadata"
    assert await count(engine, "idempotency_keys") == 0
