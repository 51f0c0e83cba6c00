from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.app import create_app
from feedback_api.cli import demo
from feedback_api.config import Settings
from feedback_api.kit.db import create_sessionmaker
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
