"""GET /v1/metrics/reasons: from the daily_reasons rollup the refresher keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.helpers import exchange


def ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def vote(client: httpx.AsyncClient, n: int, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/feedback", json=exchange(request_id=f"r{n}", **body))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def table(items: list[dict[str, Any]]) -> dict[tuple[Any, str], tuple[int, int, Any]]:
    return {
        (i["model"], i["reason"]): (i["up_votes"], i["down_votes"], i["share_of_down_votes"])
        for i in items
    }


@pytest.fixture
async def votes(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [
        await vote(client, 1, model="m1", rating=-1, reasons=["incorrect", "too_long"]),
        await vote(client, 2, model="m1", rating=-1, reasons=["incorrect"], project="p2"),
        await vote(client, 3, model="m1", rating=-1),
        await vote(client, 4, model="m1", rating=1, reasons=["other"]),
        await vote(client, 5, model="m2", rating=-1, reasons=["unsafe"], intent="chat"),
        await vote(client, 6, model="m2", rating=-1, reasons=["unsafe"], created_at=ago(12)),
    ]


async def test_reasons_per_model_and_for_all_models(
    client: httpx.AsyncClient, votes: list[dict[str, Any]]
) -> None:
    assert (await client.post("/v1/admin/refresh")).status_code == 200
    r = await client.get("/v1/metrics/reasons", params={"days": 7})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"as_of", "window", "items"} and body["as_of"] is not None
    assert body["window"]["days"] == 7
    assert table(body["items"]) == {
        (None, "incorrect"): (0, 2, 0.5),
        (None, "too_long"): (0, 1, 0.25),
        (None, "unsafe"): (0, 1, 0.25),
        (None, "other"): (1, 0, 0.0),
        ("m1", "incorrect"): (0, 2, 2 / 3),
        ("m1", "too_long"): (0, 1, 1 / 3),
        ("m1", "other"): (1, 0, 0.0),
        ("m2", "unsafe"): (0, 1, 1.0),
    }
    # All models first, then per model; most down-votes first within each.
    assert [(i["model"], i["reason"]) for i in body["items"]][:2] == [
        (None, "incorrect"),
        (None, "too_long"),
    ]

    month = (await client.get("/v1/metrics/reasons", params={"days": 30})).json()
    assert table(month["items"])[(None, "unsafe")] == (0, 2, 0.4)
    only_m2 = (await client.get("/v1/metrics/reasons", params={"model": "m2"})).json()
    assert table(only_m2["items"]) == {("m2", "unsafe"): (0, 2, 1.0)}
    chat = (await client.get("/v1/metrics/reasons", params={"intent": "chat"})).json()
    assert table(chat["items"]) == {(None, "unsafe"): (0, 1, 1.0), ("m2", "unsafe"): (0, 1, 1.0)}
    p2 = (await client.get("/v1/metrics/reasons", params={"project": "p2"})).json()
    assert table(p2["items"]) == {
        (None, "incorrect"): (0, 1, 1.0),
        ("m1", "incorrect"): (0, 1, 1.0),
    }
    day = (datetime.now(UTC) - timedelta(days=12)).date().isoformat()
    old = (await client.get("/v1/metrics/reasons", params={"since": day, "until": day})).json()
    assert old["window"] == {"since": day, "until": day, "days": 1}
    assert table(old["items"])[("m2", "unsafe")] == (0, 1, 1.0)
    nothing = (await client.get("/v1/metrics/reasons", params={"model": "none"})).json()
    assert nothing["items"] == []


async def test_a_refresh_picks_up_new_and_changed_reasons(
    client: httpx.AsyncClient, votes: list[dict[str, Any]]
) -> None:
    await client.post("/v1/admin/refresh")
    await vote(client, 7, model="m2", rating=-1, reasons=["off_topic"])
    r = await client.put(f"/v1/feedback/{votes[0]['id']}", json={"reasons": ["incomplete"]})
    assert r.status_code == 200
    before = table((await client.get("/v1/metrics/reasons")).json()["items"])
    assert (None, "off_topic") not in before  # served from the rollup, not the tables
    await client.post("/v1/admin/refresh")
    after = table((await client.get("/v1/metrics/reasons")).json()["items"])
    assert after[("m2", "off_topic")] == (0, 1, 1 / 3)
    assert after[("m1", "incomplete")] == (0, 1, 1 / 3)
    assert after[("m1", "incorrect")] == (0, 1, 1 / 3)
    assert ("m1", "too_long") not in after
    # A full rebuild comes to the same figures.
    await client.post("/v1/admin/refresh", params={"full": "true"})
    assert table((await client.get("/v1/metrics/reasons")).json()["items"]) == after


async def test_erased_votes_leave_the_reasons_at_the_next_refresh(
    client: httpx.AsyncClient,
) -> None:
    await vote(client, 1, user_id="gone", rating=-1, reasons=["unsafe"], created_at=ago(20))
    await client.post("/v1/admin/refresh")
    assert (await client.get("/v1/metrics/reasons")).json()["items"]
    await client.delete("/v1/users/gone")
    await client.post("/v1/admin/refresh")
    assert (await client.get("/v1/metrics/reasons")).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"days": 7, "since": "2026-01-01"}, "either days or since/until"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "since must not be later than until"),
        ({"since": "2000-01-01", "until": "2026-01-01"}, "at most 3660 days"),
        ({"days": 0}, "days"),
        ({"since": "last week"}, "since"),
    ],
)
async def test_bad_reason_metric_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any], needle: str
) -> None:
    r = await client.get("/v1/metrics/reasons", params=params)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


async def test_a_vote_counts_on_its_answers_day(client: httpx.AsyncClient) -> None:
    """Like /v1/metrics/daily: a vote cast today on an answer of 3 days ago counts 3 days
    ago, so a day's reasons and its down-votes are the same votes."""
    answered = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    body = exchange(request_id="old", model="m1", created_at=ago(3))
    assert (await client.post("/v1/interactions", json=body)).status_code == 201
    vote = {"request_id": "old", "rating": -1, "reasons": ["incorrect"], "user_id": "u"}
    assert (await client.post("/v1/feedback", json=vote)).status_code == 201
    await client.post("/v1/admin/refresh")
    that_day = {"since": answered, "until": answered}
    reasons = (await client.get("/v1/metrics/reasons", params=that_day)).json()
    assert table(reasons["items"]) == {
        (None, "incorrect"): (0, 1, 1.0),
        ("m1", "incorrect"): (0, 1, 1.0),
    }
    assert (await client.get("/v1/metrics/reasons", params={"days": 1})).json()["items"] == []
    daily = (await client.get("/v1/metrics/daily", params=that_day)).json()["items"]
    assert [d["negative"] for d in daily] == [1]
