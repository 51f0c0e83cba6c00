"""A measure the refresh sums (memory_used) is bounded where it is written, and values from
before the bound no longer stop the refresh."""

from __future__ import annotations

import asyncio

import httpx
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.kit import migrations
from feedback_api.kit.fields import MEASURE_MAX
from tests.helpers import count, exchange


async def test_memory_used_above_the_bound_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for path, body in (
        ("/v1/feedback", exchange(rating=1, memory_used=1e308)),
        ("/v1/interactions", exchange(memory_used=MEASURE_MAX * 10)),
    ):
        r = await client.post(path, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "memory_used", r.text
    assert await count(engine, "interactions") == 0


async def test_measures_at_the_bound_are_summed_by_the_refresh(
    client: httpx.AsyncClient,
) -> None:
    for n in range(2):
        body = exchange(rating=1, request_id=f"big-{n}", memory_used=MEASURE_MAX)
        assert (await client.post("/v1/feedback", json=body)).status_code == 201
    r = await client.post("/v1/admin/refresh")
    assert r.status_code == 200, r.text
    stats = (await client.get("/v1/feedback/stats", params={"days": 7})).json()
    assert stats["avg_memory_used"] == MEASURE_MAX


async def _upgrade_to_0023(
    database_url: str, engine: AsyncEngine, memory_used: tuple[str, ...]
) -> tuple[dict[str, float | None], bool]:
    """At 0022, a refresh state whose last full rebuild is done and one exchange per value of
    `memory_used` (m-0, m-1, ...); then upgraded: each exchange's memory_used, and whether the
    next refresh is a full rebuild."""
    cfg = migrations.alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, cfg, "0022")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM analytics_refresh"))
            await conn.execute(
                text(
                    "INSERT INTO analytics_refresh (id, refreshed_at, duration_ms, full_rebuild_at)"
                    " VALUES (1, now(), 1.0, now())"
                )
            )
            for n, value in enumerate(memory_used):
                await conn.execute(
                    text(
                        "INSERT INTO interactions (id, request_id, query, response, model,"
                        " memory_used) VALUES (gen_random_uuid(), :rid, 'q', 'a', 'm',"
                        " CAST(CAST(:v AS text) AS float8))"
                    ),
                    {"rid": f"m-{n}", "v": value},
                )
    finally:
        await asyncio.to_thread(command.upgrade, cfg, "head")
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT request_id, memory_used FROM interactions"))
        kept = {rid: value for rid, value in rows}
        rebuilt = await conn.scalar(text("SELECT full_rebuild_at FROM analytics_refresh"))
    return kept, rebuilt is None


async def test_the_upgrade_forgets_values_above_the_bound_and_rebuilds_the_sums(
    database_url: str, engine: AsyncEngine
) -> None:
    values = ("1e308", "Infinity", "NaN", "350.5", str(MEASURE_MAX))
    kept, rebuilt = await _upgrade_to_0023(database_url, engine, values)
    assert kept == {"m-0": None, "m-1": None, "m-2": None, "m-3": 350.5, "m-4": MEASURE_MAX}
    # The sums kept from such values are rebuilt: the next refresh is a full one.
    assert rebuilt


async def test_the_upgrade_with_no_value_above_the_bound_costs_no_rebuild(
    database_url: str, engine: AsyncEngine
) -> None:
    kept, rebuilt = await _upgrade_to_0023(database_url, engine, ("350.5", str(MEASURE_MAX)))
    assert kept == {"m-0": 350.5, "m-1": MEASURE_MAX}
    assert not rebuilt
