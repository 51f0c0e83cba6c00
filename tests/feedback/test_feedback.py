from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.feedback.schemas import BatchResult, FeedbackOut
from tests.helpers import count, exchange

REPRESENTATION = {
    "id",
    "interaction_id",
    "request_id",
    "rating",
    "is_helpful",
    "stars",
    "reasons",
    "comment",
    "correction",
    "query",
    "response",
    "model",
    "intent",
    "project",
    "user_id",
    "session_id",
    "metadata",
    "created_at",
    "updated_at",
}


async def log(client: httpx.AsyncClient, request_id: str = "req-1", **extra: Any) -> str:
    r = await client.post("/v1/interactions", json=exchange(request_id=request_id, **extra))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_context_carrying_feedback_creates_interaction(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = exchange(
        rating=1,
        user_id="u1",
        session_id="s1",
        memory_used=3.0,
        tools_called=["rag_search"],
        metadata={"ui": "web"},
    )
    r = await client.post("/v1/feedback", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    assert set(data) == REPRESENTATION
    assert data["rating"] == 1 and data["is_helpful"] is True and data["stars"] is None
    assert data["query"] == body["query"] and data["model"] == body["model"]
    assert data["user_id"] == "u1" and data["session_id"] == "s1"
    assert await count(engine, "feedback") == 1
    assert await count(engine, "interactions") == 1
    assert (await client.get(f"/v1/feedback/{data['id']}")).json() == data


async def test_context_carrying_thumbs_down(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/feedback", json=exchange(rating=-1))
    assert r.status_code == 201
    assert r.json()["is_helpful"] is False and r.json()["rating"] == -1


async def test_context_carrying_reuses_interaction_by_request_id(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    interaction_id = await log(client, "shared")
    r = await client.post("/v1/feedback", json=exchange(request_id="shared", rating=1))
    assert r.status_code == 201
    assert r.json()["interaction_id"] == interaction_id
    assert await count(engine, "interactions") == 1


async def test_by_reference_feedback_with_stars_and_comment(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    interaction_id = await log(client, "req-7")
    body = {
        "request_id": "req-7",
        "is_helpful": False,
        "rating": 2,
        "comment": "wrong API",
        "user_id": "alice",
    }
    r = await client.post("/v1/feedback", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["interaction_id"] == interaction_id
    assert (data["is_helpful"], data["rating"], data["stars"]) == (False, -1, 2)
    assert data["comment"] == "wrong API"
    assert await count(engine, "feedback", "stars = 2 AND NOT is_helpful") == 1


async def test_by_reference_unknown_request_id_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/feedback", json={"request_id": "ghost", "is_helpful": True})
    assert r.status_code == 404
    assert "ghost" in r.json()["detail"] and "POST /v1/interactions" in r.json()["detail"]


async def test_second_vote_of_a_user_replaces_the_first(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await log(client, "r")
    first = await client.post(
        "/v1/feedback", json={"request_id": "r", "is_helpful": True, "user_id": "bob"}
    )
    second = await client.post(
        "/v1/feedback", json={"request_id": "r", "is_helpful": False, "rating": 1, "user_id": "bob"}
    )
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["is_helpful"] is False and second.json()["stars"] == 1
    assert await count(engine, "feedback") == 1
    other = await client.post(
        "/v1/feedback", json={"request_id": "r", "is_helpful": True, "user_id": "carol"}
    )
    assert other.status_code == 201
    assert await count(engine, "feedback") == 2


async def test_anonymous_votes_on_one_interaction_count_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await log(client, "anon")
    a = await client.post("/v1/feedback", json={"request_id": "anon", "is_helpful": True})
    b = await client.post("/v1/feedback", json={"request_id": "anon", "is_helpful": False})
    assert (a.status_code, b.status_code) == (201, 200)
    assert await count(engine, "feedback") == 1


async def test_concurrent_votes_by_one_user_leave_one_row(
    make_client: Any, engine: AsyncEngine
) -> None:
    async with make_client() as client:
        await log(client, "hot")
        votes = [
            client.post(
                "/v1/feedback",
                json={"request_id": "hot", "is_helpful": i % 2 == 0, "user_id": "dave"},
            )
            for i in range(20)
        ]
        responses = await asyncio.gather(*votes)
    assert all(r.status_code in (200, 201) for r in responses)
    assert sum(r.status_code == 201 for r in responses) == 1
    assert await count(engine, "feedback") == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (exchange(rating=0), "rating must be +1"),
        (exchange(rating=2), "rating must be +1"),
        (exchange(rating="1"), "rating"),
        (exchange(rating=1.5), "rating"),
        (exchange(is_helpful=True, rating=6), "rating means stars and must be 1-5"),
        (exchange(is_helpful=True, stars=6), "stars"),
        (exchange(is_helpful=True, stars=0), "stars"),
        (exchange(is_helpful="yes"), "is_helpful"),
        (exchange(), "a vote needs rating"),
        ({"query": "q", "rating": 1}, "missing: response, model"),
        ({"rating": 1}, "send either request_id"),
        ({"request_id": "r", "is_helpful": True, "intent": "code"}, "intent: these fields"),
        ({"request_id": "r", "is_helpful": True, "rating": 3, "stars": 4}, "disagree"),
        (exchange(rating=1, comment="bad \u0000"), "comment"),
        (exchange(rating=1, metadata="not an object"), "metadata"),
        (exchange(rating=1, metadata={"a": {"b\u0000": 1}}), "metadata"),
        (exchange(rating=1, response_time_ms=-5), "response_time_ms"),
        (exchange(rating=1, memory_used=-1), "memory_used"),
        (exchange(rating=1, thumbs="up"), "thumbs"),
        (exchange(rating=1, user_id=""), "user_id"),
        (exchange(rating=1, created_at="2999-01-01T00:00:00Z"), "future"),
        ([1, 2, 3], "object"),
    ],
)
async def test_bad_feedback_is_422_with_a_message(
    client: httpx.AsyncClient, engine: AsyncEngine, body: Any, needle: str
) -> None:
    r = await client.post("/v1/feedback", json=body)
    assert r.status_code == 422, r.text
    assert needle.lower() in r.json()["detail"].lower(), r.json()
    assert await count(engine, "feedback") == 0


async def test_invalid_json_and_wrong_content(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/feedback", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert "json" in r.json()["detail"].lower()
    r = await client.post("/v1/feedback", content=b"")
    assert r.status_code == 422


async def test_body_over_the_limit_is_413(make_client: Any, engine: AsyncEngine) -> None:
    async with make_client(max_body_bytes=4096) as client:
        r = await client.post("/v1/feedback", json=exchange(rating=1, response="x" * 5000))
        assert r.status_code == 413
        assert "4096 bytes" in r.json()["detail"]

        async def chunks() -> Any:
            for _ in range(10):
                yield b"x" * 1000

        # No Content-Length: the limit is enforced on what actually arrives.
        r = await client.post(
            "/v1/feedback", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
    assert await count(engine, "feedback") == 0


async def test_update_feedback(client: httpx.AsyncClient) -> None:
    created = (await client.post("/v1/feedback", json=exchange(rating=1, comment="nice"))).json()
    url = f"/v1/feedback/{created['id']}"

    r = await client.put(url, json={"rating": -1, "metadata": {"reviewed": True}})
    assert r.status_code == 200, r.text
    assert r.json()["is_helpful"] is False and r.json()["metadata"] == {"reviewed": True}
    assert r.json()["comment"] == "nice"
    assert r.json()["updated_at"] >= created["updated_at"]

    r = await client.put(url, json={"is_helpful": True, "rating": 5})
    assert (r.json()["is_helpful"], r.json()["stars"]) == (True, 5)

    r = await client.put(url, json={"stars": None, "comment": None})
    assert (r.json()["stars"], r.json()["comment"]) == (None, None)
    assert (await client.get(url)).json() == r.json()


@pytest.mark.parametrize(
    "body", [{}, {"rating": 0}, {"stars": 9}, {"metadata": []}, {"query": "x"}]
)
async def test_bad_update_is_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    created = (await client.post("/v1/feedback", json=exchange(rating=1))).json()
    r = await client.put(f"/v1/feedback/{created['id']}", json=body)
    assert r.status_code == 422, r.text


async def test_update_and_delete_unknown_feedback_is_404(client: httpx.AsyncClient) -> None:
    ghost = "/v1/feedback/5f0c8a52-8c3b-4a59-9d6e-2a4b8e0f4a11"
    assert (await client.put(ghost, json={"rating": 1})).status_code == 404
    assert (await client.delete(ghost)).status_code == 404
    assert (await client.get(ghost)).status_code == 404
    assert (await client.get("/v1/feedback/not-a-uuid")).status_code == 422


async def test_delete_feedback(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    created = (await client.post("/v1/feedback", json=exchange(rating=1))).json()
    url = f"/v1/feedback/{created['id']}"
    r = await client.delete(url)
    assert r.status_code == 204 and r.content == b""
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url)).status_code == 404
    assert await count(engine, "feedback") == 0
    assert await count(engine, "interactions") == 1


async def test_list_filters_and_keyset_pagination(client: httpx.AsyncClient) -> None:
    for i in range(25):
        body = exchange(
            rating=1 if i % 3 else -1,
            model="m-a" if i % 2 else "m-b",
            user_id=f"user-{i % 4}",
            created_at=f"2026-03-01T00:{i:02d}:00Z",
        )
        assert (await client.post("/v1/feedback", json=body)).status_code == 201

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/feedback", params=params)).json()
        seen += [item["created_at"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 25 and len(set(seen)) == 25
    assert seen == sorted(seen, reverse=True)

    only = (await client.get("/v1/feedback", params={"model": "m-a", "is_helpful": False})).json()
    assert only["items"] and all(i["model"] == "m-a" and not i["is_helpful"] for i in only["items"])
    assert len(only["items"]) == sum(1 for i in range(25) if i % 2 and i % 3 == 0)

    window = (
        await client.get(
            "/v1/feedback",
            params={"since": "2026-03-01T00:05:00Z", "until": "2026-03-01T00:10:00Z"},
        )
    ).json()
    assert len(window["items"]) == 5

    by_user = (await client.get("/v1/feedback", params={"user_id": "user-1"})).json()
    assert len(by_user["items"]) == len([i for i in range(25) if i % 4 == 1])


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"since": "soon"},
        {"is_helpful": "maybe"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    assert (await client.get("/v1/feedback", params=params)).status_code == 422


def _forged(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "definitely-not-ours",
        # Well-formed, but not what a page ends with: an id of another type, an instant the
        # database cannot compare (before the year 1 in UTC), too few parts.
        _forged("2026-12-06T15:41:20+00:00", 5),
        _forged("2026-12-06T15:41:20+00:00", ["a"]),
        _forged("0001-01-01T00:00:00+14:00", "00000000-0000-0000-0000-000000000005"),
        _forged("2026-12-06T15:41:20+00:00"),
    ],
)
@pytest.mark.parametrize("route", ["/v1/feedback", "/v1/review/queues/{queue}/items"])
async def test_foreign_cursor_is_400(client: httpx.AsyncClient, cursor: str, route: str) -> None:
    queue = (await client.post("/v1/review/queues", json={"name": "cursors"})).json()["id"]
    r = await client.get(route.format(queue=queue), params={"cursor": cursor})
    assert r.status_code == 400, r.text
    assert "next_cursor" in r.json()["detail"]


async def test_batch_returns_a_result_per_item(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await log(client, "known")
    items = [
        exchange(rating=1),
        {"request_id": "known", "is_helpful": False, "user_id": "x"},
        {"request_id": "known", "is_helpful": True, "user_id": "x"},
        {"request_id": "unknown", "is_helpful": True},
        exchange(rating=7),
        "not an object",
    ]
    r = await client.post("/v1/feedback/batch", json={"items": items})
    assert r.status_code == 200, r.text
    data = r.json()
    assert [res["status"] for res in data["results"]] == [201, 201, 200, 404, 422, 422]
    assert (data["created"], data["replaced"], data["failed"]) == (2, 1, 3)
    assert data["results"][2]["feedback"]["is_helpful"] is True
    assert "rating must be +1" in data["results"][4]["error"]
    assert await count(engine, "feedback") == 2


async def test_batch_limits(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/feedback/batch", json={"items": []})).status_code == 422
    too_many = {"items": [exchange(rating=1)] * 1001}
    assert (await client.post("/v1/feedback/batch", json=too_many)).status_code in (413, 422)
    many = {"items": [exchange(rating=1, request_id=f"b{i}") for i in range(300)]}
    r = await client.post("/v1/feedback/batch", json=many)
    assert r.status_code == 200 and r.json()["created"] == 300


async def test_a_logged_query_then_a_by_reference_vote_with_stars(
    client: httpx.AsyncClient,
) -> None:
    """The by-reference shape as a chat backend sends it: log the query, then post
    is_helpful and a 1-5 rating by request_id."""
    await log(client, "6f1d2c1e-0000-4000-8000-000000000001")
    r = await client.post(
        "/v1/feedback",
        json={
            "request_id": "6f1d2c1e-0000-4000-8000-000000000001",
            "is_helpful": True,
            "rating": 5,
            "comment": "great",
            "user_id": "u-9",
        },
    )
    assert r.status_code == 201
    assert r.json()["stars"] == 5


async def test_batch_repeats_follow_request_order(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Within one batch, a later vote of a user on an interaction replaces the earlier one."""
    await log(client, "same")
    items = [
        {"request_id": "same", "is_helpful": True, "user_id": "eve"},
        {"request_id": "same", "is_helpful": False, "rating": 2, "user_id": "eve"},
        exchange(request_id="ctx", rating=1, user_id="eve"),
        exchange(request_id="ctx", rating=-1, user_id="frank"),
        exchange(rating=1, created_at="2026-02-01T12:00:00Z"),
    ]
    data = (await client.post("/v1/feedback/batch", json={"items": items})).json()
    assert [r["status"] for r in data["results"]] == [201, 200, 201, 201, 201]
    # As if written one after another: each result shows its own vote; the later one stays.
    assert data["results"][0]["feedback"]["is_helpful"] is True
    assert data["results"][1]["feedback"]["stars"] == 2
    stored = (await client.get(f"/v1/feedback/{data['results'][0]['feedback']['id']}")).json()
    assert stored["is_helpful"] is False and stored["stars"] == 2
    assert (
        data["results"][2]["feedback"]["interaction_id"]
        == (data["results"][3]["feedback"]["interaction_id"])
    )
    assert data["results"][4]["feedback"]["created_at"].startswith("2026-02-01T12:00:00")
    assert await count(engine, "feedback") == 4
    assert await count(engine, "interactions") == 3
    again = (await client.post("/v1/feedback/batch", json={"items": items[:1]})).json()
    assert again["results"][0]["status"] == 200


async def test_a_batchs_answers_are_its_votes_as_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Each accepted item's answer is its vote as GET shows it (the batch's statement returns
    the answer's fields in order, with the rating); the answer's bytes are BatchResult's own
    serialization; a vote replaced later in the batch shows its own thumb and rating."""
    await log(client, "kept", user_id="owner", session_id="s-kept")
    items: list[Any] = [
        exchange(rating=1, user_id="a", session_id="s", metadata={"zz": 1, "a": {"y": 2.5}}),
        {"request_id": "kept", "is_helpful": False, "rating": 3, "reasons": ["incorrect"]},
        {"request_id": "kept", "is_helpful": True, "user_id": "b", "comment": "fine"},
        {"request_id": "kept", "is_helpful": False, "user_id": "b", "correction": "better"},
        exchange(request_id="kept", rating=-1, user_id="c"),
        exchange(rating=7),
        {"request_id": "nowhere", "is_helpful": True},
    ]
    r = await client.post("/v1/feedback/batch", json={"items": items})
    assert r.status_code == 200, r.text
    assert BatchResult.model_validate_json(r.content).model_dump_json().encode() == r.content
    results = r.json()["results"]
    assert [res["status"] for res in results] == [201, 201, 201, 200, 201, 422, 404]
    for index in (0, 1, 3, 4):
        answer = results[index]["feedback"]
        stored = await client.get(f"/v1/feedback/{answer['id']}")
        assert answer == stored.json(), index
    earlier = results[2]["feedback"]
    assert (earlier["is_helpful"], earlier["rating"], earlier["comment"]) == (True, 1, "fine")
    assert earlier["correction"] is None and earlier["id"] == results[3]["feedback"]["id"]
    assert results[3]["feedback"]["rating"] == -1
    assert results[1]["feedback"]["stars"] == 3 and results[1]["feedback"]["rating"] == -1
    assert results[4]["feedback"]["session_id"] == "s-kept"  # the stored exchange's
    fresh = results[0]["feedback"]["request_id"]
    assert str(uuid.UUID(fresh)) == fresh and uuid.UUID(fresh).version == 7
    assert results[0]["feedback"]["metadata"] == {"zz": 1, "a": {"y": 2.5}}
    assert await count(engine, "feedback") == 4


async def test_a_votes_answer_is_its_vote_as_stored(client: httpx.AsyncClient) -> None:
    """A single vote's answer (the vote statement's row, serialized as it comes) is
    FeedbackOut's own serialization of the vote GET shows, new or replacing."""
    body = exchange(request_id="one", rating=-1, user_id="u", metadata={"zz": [1, 2.5]})
    for sent, code in ((body, 201), ({**body, "rating": 1, "comment": "ok"}, 200)):
        r = await client.post("/v1/feedback", json=sent)
        assert r.status_code == code, r.text
        assert FeedbackOut.model_validate_json(r.content).model_dump_json().encode() == r.content
        stored = await client.get(f"/v1/feedback/{r.json()['id']}")
        assert r.json() == stored.json()
        assert r.json()["rating"] == sent["rating"]
