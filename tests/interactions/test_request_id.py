"""The chat backend's request_id: looked up, filtered by, and one exchange under it."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange


async def test_an_exchange_is_found_by_its_request_id(client: httpx.AsyncClient) -> None:
    logged = (await client.post("/v1/interactions", json=exchange(request_id="chat-7"))).json()
    await client.post("/v1/interactions", json=exchange(request_id="chat-8"))

    r = await client.get("/v1/interactions", params={"request_id": " chat-7 "})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == logged["id"] and r.json()["request_id"] == "chat-7"
    assert r.json() == (await client.get(f"/v1/interactions/{logged['id']}")).json()


async def test_an_unknown_request_id_is_a_404_saying_how_to_log_it(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/v1/interactions", params={"request_id": "never-sent"})
    assert r.status_code == 404
    assert r.json()["detail"] == (
        "no interaction with request_id 'never-sent': log it first with POST /v1/interactions "
        "or POST /v1/traces"
    )
    r = await client.get("/v1/interactions")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "request_id"


async def test_a_request_id_in_place_of_an_id_says_to_use_the_lookup(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/interactions", json=exchange(request_id="chat 9+a"))
    r = await client.get("/v1/interactions/chat%209%2Ba")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "interaction_id"
    assert r.json()["detail"] == (
        "interaction_id: 'chat 9+a' is not an interaction id (a UUID this API returned); to "
        "look an exchange up by your own request_id, use "
        "GET /v1/interactions?request_id=chat%209%2Ba"
    )
    # The address it gives answers.
    r = await client.get("/v1/interactions?request_id=chat%209%2Ba")
    assert r.status_code == 200 and r.json()["request_id"] == "chat 9+a"
    r = await client.get(f"/v1/interactions/{uuid.uuid4()}")
    assert r.status_code == 404  # a well-formed id of nothing stays a 404


async def test_feedback_is_filtered_by_request_id(client: httpx.AsyncClient) -> None:
    for request_id in ("chat-1", "chat-2"):
        await client.post("/v1/interactions", json=exchange(request_id=request_id))
    for user, request_id in (("ann", "chat-1"), ("bob", "chat-1"), ("ann", "chat-2")):
        body = {"request_id": request_id, "is_helpful": True, "user_id": user}
        assert (await client.post("/v1/feedback", json=body)).status_code == 201
    page = (await client.get("/v1/feedback", params={"request_id": "chat-1"})).json()
    assert sorted(item["user_id"] for item in page["items"]) == ["ann", "bob"]
    assert {item["request_id"] for item in page["items"]} == {"chat-1"}
    page = (await client.get("/v1/feedback", params={"request_id": "chat-3"})).json()
    assert page["items"] == []
    both = (await client.get("/v1/feedback", params={"request_id": "chat-2", "q": "hello"})).json()
    assert [item["user_id"] for item in both["items"]] == ["ann"]


async def test_a_different_exchange_under_a_stored_request_id_is_a_409_as_in_a_batch(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await client.post("/v1/interactions", json=exchange(request_id="chat-5"))
    assert first.status_code == 201
    changed = exchange(request_id="chat-5", response="another answer", model="other-model")
    single = await client.post("/v1/interactions", json=changed)
    batch = await client.post("/v1/interactions/batch", json={"items": [changed]})
    assert single.status_code == 409
    assert single.json()["code"] == "conflict"
    # One comparison for both routes: the same sentence, naming the fields that differ.
    assert single.json()["detail"] == batch.json()["results"][0]["error"]
    assert "(response, model differ)" in single.json()["detail"]
    stored = (await client.get("/v1/interactions", params={"request_id": "chat-5"})).json()
    assert stored["response"] == exchange()["response"]
    assert await count(engine, "interactions") == 1
    # The same exchange again is still answered as stored.
    again = await client.post("/v1/interactions", json=exchange(request_id="chat-5"))
    assert again.status_code == 200 and again.json()["created"] is False
