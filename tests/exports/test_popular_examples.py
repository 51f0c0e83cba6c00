"""An answer logged many times (twins) and an exchange voted by many users: each example is
written once, and its votes are read about once, not once for each of them. Before the
first-vote look-back (docs/decisions/025-the-first-vote-writes-the-example.md), 8,000
twins took 130 s with no statistics gathered yet; 20,000 would take an hour."""

from __future__ import annotations

import json

import httpx
import pytest
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
    SELECT gen_random_uuid(), id, true, 'u', created_at FROM i
    """
)
_VOTERS = text(
    """
    WITH i AS (
      INSERT INTO interactions (id, request_id, query, response, model, created_at)
      VALUES (gen_random_uuid(), 'shared', 'What is 2 + 2?', '5', 'm', now())
      RETURNING id, created_at)
    INSERT INTO feedback (id, interaction_id, is_helpful, user_id, created_at)
    SELECT gen_random_uuid(), id, false, CASE WHEN g = 1 THEN NULL ELSE 'user-' || g END,
           created_at
    FROM i, generate_series(1, :voters) AS g
    """
)


@pytest.mark.slow  # 40,000 votes written, no statistics gathered before the export
async def test_popular_examples_are_written_once_without_reading_their_votes_per_vote(
    database_url: str, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DISCARD PLANS"))
        await conn.execute(_TWINS, {"twins": 20_000})
        await conn.execute(_VOTERS, {"voters": 20_000})
    settings = Settings(database_url=database_url, refresh_enabled=False, _env_file=None)  # type: ignore[call-arg]
    with LiveServer(create_app(settings)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            r = await client.post(
                "/v1/feedback/export/finetuning", json={"days": 1, "format": "kto"}
            )
    assert r.status_code == 200
    lines = sorted((json.loads(line) for line in r.text.splitlines()), key=lambda x: x["label"])
    assert [(x["completion"][0]["content"], x["label"]) for x in lines] == [
        ("5", False),
        ("Open Settings, then Security.", True),
    ]
