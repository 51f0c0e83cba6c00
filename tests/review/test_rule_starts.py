"""A review rule starts at an instant the database keeps as such: the first and the last
instant there is would be kept as -infinity and infinity, read back without a time zone,
and every estimate failed on them."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.kit import migrations
from tests.review.helpers import new_queue


@pytest.mark.parametrize(
    ("since", "end"),
    [
        ("0001-01-01T00:00:00Z", "first"),
        ("0001-01-01T14:00:00+14:00", "first"),  # the same instant
        ("9999-12-31T23:59:59.999999Z", "last"),
    ],
)
async def test_a_rule_starting_at_either_end_of_time_is_refused(
    client: httpx.AsyncClient, since: str, end: str
) -> None:
    queue_id = await new_queue(client)
    r = await client.post(
        f"/v1/review/queues/{queue_id}/rules", json={"sample_rate": 0.5, "since": since}
    )
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "since" and f"the {end} instant" in error["message"], error


async def test_a_rule_one_microsecond_inside_starts_there(client: httpx.AsyncClient) -> None:
    queue_id = await new_queue(client)
    r = await client.post(
        f"/v1/review/queues/{queue_id}/rules",
        json={"sample_rate": 0.5, "since": "0001-01-01T00:00:00.000001Z"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["since"].startswith("0001-01-01T00:00:00.000001")
    estimate = await client.get("/v1/metrics/estimated-accuracy")
    assert estimate.status_code == 200, estimate.text


async def test_the_upgrade_moves_stored_infinite_starts_inwards(
    client: httpx.AsyncClient, database_url: str, engine: AsyncEngine
) -> None:
    queue_id = await new_queue(client)
    cfg = migrations.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, cfg, "0023")
    try:
        async with engine.begin() as conn:
            for since in ("-infinity", "infinity"):
                await conn.execute(
                    text(
                        "INSERT INTO review_rules (id, queue_id, kind, sample_rate, since,"
                        " hash_key, created_at) VALUES (gen_random_uuid(), :queue, 'sample',"
                        " 0.5, CAST(CAST(:since AS text) AS timestamptz), 'key', now())"
                    ),
                    {"queue": queue_id, "since": since},
                )
    finally:
        await asyncio.to_thread(command.upgrade, cfg, "head")
    async with engine.connect() as conn:
        starts = await conn.scalars(text("SELECT since::text FROM review_rules ORDER BY since"))
        assert list(starts) == ["0001-01-01 00:00:00.000001+00", "9999-12-31 23:59:59.999998+00"]
    estimate = await client.get("/v1/metrics/estimated-accuracy")
    assert estimate.status_code == 200, estimate.text
