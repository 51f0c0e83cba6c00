"""Statistics that plan for no rows (a table analyzed while empty) are brought up to date
before a full rebuild, which would otherwise read a table once per row of another."""

from __future__ import annotations

from typing import cast

import httpx
import pytest
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from feedback_api.analytics.refresher import REBUILT_FROM
from feedback_api.interactions.models import Interaction
from feedback_api.kit.statistics import TableStatistics
from tests.helpers import plan_for_no_rows, planned_rows, write_exchanges


@pytest.mark.usefixtures("no_autovacuum")
async def test_a_full_refresh_analyzes_tables_whose_statistics_plan_for_none_of_their_rows(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await plan_for_no_rows(engine)
    await write_exchanges(engine, "new-", 12_000)
    r = await client.post("/v1/admin/refresh", params={"full": "true"})
    assert r.status_code == 200, r.text
    for table in ("interactions", "feedback"):
        assert await planned_rows(engine, table) == 12_000, table


@pytest.mark.usefixtures("no_autovacuum")
async def test_statistics_that_fit_the_table_are_left_alone(engine: AsyncEngine) -> None:
    await plan_for_no_rows(engine)
    await write_exchanges(engine, "few-", 50)
    async with AsyncSession(engine) as session:
        # 50 rows where none are planned for: too few to matter.
        assert await TableStatistics(session).refresh_stale(REBUILT_FROM) == []
    await write_exchanges(engine, "more-", 5_000)
    async with AsyncSession(engine) as session:
        analyzed = await TableStatistics(session).refresh_stale(REBUILT_FROM)
        await session.commit()
        assert analyzed == ["interactions", "feedback"]
        # Up to date now: nothing more to do.
        assert await TableStatistics(session).refresh_stale(REBUILT_FROM) == []
        table = cast(Table, Interaction.__table__)
        assert await TableStatistics(session).refresh_stale([table]) == []
