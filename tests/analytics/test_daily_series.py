"""GET /v1/metrics/daily?group_by=...: a series per model, intent or project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers import exchange

# (model, intent, project, days ago, helpful)
VOTES = [
    ("alpha", "code", "web", 1, True),
    ("alpha", "code", "web", 1, False),
    ("alpha", "chat", "app", 2, True),
    ("alpha", None, "app", 2, True),
    ("beta", "code", "web", 1, False),
    ("beta", "code", "web", 3, True),
    ("gamma", "chat", None, 3, True),
]


async def load(client: httpx.AsyncClient) -> datetime:
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    items = []
    for n, (model, intent, project, ago, helpful) in enumerate(VOTES):
        at = (now - timedelta(days=ago)).isoformat()
        body = exchange(request_id=f"s{n}", model=model, intent=intent, project=project)
        items.append({**body, "is_helpful": helpful, "created_at": at, "user_id": f"u{n}"})
    response = await client.post("/v1/feedback/batch", json={"items": items})
    assert response.json()["failed"] == 0, response.text
    assert (await client.post("/v1/admin/refresh")).status_code == 200
    return now


def votes_by_day(items: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    return {i["date"]: (i["positive"], i["negative"]) for i in items if i["feedback_count"]}


async def test_a_series_per_model_adds_up_to_the_overall_days(client: httpx.AsyncClient) -> None:
    now = await load(client)
    until = now.date().isoformat()
    since = (now.date() - timedelta(days=6)).isoformat()
    params = {"since": since, "until": until}
    overall = (await client.get("/v1/metrics/daily", params=params)).json()
    assert "series" not in overall and len(overall["items"]) == 7  # the shape without group_by

    grouped = await client.get("/v1/metrics/daily", params={**params, "group_by": "model"})
    assert grouped.status_code == 200, grouped.text
    body = grouped.json()
    assert body["group_by"] == "model" and body["as_of"] == overall["as_of"]
    assert (body["since"], body["until"]) == (since, until)
    # Most votes first; only the grouped dimension is in a series.
    assert [s["model"] for s in body["series"]] == ["alpha", "beta", "gamma"]
    assert all(set(s) == {"model", "items"} and len(s["items"]) == 7 for s in body["series"])
    alpha = votes_by_day(body["series"][0]["items"])
    day = (now.date() - timedelta(days=1)).isoformat()
    assert alpha[day] == (1, 1)
    assert body["series"][0]["items"][-1]["positive_ratio"] is None  # today: no votes
    for date, (up, down) in votes_by_day(overall["items"]).items():
        summed = [votes_by_day(s["items"]).get(date, (0, 0)) for s in body["series"]]
        assert (sum(u for u, _ in summed), sum(d for _, d in summed)) == (up, down)


async def test_group_by_within_a_slice_and_null_values(client: httpx.AsyncClient) -> None:
    await load(client)
    response = await client.get(
        "/v1/metrics/daily", params={"group_by": "intent", "model": "alpha"}
    )
    series = {s["intent"]: s for s in response.json()["series"]}
    assert set(series) == {"code", "chat", None}  # None: answers that had no intent
    assert sum(i["feedback_count"] for i in series["code"]["items"]) == 2
    projects = await client.get("/v1/metrics/daily", params={"group_by": "project"})
    assert [s["project"] for s in projects.json()["series"]] == ["web", "app", None]


async def test_unknown_group_by_is_a_clear_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/metrics/daily", params={"group_by": "user"})
    assert response.status_code == 422
    assert "group_by" in response.json()["detail"]
    assert "model" in response.json()["detail"]
