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


async def test_a_time_outside_the_years_the_database_holds_is_refused_before_streaming(
    client: httpx.AsyncClient,
) -> None:
    # Valid ISO 8601, but 0000-12-31 or 10000-01-01 in UTC: refused with a 422 naming the
    # parameter, not a 200 cut off when the query is sent.
    for name, value in (
        ("since", "0001-01-01T00:00:00+14:00"),
        ("until", "9999-12-31T23:59:59-14:00"),
    ):
        for path in ("/v1/exports/interactions", "/v1/feedback"):
            r = await client.get(path, params={name: value})
            assert r.status_code == 422, (path, r.text)
            [error] = r.json()["errors"]
            assert error["field"] == name and "years 1 to 9999" in error["message"], error


async def test_the_finetuning_export_names_a_window_bound_outside_the_years_it_can_hold(
    client: httpx.AsyncClient,
) -> None:
    for field, value in (
        ("start_date", "0001-01-01T00:00:00+14:00"),
        ("end_date", "9999-12-31T23:59:59-14:00"),
        ("end_date", "9999-12-31"),
    ):
        r = await client.post("/v1/feedback/export/finetuning/summary", json={field: value})
        assert r.status_code == 422, (field, value, r.text)
        errors = r.json()["errors"]
        assert errors and all(e["field"] == field for e in errors), r.text
        assert "9999" in r.json()["detail"], r.text
