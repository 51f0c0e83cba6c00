"""An answer logged many times (twins) and an exchange voted by many users: each example is
written once, with all of its votes, by the first of them (`exports.canonical`: the twin
before, the voter before, the anonymous voter last). What it costs at size is measured by
`bench/bench_export.py --twins N` (docs/benchmarks/exports.md), not here."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.app import create_app
from feedback_api.config import Settings
from tests.live_server import LiveServer

_TWINS = text(
    """
    WITH i AS (
      INSERT INTO interactions (id, request_id, query, response, model, created_at)
      SELECT gen_random_uuid(), 'twin-' || g, 'How do I reset my password?',
             'Open Settings, then Security.', 'm', now()
      FROM generate_series(1, :twins) AS g RETURNING id, created_at)
    INSERT INTO feedback (id, interaction_id, is_helpful, user_id, created_at)
    SELECT gen_random_uuid(), id, g % 3 > 0, 'u', created_at
    FROM (SELECT i.*, row_number() OVER () AS g FROM i) AS numbered
    """
)
_VOTERS = text(
    """
    WITH i AS (
      INSERT INTO interactions (id, request_id, query, response, model, created_at)
      VALUES (gen_random_uuid(), 'shared', 'What is 2 + 2?', '5', 'm', now())
      RETURNING id, created_at)
    INSERT INTO feedback (id, interaction_id, is_helpful, user_id, created_at)
    SELECT gen_random_uuid(), id, g % 4 = 0, CASE WHEN g = 1 THEN NULL ELSE 'user-' || g END,
           created_at
    FROM i, generate_series(1, :voters) AS g
    """
)


async def test_popular_examples_are_written_once_with_all_their_votes(
    database_url: str, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DISCARD PLANS"))
        await conn.execute(_TWINS, {"twins": 3_000})
        await conn.execute(_VOTERS, {"voters": 2_000})
    # As autovacuum would within a minute: an earlier test's emptied tables, analyzed, would
    # otherwise tell the planner they are still empty (docs/decisions/025).
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE interactions, feedback"))
    settings = Settings(database_url=database_url, refresh_enabled=False, _env_file=None)  # type: ignore[call-arg]
    with LiveServer(create_app(settings)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            r = await client.post(
                "/v1/feedback/export/finetuning", json={"days": 1, "format": "weighted"}
            )
    assert r.status_code == 200
    lines = [json.loads(line) for line in r.text.splitlines()]
    found = sorted(
        (x["messages"][-1]["content"], x["metadata"]["up_votes"], x["metadata"]["down_votes"])
        for x in lines
    )
    # The twins: 2,000 up, 1,000 down; the shared exchange: 500 up, 1,500 down (one of them
    # anonymous): each a line, once.
    assert found == [("5", 500, 1500), ("Open Settings, then Security.", 2000, 1000)]
