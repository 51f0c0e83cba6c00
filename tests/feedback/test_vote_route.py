"""POST /v1/feedback written by group commit and in a transaction of its own: the same answers.

Requests with an Idempotency-Key are written in their own transaction (with the key), the
others by the group-commit writer, so a pair of requests, one with a key and one without,
compares the two ways on the same input.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from feedback_api.auth.tokens import TOKEN_MAX_LENGTH
from tests.helpers import exchange

KEYS = "ingest:ingest-key-0123456789,read:read-key-0123456789"
SECRET = "s3cr3t-" + "x" * 40
VOLATILE = {"id", "interaction_id", "request_id", "created_at", "updated_at"}


def stable(answer: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    body = answer.json()
    return (
        answer.status_code,
        answer.headers["content-type"],
        {k: v for k, v in body.items() if k not in VOLATILE},
    )


async def test_a_vote_gets_the_same_answer_grouped_and_alone(client: httpx.AsyncClient) -> None:
    body = exchange(rating=1, stars=4, comment="good", user_id="u1", metadata={"ui": "web"})
    grouped = await client.post("/v1/feedback", json=body)
    route = await client.post("/v1/feedback", json=body, headers={"Idempotency-Key": "k1"})
    assert grouped.status_code == 201
    assert stable(grouped) == stable(route)
    assert grouped.headers["x-request-id"] and route.headers["x-request-id"]

    # A second vote of the same user on the same interaction replaces the first: 200.
    again = {"request_id": grouped.json()["request_id"], "rating": -1, "user_id": "u1"}
    replaced_grouped = await client.post("/v1/feedback", json=again)
    replaced_route = await client.post(
        "/v1/feedback", json=again, headers={"Idempotency-Key": "k2"}
    )
    assert replaced_grouped.status_code == replaced_route.status_code == 200
    assert replaced_grouped.json()["id"] == replaced_route.json()["id"] == grouped.json()["id"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        ("{not json", {"content-type": "application/json"}, 422, "JSON"),
        ('{"rating": 1}', {"content-type": "application/json"}, 422, "request_id"),
        ('{"request_id": "r", "rating": 7}', {"content-type": "application/json"}, 422, "rating"),
        ('{"request_id": "r", "rating": 1}', {"content-type": "text/plain"}, 422, ""),
        (
            '{"request_id": "r", "rating": 1}',
            {"content-type": "application/json", "x-feedback-token": "t" * (TOKEN_MAX_LENGTH + 1)},
            422,
            "X-Feedback-Token",
        ),
        ('{"request_id": "nobody", "rating": 1}', {"content-type": "application/json"}, 404, "log"),
    ],
)
async def test_refused_votes_get_the_routes_answers(
    client: httpx.AsyncClient, content: str, headers: dict[str, str], status: int, words: str
) -> None:
    grouped = await client.post("/v1/feedback", content=content, headers=headers)
    route = await client.post(
        "/v1/feedback", content=content, headers={**headers, "Idempotency-Key": "same"}
    )
    assert grouped.status_code == route.status_code == status
    assert grouped.json() == route.json()
    assert words in grouped.json()["detail"]


async def test_keys_are_checked_on_the_vote_route(make_client: Any) -> None:
    vote = exchange(rating=1)
    async with make_client(api_keys=KEYS) as client:
        missing = await client.post("/v1/feedback", json=vote)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        wrong = await client.post("/v1/feedback", json=vote, headers={"X-API-Key": "nope" * 5})
        assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
        reader = await client.post(
            "/v1/feedback", json=vote, headers={"X-API-Key": "read-key-0123456789"}
        )
        assert reader.status_code == 403 and "ingest" in reader.json()["detail"]
        for auth in ("Bearer ingest-key-0123456789", "bearer ingest-key-0123456789"):
            ok = await client.post("/v1/feedback", json=vote, headers={"Authorization": auth})
            assert ok.status_code in (200, 201), ok.text
        other_scheme = await client.post(
            "/v1/feedback", json=vote, headers={"Authorization": "Basic ingest-key-0123456789"}
        )
        assert other_scheme.status_code == 401


async def test_cors_headers_on_the_vote_route(make_client: Any) -> None:
    async with make_client(cors_origins=["https://chat.example"]) as client:
        answer = await client.post(
            "/v1/feedback", json=exchange(rating=1), headers={"Origin": "https://chat.example"}
        )
    assert answer.status_code == 201
    assert answer.headers["access-control-allow-origin"] == "https://chat.example"


async def test_the_vote_route_honours_the_body_limit(make_client: Any) -> None:
    async with make_client(max_body_bytes=2048) as client:
        answer = await client.post("/v1/feedback", json=exchange(rating=1, comment="x" * 4000))
    assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"


async def test_repeated_headers_count_as_the_route_reads_them(make_client: Any) -> None:
    """The first of repeated headers, as Starlette reads them; an empty one counts as none."""
    body = json.dumps(exchange(rating=1))
    json_type = ("content-type", "application/json")
    async with make_client(api_keys=KEYS, secret_key=SECRET) as client:
        cases = [
            [("x-api-key", "wrong-key-0123456789"), ("x-api-key", "ingest-key-0123456789")],
            [("x-api-key", "ingest-key-0123456789"), ("x-api-key", "wrong-key-0123456789")],
            [("x-api-key", "ingest-key-0123456789"), ("content-type", "text/plain"), json_type],
        ]
        for n, headers in enumerate(cases):
            if all(name != "content-type" for name, _ in headers):
                headers = [*headers, json_type]
            grouped = await client.post("/v1/feedback", content=body, headers=headers)
            route = await client.post(
                "/v1/feedback", content=body, headers=[*headers, ("idempotency-key", f"h{n}")]
            )
            assert grouped.status_code == route.status_code, headers

        logged = await client.post(
            "/v1/interactions",
            json=exchange(request_id="t1"),
            headers={"x-api-key": "ingest-key-0123456789"},
        )
        token = logged.json()["feedback_token"]
        vote = {"request_id": "t1", "rating": 1, "feedback_token": token}
        grouped = await client.post("/v1/feedback", json=vote, headers={"x-feedback-token": ""})
        assert grouped.status_code == 201, grouped.text


async def test_one_user_voting_twice_at_once_gets_two_consistent_answers(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/interactions", json=exchange(request_id="twice"))
    first, second = await asyncio.gather(
        client.post(
            "/v1/feedback",
            json={"request_id": "twice", "rating": 1, "stars": 5, "comment": "A", "user_id": "u"},
        ),
        client.post(
            "/v1/feedback",
            json={"request_id": "twice", "rating": -1, "comment": "B", "user_id": "u"},
        ),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 201]
    # Each answer shows the vote it sent; the one stored is the later one.
    assert (first.json()["comment"], first.json()["stars"]) == ("A", 5)
    assert (second.json()["comment"], second.json()["is_helpful"]) == ("B", False)
    stored = (await client.get("/v1/feedback", params={"user_id": "u"})).json()["items"]
    assert [v["comment"] for v in stored] == ["B"]


async def test_a_batch_of_refused_items_needs_no_database(make_client: Any) -> None:
    dead = "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"
    async with make_client(database_url=dead, connect_timeout_seconds=2) as client:
        answer = await client.post("/v1/feedback/batch", json={"items": [{"rating": 7}, {}]})
    assert answer.status_code == 200
    assert [r["status"] for r in answer.json()["results"]] == [422, 422]
