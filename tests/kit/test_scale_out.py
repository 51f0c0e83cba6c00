"""The API is stateless: replicas on one database, a replica for reads."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange


async def test_two_instances_on_one_database_count_exactly(
    make_client: Any, engine: AsyncEngine
) -> None:
    async with make_client() as first, make_client() as second:
        await first.post("/v1/interactions", json=exchange(request_id="shared"))

        async def vote(client: Any, i: int) -> int:
            r = await client.post(
                "/v1/feedback",
                json={"request_id": "shared", "is_helpful": i % 2 == 0, "user_id": f"u{i % 40}"},
            )
            return int(r.status_code)

        statuses = await asyncio.gather(
            *(vote(first if i % 2 else second, i) for i in range(200)),
            *(first.post("/v1/feedback", json=exchange(rating=1)) for _ in range(50)),
        )
    codes = [s if isinstance(s, int) else s.status_code for s in statuses]
    assert all(code in (200, 201) for code in codes)
    assert codes[:200].count(201) == 40  # one new vote per distinct user, the rest replaced
    assert await count(engine, "feedback") == 40 + 50
    assert await count(engine, "interactions") == 1 + 50


async def test_reads_go_to_the_read_database_and_writes_to_the_primary(
    make_client: Any, engine: AsyncEngine, database_url: str
) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from feedback_api.kit import migrations

    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("DROP DATABASE IF EXISTS feedback_replica"))
        await autocommit.execute(text("CREATE DATABASE feedback_replica"))
    replica_url = (
        make_url(database_url)
        .set(database="feedback_replica")
        .render_as_string(hide_password=False)
    )
    await asyncio.to_thread(migrations.upgrade, replica_url)

    # The "replica" holds a vote the primary does not have.
    async with make_client(database_url=replica_url) as replica:
        await replica.post("/v1/feedback", json=exchange(model="only-on-replica", rating=1))
        await replica.post("/v1/admin/refresh")

    async with make_client(read_database_url=replica_url) as client:
        r = await client.post("/v1/feedback", json=exchange(model="written-to-primary", rating=1))
        assert r.status_code == 201
        models = {i["model"] for i in (await client.get("/v1/feedback/accuracy")).json()["items"]}
        assert models == {"only-on-replica"}
        daily = (await client.get("/v1/metrics/daily")).json()["items"]
        assert sum(day["total_queries"] for day in daily) == 1
        report = (await client.get("/v1/reports/weekly")).json()
        assert [m["model"] for m in report["models"]] == ["only-on-replica"]
        export = await client.post("/v1/feedback/export/finetuning", json={"format": "weighted"})
        assert export.status_code == 200
        assert "only-on-replica" in export.text and "written-to-primary" not in export.text
    assert await count(engine, "interactions", "model = 'written-to-primary'") == 1
    assert await count(engine, "interactions", "model = 'only-on-replica'") == 0


async def test_two_instances_refresh_once_per_tick(make_client: Any, caplog: Any) -> None:
    """Each replica runs the refresher; in a tick both reach, exactly one refreshes."""
    import logging

    from feedback_api.analytics.refresher import refresher

    async with (
        make_client(refresh_interval_seconds=0.3) as first,
        make_client(refresh_interval_seconds=0.3) as second,
    ):
        await first.post("/v1/feedback", json=exchange(rating=1))
        jobs = [refresher(c.state["sessionmaker"], c.state["settings"]) for c in (first, second)]
        caplog.set_level(logging.INFO, logger="feedback_api.analytics.refresher")
        for _ in range(3):
            caplog.clear()
            await asyncio.gather(*(job.tick() for job in jobs))
            refreshed = [r for r in caplog.records if "analytics refreshed" in r.getMessage()]
            assert len(refreshed) == 1
            await asyncio.sleep(0.3)  # the figures are due again
        items = (await second.get("/v1/feedback/accuracy")).json()["items"]
    assert items[0]["total"] == 1
