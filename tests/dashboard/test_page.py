"""The web dashboard in a real headless Chromium against the real app on a real database."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.app import create_app
from feedback_api.reasons.schemas import DEFAULT_REASONS
from tests.alerts.conftest import Votes
from tests.dashboard.conftest import fill, refresh, review_sample, server_settings
from tests.dashboard.picture import charts_of, with_charts
from tests.live_server import LiveServer, RequireKey

# Slow: every test drives the page in a real Chromium.
pytestmark = pytest.mark.slow

CHARTS = (
    "daily-volume",
    "response-time",
    "positive-ratio",
    "top-queries",
    "accuracy",
    "reasons",
    "model-accuracy",
    "estimated-accuracy",
)
# The README's picture: taken at every run, rewritten only on request (so that a test run
# leaves the tree clean), and the run fails when it shows other charts than the page.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
UPDATE_SCREENSHOT = os.environ.get("FEEDBACK_UPDATE_SCREENSHOT") == "1"
RETAKE = (
    "FEEDBACK_UPDATE_SCREENSHOT=1 pytest tests/dashboard/test_page.py "
    "-k test_every_chart_is_drawn -p no:cacheprovider"
)


class Watched:
    """A page with its console errors and every URL it requested."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", lambda request: self.requests.append(request.url))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    async def loads(self) -> int:
        return int(await self.page.get_attribute("body", "data-loads") or 0)

    async def after_load(self, action: Callable[[], Awaitable[Any]]) -> None:
        """Run `action` (a filter change) and wait until the page has drawn its result."""
        before = await self.loads()
        await action()
        await self.page.wait_for_function(
            "(before) => Number(document.body.dataset.loads || 0) > before && "
            "!document.querySelector('#error:not([hidden])')",
            arg=before,
            timeout=20_000,
        )

    async def points(self) -> dict[str, int]:
        result = {}
        for name in CHARTS:
            value = await self.page.get_attribute(f'[data-chart="{name}"]', "data-points")
            assert value is not None, f"chart {name} was never drawn"
            result[name] = int(value)
        return result


@pytest.fixture
async def open_page(
    browser: Browser,
) -> AsyncIterator[Callable[[str], Awaitable[Watched]]]:
    contexts = []

    async def _open(url: str) -> Watched:
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        watched = Watched(await context.new_page())
        await watched.page.goto(url + "/dashboard")
        await watched.page.wait_for_function(
            "() => Number(document.body.dataset.loads || 0) >= 1", timeout=30_000
        )
        return watched

    yield _open
    for context in contexts:
        await context.close()


async def test_every_chart_is_drawn_and_filters_change_it(
    live_server: LiveServer,
    open_page: Callable[[str], Awaitable[Watched]],
    engine: AsyncEngine,
    database_url: str,
) -> None:
    await fill(engine, database_url, 1500)
    await review_sample(engine, 0.25)
    await refresh(live_server.url)
    watched = await open_page(live_server.url)
    page = watched.page

    assert await page.is_hidden("[data-empty-state]")
    assert await page.is_hidden("#error")
    points = await watched.points()
    assert all(n > 0 for n in points.values()), points
    assert points["daily-volume"] == 30  # the default range: the last 30 days, one bar each
    assert points["top-queries"] == 10
    # One bar per model and reason with down-votes, as the API counts them.
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        items = (await api.get("/v1/metrics/reasons", params={"days": 30})).json()["items"]
    assert points["reasons"] == sum(1 for i in items if i["model"] and i["down_votes"])
    # Plotly drew an SVG with one error bar per model x intent group.
    assert await page.locator('[data-chart="accuracy"] .errorbar').count() == points["accuracy"]
    assert (await page.text_content("#as-of") or "").startswith("figures as of")
    # Accuracy by model over time: a few votes per model and day, so ISO weeks, and per
    # model two band edges and the line.
    over_time = page.locator('[data-chart="model-accuracy"]')
    assert await over_time.get_attribute("data-bucket") == "week"
    assert "ISO week" in (await page.text_content("#model-accuracy-note") or "")
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        series = (await client.get("/v1/metrics/daily", params={"group_by": "model"})).json()
    models = min(8, len(series["series"]))
    assert await over_time.locator(".scatterlayer .trace").count() == 3 * models
    assert await over_time.locator(".scatterlayer .trace path.js-fill").count() >= models
    # Estimated beside voted accuracy: per model with a reviewed sample, two bars with their
    # whiskers, and its reviewed count under its name, as the API gives them.
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        today = datetime.now(UTC).date()
        window = {
            "since": f"{today - timedelta(days=29)}T00:00:00Z",
            "until": f"{today + timedelta(days=1)}T00:00:00Z",
        }
        estimated = (await client.get("/v1/metrics/estimated-accuracy", params=window)).json()[
            "items"
        ]
    sampled = [i for i in estimated if i["answers"] > 0]
    assert sampled and all(i["estimated_accuracy"] is not None for i in sampled)
    assert points["estimated-accuracy"] == len(sampled)
    box = page.locator('[data-chart="estimated-accuracy"]')
    assert await box.locator(".bars .point").count() == 2 * len(sampled)
    assert await box.locator(".errorbar").count() == 2 * len(sampled)
    reviewed = json.loads(await box.get_attribute("data-reviewed") or "{}")
    assert reviewed == {i["model"]: i["reviewed"] for i in sampled}
    ticks = await box.locator(".xtick").all_text_contents()
    for item in sampled:
        label = f"{item['reviewed']:,} reviewed of {item['answers']:,}"
        assert any(item["model"] in t and label in t for t in ticks), ticks
    # Each model's bars in its colour of every chart.
    colours = json.loads(await page.get_attribute("body", "data-model-colours") or "{}")
    fills = await box.locator(".bars .point path").evaluate_all(
        "paths => paths.map((p) => getComputedStyle(p).fill)"
    )
    assert len(fills) == 2 * len(sampled)
    for item in sampled:
        hex_ = colours[item["model"]].lstrip("#")
        rgb = f"rgb({int(hex_[0:2], 16)}, {int(hex_[2:4], 16)}, {int(hex_[4:6], 16)})"
        assert fills.count(rgb) >= 1, (rgb, fills)
    assert await page.is_hidden("#alerts-banner")  # stable demo traffic: no alert
    assert (await page.text_content("#kpi-votes") or "-").replace(",", "").isdigit()
    shot = await page.screenshot(full_page=True)
    assert shot.startswith(b"\x89PNG")
    shown = await page.eval_on_selector_all(
        "[data-chart]", "boxes => boxes.filter((b) => b.offsetParent).map((b) => b.dataset.chart)"
    )
    assert set(CHARTS) <= set(shown), shown
    if UPDATE_SCREENSHOT:
        SCREENSHOT.write_bytes(with_charts(shot, shown))
    pictured = charts_of(SCREENSHOT.read_bytes())
    assert pictured == shown, f"docs/dashboard.png shows {pictured}, the page {shown}: {RETAKE}"

    # One model: fewer accuracy groups, less volume; the address bar keeps the choice.
    total_before = int(await page.get_attribute('[data-chart="daily-volume"]', "data-total") or 0)
    await watched.after_load(lambda: page.select_option("#model", "mistral-7b-instruct"))
    one_model = await watched.points()
    assert 0 < one_model["accuracy"] < points["accuracy"]
    total_after = int(await page.get_attribute('[data-chart="daily-volume"]', "data-total") or 0)
    assert 0 < total_after < total_before
    assert "model=mistral-7b-instruct" in page.url

    # A shorter date range: one bar per day of it.
    today = datetime.now(UTC).date()
    since = (today - timedelta(days=6)).isoformat()
    await watched.after_load(lambda: page.fill("#since", since))
    assert (await watched.points())["daily-volume"] == 7
    # From after To: the same seven days, the fields put in order.
    until = await page.input_value("#until")
    await watched.after_load(lambda: page.fill("#since", until))
    await watched.after_load(lambda: page.fill("#until", since))
    assert (await page.input_value("#since"), await page.input_value("#until")) == (since, until)
    assert (await watched.points())["daily-volume"] == 7
    assert f"since={since}" in page.url and f"until={until}" in page.url

    # One model's reasons: one bar per reason it was voted down for.
    reasons = (await watched.points())["reasons"]
    assert 0 < reasons <= len(DEFAULT_REASONS)
    bars = page.locator('[data-chart="reasons"] .bars .point')
    assert await bars.count() == reasons

    # An intent with the model: the accuracy chart narrows to that one group.
    await watched.after_load(lambda: page.select_option("#intent", "code"))
    assert (await watched.points())["accuracy"] == 1

    assert watched.errors == []
    # Everything came from this server: no CDN, nothing from outside.
    assert all(url.startswith(live_server.url) for url in watched.requests), watched.requests


async def test_empty_database_shows_a_friendly_empty_state(
    live_server: LiveServer, open_page: Callable[[str], Awaitable[Watched]]
) -> None:
    await refresh(live_server.url)
    watched = await open_page(live_server.url)
    assert await watched.page.is_visible("[data-empty-state]")
    assert await watched.page.is_hidden("#error")
    assert await watched.points() == dict.fromkeys(CHARTS, 0)
    assert await watched.page.locator(".no-data").count() == len(CHARTS)
    assert watched.errors == []


async def test_auto_refresh_picks_up_new_data(
    live_server: LiveServer,
    open_page: Callable[[str], Awaitable[Watched]],
    engine: AsyncEngine,
    database_url: str,
) -> None:
    watched = await open_page(live_server.url)
    assert await watched.page.is_visible("[data-empty-state]")
    await fill(engine, database_url, 200)
    await refresh(live_server.url)
    # The shortest interval the page offers; the page then reloads by itself.
    await watched.page.select_option("#interval", "5")
    await watched.page.wait_for_function(
        "() => document.body.dataset.state === 'ready'", timeout=30_000
    )
    assert (await watched.points())["daily-volume"] == 30
    stored = "() => localStorage.getItem('feedback-api-dashboard-interval')"
    assert await watched.page.evaluate(stored) == "5"
    assert watched.errors == []


async def test_asks_once_for_a_key_when_the_api_wants_one(
    open_page: Callable[[str], Awaitable[Watched]],
    engine: AsyncEngine,
    database_url: str,
    browser: Browser,
) -> None:
    app = create_app(server_settings(database_url))
    app.add_middleware(RequireKey)
    with LiveServer(app) as server:
        await fill(engine, database_url, 100)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            response = await client.post(
                "/v1/admin/refresh", headers={"Authorization": "Bearer secret"}
            )
            assert response.status_code == 200
        context = await browser.new_context()
        try:
            watched = Watched(await context.new_page())
            page = watched.page
            await page.goto(server.url + "/dashboard")
            dialog = page.locator("#key-dialog")
            await dialog.wait_for(state="visible")
            # A wrong key is refused and the dialog comes back, saying so.
            await page.fill("#key-input", "wrong")
            await page.click("#key-form button[type=submit]")
            await page.wait_for_function(
                "() => document.getElementById('key-reason').textContent.includes('not accepted')"
            )
            await page.fill("#key-input", "secret")
            await page.click("#key-form button[type=submit]")
            await page.wait_for_function("() => document.body.dataset.state === 'ready'")
            points = await watched.points()  # every chart drawn
            # 100 exchanges over 90 days leave a vote or two in the page's 30 days: maybe no
            # thumbs-down with a reason among them.
            points.pop("reasons")
            points.pop("estimated-accuracy")  # no review queue here
            assert all(n > 0 for n in points.values()), points
            key = await page.evaluate("() => sessionStorage.getItem('feedback-api-key')")
            assert key == "secret"
            # Kept for the browser session: a reload asks nothing.
            await page.reload()
            await page.wait_for_function("() => document.body.dataset.state === 'ready'")
            assert await dialog.is_hidden()
            # The only console errors are the browser's notes about the 401 answers.
            assert all("401" in error for error in watched.errors), watched.errors
        finally:
            await context.close()


async def test_assets_are_served_from_the_package(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'data-chart="accuracy"' in page.text
    plotly = await client.get("/dashboard/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert plotly.headers["content-type"].startswith("text/javascript")
    script = await client.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200 and "data-points" not in script.headers
    missing = await client.get("/dashboard/static/..%2Fapp.py")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_daily_points_with_enough_votes_and_the_alerts_banner(
    live_server: LiveServer,
    open_page: Callable[[str], Awaitable[Watched]],
    engine: AsyncEngine,
) -> None:
    votes = Votes(engine)
    now = await votes.now()
    start = now - timedelta(days=29)
    # 40 votes a day for each of two models over the chart's 30 days: one point per day.
    await votes.add("steady-model", 0.8, 1200, start, now)
    await votes.add("sliding-model", 0.7, 1200, start, now)
    await refresh(live_server.url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO alerts VALUES (gen_random_uuid(), 'sliding-model', 'code', NULL,"
                " 'open', 0.8, 0.77, 0.83, 0.5, 0.44, 0.56, 900, 260, 1e-12, now(), NULL, now())"
            )
        )
    watched = await open_page(live_server.url)
    page = watched.page
    over_time = page.locator('[data-chart="model-accuracy"]')
    assert await over_time.get_attribute("data-bucket") == "day"
    assert 55 <= int(await over_time.get_attribute("data-points") or 0) <= 62  # 2 x 29-31 days
    assert await over_time.locator(".scatterlayer .trace").count() == 6
    banner = page.locator("#alerts-banner")
    assert await banner.is_visible()
    assert await banner.get_attribute("data-count") == "1"
    text_ = await banner.text_content() or ""
    assert "1 open regression alert" in text_ and "last 7 days against the 28 before" in text_
    assert "sliding-model / intent code: 80.0 % → 50.0 %" in text_
    assert watched.errors == []
