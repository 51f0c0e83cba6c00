"""An empty export window is named with the parameters the caller sent."""

from __future__ import annotations

import httpx


async def test_the_interactions_export_names_since_and_until(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/v1/exports/interactions", params={"since": "2026-12-05", "until": "2026-01-01"}
    )
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "since must be earlier than until: the window from 2026-12-05T00:00:00+00:00 to "
        "2026-01-01T00:00:00+00:00 is empty"
    )
    r = await client.get("/v1/exports/interactions", params={"since": "2026-01-01", "days": 3})
    assert r.json()["detail"] == "give either days or since/until, not both"


async def test_the_finetuning_export_names_its_body_fields(client: httpx.AsyncClient) -> None:
    body = {"start_date": "2026-12-05", "end_date": "2026-12-01"}
    r = await client.post("/v1/feedback/export/finetuning/summary", json=body)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("start_date must be earlier than end_date: the window")
