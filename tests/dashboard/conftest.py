from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, async_playwright
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from feedback_api.app import create_app
from feedback_api.cli import demo
from feedback_api.config import Settings
from feedback_api.kit.db import create_sessionmaker
from feedback_api.review.job import apply_rules
from tests.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"


def server_settings(database_url: str) -> Settings:
    # The tests refresh explicitly; a background tick would only add noise.
    return Settings(  # type: ignore[call-arg]
        database_url=database_url, refresh_interval_seconds=3600, _env_file=None
    )


@pytest.fixture(scope="module")
def live_server(database_url: str) -> Iterator[LiveServer]:
    with LiveServer(create_app(server_settings(database_url))) as server:
        yield server


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        await browser.close()


async def fill(engine: AsyncEngine, database_url: str, count: int, seed: int = 7) -> None:
    """Synthetic traffic through the services (the demo generator), anchored at now."""
    await demo.load(
        create_sessionmaker(engine),
        server_settings(database_url),
        count,
        seed=seed,
        anchor=datetime.now(UTC),
    )


async def refresh(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await client.post("/v1/admin/refresh", params={"full": "true"})
        response.raise_for_status()


async def review_sample(engine: AsyncEngine, rate: float) -> None:
    """A queue whose rule samples every answer at `rate`, drawn by the rules job, and each
    sampled answer decided: correct where its thumbs are mostly up, with a reviewer who
    disagrees with the thumbs one time in five (the verdicts written directly: the review
    page's own tests drive the reviewers)."""
    async with engine.begin() as conn:
        queue_id = await conn.scalar(
            text(
                "INSERT INTO review_queues (id, name, reviewers_per_item, lease_seconds, blind)"
                " VALUES (gen_random_uuid(), 'sample', 1, 900, true) RETURNING id"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO review_rules (id, queue_id, kind, sample_rate, since, hash_key)"
                " VALUES (gen_random_uuid(), :q, 'sample', :rate, now() - interval '1 year',"
                " 'dashboard')"
            ),
            {"q": queue_id, "rate": rate},
        )
    async with AsyncSession(engine) as session, session.begin():
        await apply_rules(session)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE review_items AS r SET state = 'done', labels = 1,"
                " consensus = 'unanimous', decided_at = now(),"
                " verdict = CASE WHEN (coalesce(v.up, 0.5) >= 0.5) = (random() >= 0.2)"
                " THEN 'correct' ELSE 'incorrect' END"
                " FROM (SELECT i.id, (SELECT avg(f.is_helpful::int) FROM feedback f"
                "  WHERE f.interaction_id = i.id) AS up FROM interactions i) AS v"
                " WHERE v.id = r.interaction_id"
            )
        )
