"""Small helpers shared by tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def count(engine: AsyncEngine, table: str, where: str = "true", **params: Any) -> int:
    """Rows committed in `table`, read over a separate connection (what a 2xx promised)."""
    async with engine.connect() as conn:
        value = await conn.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)
    return int(value or 0)


def exchange(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": "Write hello world in Python",
        "response": 'print("Hello, World!")',
        "model": "qwen-2.5-coder-7b",
        "intent": "code",
        "project": "demo",
    }
    body.update(overrides)
    return body


# Exchanges with a vote each, written in one statement (`:rows` of them, request ids from
# `:prefix`), for the tests of statistics that plan for none of a table's rows.
EXCHANGES = """
WITH i AS (
  INSERT INTO interactions (id, request_id, query, response, model, intent, project, created_at)
  SELECT gen_random_uuid(), :prefix || g, 'question ' || (g % 50), 'answer ' || g,
         'model-' || (g % 3), 'intent-' || (g % 4), 'project', now() - (g % 20) * interval '1 hour'
  FROM generate_series(1, :rows) AS g RETURNING id, created_at)
INSERT INTO feedback (id, interaction_id, is_helpful, user_id, created_at)
SELECT gen_random_uuid(), id, random() < 0.7, 'user-' || (random() * 100)::int, created_at FROM i
"""


async def write_exchanges(engine: AsyncEngine, prefix: str, rows: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(EXCHANGES), {"prefix": prefix, "rows": rows})


async def plan_for_no_rows(engine: AsyncEngine) -> None:
    """The state autovacuum leaves when it analyzes a table just emptied: 0 rows in N pages,
    in `interactions` and `feedback` (the `no_autovacuum` fixture keeps it)."""
    await write_exchanges(engine, "gone-", 300)
    async with engine.begin() as conn:
        for statement in (
            "ANALYZE interactions",
            "ANALYZE feedback",
            "DELETE FROM feedback",
            "DELETE FROM interactions",
            "ANALYZE interactions",
            "ANALYZE feedback",
        ):
            await conn.execute(text(statement))
    assert await planned_rows(engine, "interactions") == 0


async def planned_rows(engine: AsyncEngine, table: str) -> float:
    """The table's rows as its statistics say (`pg_class.reltuples`)."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
        )
    return float(found)
