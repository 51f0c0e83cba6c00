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
