"""Values a vote cannot take: a cleared thumb, a time before 2000."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange


async def _vote(client: httpx.AsyncClient) -> str:
    r = await client.post("/v1/feedback", json=exchange(rating=1, comment="fine"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.mark.parametrize("body", [{"is_helpful": None}, {"rating": None}])
async def test_the_thumb_cannot_be_cleared(
    client: httpx.AsyncClient, body: dict[str, None]
) -> None:
    url = f"/v1/feedback/{await _vote(client)}"
    r = await client.put(url, json=body)
    assert r.status_code == 422, r.text
    field = next(iter(body))
    assert r.json()["detail"] == (
        f"{field} cannot be null: a vote stays up or down; send is_helpful true or false "
        "(or rating +1 or -1), or DELETE the vote"
    )
    assert (await client.get(url)).json()["is_helpful"] is True


async def test_stars_may_still_be_cleared_beside_the_thumb(client: httpx.AsyncClient) -> None:
    url = f"/v1/feedback/{await _vote(client)}"
    assert (await client.put(url, json={"stars": 4})).json()["stars"] == 4
    # With is_helpful sent, rating means the stars: null there is no thumb cleared.
    r = await client.put(url, json={"is_helpful": False, "rating": None, "stars": None})
    assert r.status_code == 200, r.text
    assert (r.json()["is_helpful"], r.json()["stars"]) == (False, None)


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2000-01-01T00:30:00+01:00"]
)
async def test_times_before_2000_are_refused_with_a_sentence(
    client: httpx.AsyncClient, engine: AsyncEngine, moment: str
) -> None:
    logged = {"request_id": "old-1", **exchange(), "created_at": moment}
    for path, body in (
        ("/v1/feedback", exchange(rating=1, created_at=moment)),
        ("/v1/interactions", logged),
    ):
        r = await client.post(path, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "created_at"
        assert r.json()["detail"].startswith("created_at: ")
        assert r.json()["detail"].endswith(
            "is before 2000-01-01: send the time the exchange or the vote happened, in ISO 8601 "
            "(or leave it out for now)"
        )
    assert await count(engine, "interactions") == 0


async def test_the_first_moment_of_2000_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/feedback", json=exchange(rating=1, created_at="2000-01-01T00:00:00Z")
    )
    assert r.status_code == 201, r.text
    # Filters may still reach back as far as a caller likes.
    r = await client.get("/v1/feedback", params={"since": "1990-01-01"})
    assert len(r.json()["items"]) == 1
