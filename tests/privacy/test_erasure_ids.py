"""Every user_id a write stores can be erased and filtered by, and every request_id can get
a feedback token: one holding a slash (sent as %2F), or sent with spaces around it (which
writes strip)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import count, exchange


async def test_a_user_id_with_a_slash_is_erased(client: httpx.AsyncClient, engine: Any) -> None:
    body = exchange(request_id="slash-1", user_id="team/alice", rating=1)
    assert (await client.post("/v1/feedback", json=body)).status_code == 201
    listed = await client.get("/v1/feedback", params={"user_id": "team/alice"})
    assert [v["user_id"] for v in listed.json()["items"]] == ["team/alice"]
    erased = await client.delete("/v1/users/team%2Falice")
    assert erased.status_code == 200, erased.text
    assert (erased.json()["interactions_deleted"], erased.json()["feedback_deleted"]) == (1, 1)
    assert await count(engine, "interactions") == 0


async def test_a_user_id_sent_with_spaces_is_erased_and_found_as_sent(
    client: httpx.AsyncClient, engine: Any
) -> None:
    body = exchange(request_id="spaced-1", user_id="  spaced-user \t", rating=1)
    assert (await client.post("/v1/feedback", json=body)).status_code == 201
    listed = await client.get("/v1/feedback", params={"user_id": " spaced-user "})
    assert [v["user_id"] for v in listed.json()["items"]] == ["spaced-user"]
    erased = await client.delete("/v1/users/%20%20spaced-user%20")
    deleted = (erased.json()["interactions_deleted"], erased.json()["feedback_deleted"])
    assert deleted == (1, 1), erased.text
    assert await count(engine, "feedback") == 0


async def test_a_request_id_with_a_slash_gets_a_feedback_token(make_client: Any) -> None:
    async with make_client(secret_key="s" * 32) as client:
        body = exchange(request_id="chat/42")
        assert (await client.post("/v1/interactions", json=body)).status_code == 201
        r = await client.post("/v1/interactions/chat%2F42/token")
        assert r.status_code == 200, r.text
        assert r.json()["request_id"] == "chat/42"
        unknown = await client.post("/v1/interactions/chat%2F43/token")
        assert unknown.status_code == 404, unknown.text


async def test_an_erasure_that_finds_nothing_says_so(client: httpx.AsyncClient) -> None:
    body = exchange(request_id="kept-1", user_id="alice", rating=1)
    assert (await client.post("/v1/feedback", json=body)).status_code == 201
    r = await client.delete("/v1/users/alice/")  # the trailing slash is part of the id
    assert r.status_code == 200, r.text
    assert r.json()["interactions_deleted"] == 0 and "nothing is stored" in r.json()["note"]
