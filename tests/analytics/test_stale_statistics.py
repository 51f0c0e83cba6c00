"""Statistics that plan for no rows (a table analyzed while empty) are brought up to date
before a full rebuild, which would otherwise read a table once per row of another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from feedback_api.analytics.refresher import REBUILT_FROM
from feedback_api.interactions.models import Interaction
from feedback_api.kit.statistics import TableStatistics

EXCHANGES = """
WITH i AS (
  INSERT INTO interactions (id, request_id, query, response, model, intent, project, created_at)
  SELECT gen_random_uuid(), :prefix || g, 'question ' || (g % 50), 'answer ' || g,
         'model-' || (g % 3), 'intent-' || (g % 4), 'project', now() - (g % 20) * interval '1 hour'
  FROM generate_series(1, :rows) AS g RETURNING id, created_at)
INSERT INTO feedback (id, interaction_id, is_helpful, user_id, created_at)
SELECT gen_random_uuid(), id, random() < 0.7, 'user-' || (random() * 100)::int, created_at FROM i
"""


@pytest.fixture
async def no_autovacuum(engine: AsyncEngine) -> AsyncIterator[None]:
    """Autovacuum kept off the two tables meanwhile: its ANALYZE, at any moment, would mend
    the statistics these tests leave stale on purpose."""
    async with engine.begin() as conn:
        for table in ("interactions", "feedback"):
            await conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    yield
    async with engine.begin() as conn:
        for table in ("interactions", "feedback"):
            await conn.execute(text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))


async def _planned_empty(engine: AsyncEngine) -> None:
    """The state autovacuum leaves when it analyzes a table just emptied: 0 rows in N pages."""
    async with engine.begin() as conn:
        await conn.execute(text(EXCHANGES), {"prefix": "gone-", "rows": 300})
        for statement in (
            "ANALYZE interactions",
            "ANALYZE feedback",
            "DELETE FROM feedback",
            "DELETE FROM interactions",
            "ANALYZE interactions",
            "ANALYZE feedback",
        ):
            await conn.execute(text(statement))
        planned = await conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'interactions'")
        )
    assert planned == 0


async def _reltuples(engine: AsyncEngine, table: str) -> float:
    async with engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
        )
    return float(found)


@pytest.mark.usefixtures("no_autovacuum")
async def test_a_full_refresh_analyzes_tables_whose_statistics_plan_for_none_of_their_rows(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await _planned_empty(engine)
    async with engine.begin() as conn:
        await conn.execute(text(EXCHANGES), {"prefix": "new-", "rows": 12_000})
    r = await client.post("/v1/admin/refresh", params={"full": "true"})
    assert r.status_code == 200, r.text
    for table in ("interactions", "feedback"):
        assert await _reltuples(engine, table) == 12_000, table


@pytest.mark.usefixtures("no_autovacuum")
async def test_statistics_that_fit_the_table_are_left_alone(engine: AsyncEngine) -> None:
    await _planned_empty(engine)
    async with engine.begin() as conn:
        await conn.execute(text(EXCHANGES), {"prefix": "few-", "rows": 50})
    async with AsyncSession(engine) as session:
        # 50 rows where none are planned for: too few to matter.
        assert await TableStatistics(session).refresh_stale(REBUILT_FROM) == []
    async with engine.begin() as conn:
        await conn.execute(text(EXCHANGES), {"prefix": "more-", "rows": 5_000})
    async with AsyncSession(engine) as session:
        analyzed = await TableStatistics(session).refresh_stale(REBUILT_FROM)
        await session.commit()
        assert analyzed == ["interactions", "feedback"]
        # Up to date now: nothing more to do.
        assert await TableStatistics(session).refresh_stale(REBUILT_FROM) == []
        table = cast(Table, Interaction.__table__)
        assert await TableStatistics(session).refresh_stale([table]) == []
