"""Reasons and corrections on a vote: stored, shown, changed, filtered on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange


async def vote(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/feedback", json=exchange(**body))
    assert r.status_code in (200, 201), r.text
    data: dict[str, Any] = r.json()
    return data


async def test_a_vote_carries_reasons_and_a_correction(client: httpx.AsyncClient) -> None:
    data = await vote(
        client,
        rating=-1,
        reasons=["incorrect", "too_long", "incorrect"],
        correction='print("Hello, World!", end="")',
    )
    assert data["reasons"] == ["incorrect", "too_long"]  # duplicates merged, order kept
    assert data["correction"] == 'print("Hello, World!", end="")'
    assert (await client.get(f"/v1/feedback/{data['id']}")).json() == data


async def test_without_reasons_a_vote_has_none(client: httpx.AsyncClient) -> None:
    data = await vote(client, rating=1)
    assert data["reasons"] == [] and data["correction"] is None


async def test_by_reference_vote_with_reasons(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/interactions", json=exchange(request_id="r-1"))
    assert r.status_code == 201
    r = await client.post(
        "/v1/feedback",
        json={"request_id": "r-1", "is_helpful": False, "reasons": ["unsafe"], "correction": "no"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["reasons"] == ["unsafe"] and r.json()["correction"] == "no"


async def test_a_second_vote_replaces_reasons_and_correction(client: httpx.AsyncClient) -> None:
    first = await vote(client, request_id="r-2", user_id="u", rating=-1, reasons=["other"])
    second = await vote(client, request_id="r-2", user_id="u", rating=1)
    assert second["id"] == first["id"]
    assert second["reasons"] == [] and second["correction"] is None


async def test_put_keeps_changes_and_clears_reasons_and_correction(
    client: httpx.AsyncClient,
) -> None:
    data = await vote(client, rating=-1, reasons=["incomplete"], correction="better")
    url = f"/v1/feedback/{data['id']}"
    kept = (await client.put(url, json={"comment": "meh"})).json()
    assert kept["reasons"] == ["incomplete"] and kept["correction"] == "better"
    changed = (await client.put(url, json={"reasons": ["unsafe", "unsafe", "other"]})).json()
    assert changed["reasons"] == ["unsafe", "other"] and changed["correction"] == "better"
    cleared = (await client.put(url, json={"reasons": None, "correction": None})).json()
    assert cleared["reasons"] == [] and cleared["correction"] is None
    assert (await client.get(url)).json() == cleared


async def test_list_filters_on_a_reason(client: httpx.AsyncClient) -> None:
    await vote(client, request_id="a", rating=-1, reasons=["incorrect", "unsafe"])
    await vote(client, request_id="b", rating=-1, reasons=["unsafe"])
    await vote(client, request_id="c", rating=1)
    unsafe = (await client.get("/v1/feedback", params={"reason": "unsafe"})).json()
    assert sorted(i["request_id"] for i in unsafe["items"]) == ["a", "b"]
    incorrect = (await client.get("/v1/feedback", params={"reason": "incorrect"})).json()
    assert [i["request_id"] for i in incorrect["items"]] == ["a"]
    both = (
        await client.get("/v1/feedback", params={"reason": "unsafe", "is_helpful": True})
    ).json()
    assert both["items"] == []


async def test_batch_votes_carry_reasons(client: httpx.AsyncClient) -> None:
    items = [
        exchange(request_id="b1", rating=-1, reasons=["other"], correction="x"),
        exchange(request_id="b2", rating=1),
    ]
    r = await client.post("/v1/feedback/batch", json={"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["feedback"]["reasons"] == ["other"]
    assert results[0]["feedback"]["correction"] == "x"
    assert results[1]["feedback"]["reasons"] == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"reasons": [f"r{i}" for i in range(11)]}, "at most 10 reasons"),
        ({"reasons": "incorrect"}, "reasons"),
        ({"reasons": [""]}, "reasons.0"),
        ({"reasons": ["x" * 41]}, "at most 40"),
        ({"correction": "x" * 1_000_001}, "correction"),
        ({"correction": "a\u0000b"}, "nul"),
    ],
)
async def test_bad_reasons_and_corrections_are_422(
    make_client: Any, engine: AsyncEngine, body: dict[str, Any], needle: str
) -> None:
    async with make_client(max_body_bytes=4 * 1024 * 1024) as client:
        r = await client.post("/v1/feedback", json=exchange(rating=-1, **body))
        assert r.status_code == 422, r.text
        assert needle.lower() in r.json()["detail"].lower(), r.json()
        created = await vote(client, request_id="ok", rating=-1)
        r = await client.put(f"/v1/feedback/{created['id']}", json=body)
        assert r.status_code == 422, r.text
        assert needle.lower() in r.json()["detail"].lower(), r.json()
    assert await count(engine, "feedback") == 1
