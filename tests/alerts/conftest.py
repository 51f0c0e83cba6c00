"""Votes written straight into the tables with explicit cast times, and a real webhook."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from feedback_api.analytics.refresher import refresh_now
from feedback_api.config import Settings
from feedback_api.kit.db import create_sessionmaker
from tests.live_server import LiveServer

# n interactions, one vote each, spread evenly over [start, end). A vote is positive when a
# hash of its request id falls under the rate: pseudo-random, the same at every run. Like
# the API's writes, the statement logs what it touched in analytics_changes (see
# analytics/repository.py change_row), so an ordinary refresh counts these votes. Anonymous
# votes: no voters whose last casts the refresh would have to follow.
VOTES = text(
    """
    WITH made AS (
        INSERT INTO interactions (id, request_id, query, response, model, intent, project,
                                  created_at)
        SELECT gen_random_uuid(), :prefix || '-' || g, 'a question', 'an answer', :model,
               :intent, :project,
               CAST(:start AS timestamptz) + (CAST(:end AS timestamptz)
                   - CAST(:start AS timestamptz)) * ((g - 0.5) / CAST(:n AS float8))
        FROM generate_series(1, :n) AS g
        RETURNING id, request_id, created_at, model, intent, project, session_id
    ), voted AS (
        INSERT INTO feedback (id, interaction_id, is_helpful, created_at, updated_at)
        SELECT gen_random_uuid(), id,
               (hashtext(request_id) & 1048575) < CAST(:rate AS float8) * 1048576,
               created_at, created_at
        FROM made
        RETURNING interaction_id, user_id, created_at
    )
    INSERT INTO analytics_changes (answer_hour, query_hour, cast_at, model, intent, project,
                                   user_id, session_id, removed)
    SELECT DISTINCT date_trunc('hour', made.created_at, 'UTC'),
           date_trunc('hour', made.created_at, 'UTC'), voted.created_at, made.model,
           made.intent, made.project, voted.user_id, made.session_id, false
    FROM voted JOIN made ON made.id = voted.interaction_id
    """
)


class Votes:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.batches = 0

    async def add(
        self,
        model: str,
        rate: float,
        n: int,
        start: datetime,
        end: datetime,
        *,
        intent: str | None = None,
        project: str | None = None,
    ) -> None:
        self.batches += 1
        async with self.engine.begin() as conn:
            await conn.execute(
                VOTES,
                {
                    "prefix": f"b{self.batches}-{model}-{intent}-{project}",
                    "model": model,
                    "intent": intent,
                    "project": project,
                    "start": start,
                    "end": end,
                    "n": n,
                    "rate": rate,
                },
            )

    async def now(self) -> datetime:
        async with self.engine.connect() as conn:
            value: datetime = (await conn.execute(text("SELECT now()"))).scalar_one()
        return value

    async def windows(self) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
        """(baseline, recent) ranges well inside the default 28- and 7-day windows."""
        now = await self.now()
        recent = (now - timedelta(days=7) + timedelta(hours=2), now - timedelta(minutes=5))
        baseline = (now - timedelta(days=35) + timedelta(hours=2), now - timedelta(days=7, hours=2))
        return baseline, recent


@pytest.fixture
async def votes(engine: AsyncEngine, settings: Settings) -> Votes:
    # A first refresh on the empty tables: the first one ever rebuilds everything, and the
    # tests' refreshes are to be ordinary ones, reading the change log.
    async with create_sessionmaker(engine)() as session, session.begin():
        await refresh_now(session, settings, full=False)
    return Votes(engine)


class Receiver:
    """A webhook receiver on a real port: records each body; answers `fail_first` 500s."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_first = 0
        self._received = threading.Condition()

        async def hook(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            with self._received:
                self.attempts += 1
                if self.attempts <= self.fail_first:
                    return JSONResponse({"error": "down for a moment"}, 500)
                self.bodies.append(body)
                self._received.notify_all()
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        self.server = LiveServer(self.app)
        self.url = self.server.url + "/hook"

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        """The bodies received, once there are `count` of them (20 s at most)."""

        def wait() -> bool:
            with self._received:
                return self._received.wait_for(lambda: len(self.bodies) >= count, timeout=20)

        # The receiver runs in the live server's thread: wait on its condition in another.
        if not await asyncio.to_thread(wait):
            raise AssertionError(f"{len(self.bodies)} deliveries, expected {count}")
        return list(self.bodies)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    with hook.server:
        yield hook
