"""The feedback explorer (/dashboard#feedback) in a real headless Chromium against the real app."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.dashboard.conftest import refresh
from tests.dashboard.test_page import Watched
from tests.live_server import LiveServer

# Slow: every test drives the explorer in a real Chromium.
pytestmark = pytest.mark.slow

# Votes cast a minute apart back from this time: 31 on 2026-11-20, the rest the day before.
NEWEST = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)
VOTES = 120
INJECTION = '<img src=x onerror="window.__pwned = 1"><b>bold</b>'


def seeded(i: int) -> dict[str, Any]:
    down = i % 3 == 0
    body: dict[str, Any] = {
        "query": f"How do I sort list number {i}?",
        "response": f"Use sorted() on list {i}.",
        "model": "model-a" if i % 2 else "model-b",
        "intent": "code" if i % 4 < 2 else "chat",
        "project": "demo",
        "rating": -1 if down else 1,
        "user_id": f"user-{i}",
        "tools_called": ["rag_search"],
        "response_time_ms": 100 + i,
        "sources_used": [{"doc": f"doc-{i}.md"}],
        "metadata": {"system_prompt": "terse"},
        "created_at": (NEWEST - timedelta(minutes=i)).isoformat(),
    }
    if down:
        body["reasons"] = ["incorrect"] if i % 2 else ["too_long"]
        body["comment"] = f"not what I asked, vote {i}"
    if i == 7:
        body["comment"] = "zebra stripes were missing"
    if i == 4:
        body.update(query=INJECTION, comment=INJECTION, correction=INJECTION, rating=-1)
    return body


@pytest.fixture
async def seeded_server(live_server: LiveServer) -> AsyncIterator[LiveServer]:
    """The live server with the votes above (every test's tables are emptied after it)."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as client:
        r = await client.post(
            "/v1/feedback/batch", json={"items": [seeded(i) for i in range(VOTES)]}
        )
        assert r.status_code == 200, r.text
        assert r.json()["failed"] == 0, r.text
    await refresh(live_server.url)
    yield live_server


class Explorer(Watched):
    async def loads(self) -> int:
        return int(await self.page.get_attribute("#explorer", "data-loads") or 0)

    async def after_load(self, action: Callable[[], Awaitable[Any]]) -> None:
        before = await self.loads()
        await action()
        await self.page.wait_for_function(
            "(before) => Number(document.getElementById('explorer').dataset.loads || 0) > before",
            arg=before,
            timeout=20_000,
        )
        assert await self.page.is_hidden("#explorer-error"), await self.page.text_content(
            "#explorer-error"
        )

    async def ids(self) -> list[str]:
        rows = self.page.locator("#feedback-rows tr")
        count = await rows.count()
        return [str(await rows.nth(i).get_attribute("data-feedback-id")) for i in range(count)]

    async def column(self, name: str) -> list[str]:
        return [
            (await cell.text_content() or "")
            for cell in await self.page.locator(f"#feedback-rows td.{name}").all()
        ]


@pytest.fixture
async def explorer(
    browser: Browser, seeded_server: LiveServer
) -> AsyncIterator[Callable[[str], Awaitable[Explorer]]]:
    contexts = []

    async def _open(fragment: str = "#feedback") -> Explorer:
        context = await browser.new_context(viewport={"width": 1500, "height": 1000})
        contexts.append(context)
        watched = Explorer(await context.new_page())
        await watched.page.goto(seeded_server.url + "/dashboard" + fragment)
        explorer = "#feedback" in fragment
        loaded = "document.getElementById('explorer')" if explorer else "document.body"
        await watched.page.wait_for_function(
            f"() => Number({loaded}.dataset.loads || 0) >= 1", timeout=30_000
        )
        return watched

    yield _open
    for context in contexts:
        await context.close()


async def api_ids(url: str, **params: Any) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        r = await client.get("/v1/feedback", params={"limit": 50, **params})
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()["items"]]


async def test_lists_filters_and_pages_newest_first(
    explorer: Callable[[str], Awaitable[Explorer]], seeded_server: LiveServer
) -> None:
    watched = await explorer("#feedback")
    page: Page = watched.page
    assert await page.is_visible("#explorer")
    assert await page.is_hidden('[data-chart="accuracy"]')  # the overview is out of the way
    # Page 1: the 50 newest votes by the time they were cast, as the API lists them.
    first = await watched.ids()
    assert first == await api_ids(seeded_server.url)
    assert await page.locator("#feedback-rows tr[data-feedback-id]").count() == 50

    # Keyset pages: older, then back.
    await watched.after_load(lambda: page.click("#fx-next"))
    second = await watched.ids()
    assert len(second) == 50 and not set(second) & set(first)
    assert (await page.text_content("#fx-page")) == "page 2"
    await watched.after_load(lambda: page.click("#fx-next"))
    third = await watched.ids()
    assert len(third) == VOTES - 100
    assert await page.is_disabled("#fx-next")
    await watched.after_load(lambda: page.click("#fx-prev"))
    assert await watched.ids() == second
    await watched.after_load(lambda: page.click("#fx-prev"))
    assert await watched.ids() == first
    assert await page.is_disabled("#fx-prev")

    # Thumb, then reason (the project's label set fills the selector), then model.
    await watched.after_load(lambda: page.select_option("#fx-thumb", "down"))
    downs = await watched.column("thumb")
    # Drawn, not an emoji (test_the_thumb_reads_without_an_emoji_font): its text is a label.
    assert downs and set(downs) == {"thumbs down"}
    assert len(downs) == len([i for i in range(VOTES) if i % 3 == 0 or i == 4])
    await page.wait_for_selector('#fx-reason option[value="incorrect"]', state="attached")
    await watched.after_load(lambda: page.select_option("#fx-reason", "incorrect"))
    reasons = await watched.column("reasons")
    assert reasons and set(reasons) == {"incorrect"}
    await watched.after_load(lambda: page.select_option("#fx-model", "model-a"))
    assert await watched.ids() == await api_ids(
        seeded_server.url, is_helpful="false", reason="incorrect", model="model-a"
    )
    assert "thumb=down" in page.url and "reason=incorrect" in page.url

    # A bookmark of the address bar opens the same selection.
    again = await explorer(page.url.removeprefix(seeded_server.url + "/dashboard"))
    assert await again.ids() == await watched.ids()

    # A date range: the votes of 2026-11-20 only (UTC days).
    for name in ("thumb", "reason", "model"):
        await watched.after_load(lambda name=name: page.select_option(f"#fx-{name}", ""))
    await watched.after_load(lambda: page.fill("#fx-since", "2026-11-20"))
    await watched.after_load(lambda: page.fill("#fx-until", "2026-11-20"))
    assert len(await watched.ids()) == 31

    assert watched.errors == [] and again.errors == []


async def test_search_box_finds_words_and_a_row_opens_the_exchange(
    explorer: Callable[[str], Awaitable[Explorer]],
) -> None:
    watched = await explorer("#feedback")
    page = watched.page
    box = page.locator("input[type=search]")
    await watched.after_load(lambda: box.fill("zebr"))  # while typing: the start of a word
    assert await watched.column("comment") == ["zebra stripes were missing"]
    await watched.after_load(lambda: box.fill("list 42"))  # words of the exchange
    [row] = await watched.ids()

    await page.click(f'tr[data-feedback-id="{row}"]')
    dialog = page.locator("#feedback-detail")
    await page.wait_for_selector("#feedback-detail[data-state=ready]")
    assert await dialog.get_attribute("data-feedback-id") == row
    text = {
        name: await page.text_content(f'#detail-fields [data-field="{name}"]')
        for name in ("question", "answer", "tools", "sources", "latency", "exchange-metadata")
    }
    assert text["question"] == "How do I sort list number 42?"
    assert text["answer"] == "Use sorted() on list 42."
    assert text["tools"] == "rag_search"
    assert "doc-42.md" in (text["sources"] or "")
    assert text["latency"] == "142 ms"
    assert "terse" in (text["exchange-metadata"] or "")
    # Vote 42 is a thumbs-down with the reason too_long.
    assert await page.text_content('#detail-fields [data-field="reasons"]') == "too_long"
    await page.click("#detail-close")
    assert await dialog.is_hidden()
    assert watched.errors == []


async def test_html_in_the_data_is_shown_as_text(
    explorer: Callable[[str], Awaitable[Explorer]],
) -> None:
    watched = await explorer("#feedback")
    page = watched.page
    # (The search parser skips markup tags: what is left of it to find is "bold".)
    await watched.after_load(lambda: page.fill("input[type=search]", "bold"))
    [row] = await watched.ids()
    for name in ("comment", "correction", "question"):
        assert await watched.column(name) == [INJECTION]
    await page.click(f'tr[data-feedback-id="{row}"]')
    await page.wait_for_selector("#feedback-detail[data-state=ready]")
    assert await page.text_content('#detail-fields [data-field="correction"]') == INJECTION
    # Nothing of it became markup, and its script never ran.
    assert await page.locator("#explorer img, #explorer b, #feedback-detail img").count() == 0
    assert await page.evaluate("() => window.__pwned") is None
    assert watched.errors == []


async def test_switching_views_keeps_the_overview_working(
    explorer: Callable[[str], Awaitable[Explorer]],
) -> None:
    watched = await explorer("")
    page = watched.page
    await page.wait_for_function("() => Number(document.body.dataset.loads || 0) >= 1")
    assert await page.is_hidden("#explorer")
    await page.click('a[data-view-link="feedback"]')
    await page.wait_for_function(
        "() => Number(document.getElementById('explorer').dataset.loads || 0) >= 1"
    )
    assert len(await watched.ids()) == 50
    await page.click('a[data-view-link="overview"]')
    # The view follows the link's hash change, an event after the click: wait for it (the
    # wait fails the test if the overview never comes back).
    await page.wait_for_selector('[data-chart="accuracy"]', state="visible")
    await page.wait_for_selector("#explorer", state="hidden")
    assert await page.is_visible('[data-chart="accuracy"]')
    assert watched.errors == []


# The coloured pixels of a PNG (an element's screenshot), counted in the page's own canvas.
COLOURED_PIXELS = """async (png) => {
  const image = new Image();
  image.src = "data:image/png;base64," + png;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let green = 0, red = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (g > r + 40 && g > b + 20) green += 1;
    if (r > g + 60 && r > b + 60) red += 1;
  }
  return { green, red, pixels: data.length / 4 };
}"""


@pytest.mark.slow
async def test_the_thumb_reads_without_an_emoji_font(
    explorer: Callable[[str], Awaitable[Explorer]],
) -> None:
    # Chromium here has no emoji font: an emoji thumb would be the same empty box up or down.
    watched = await explorer("#feedback")
    page: Page = watched.page
    seen = {}
    for thumb in ("up", "down"):
        icon = page.locator(f'#feedback-rows td.thumb[data-thumb="{thumb}"] svg').first
        box = await icon.bounding_box()
        assert box is not None and box["width"] >= 12 and box["height"] >= 12
        png = base64.b64encode(await icon.screenshot()).decode()
        seen[thumb] = await page.evaluate(COLOURED_PIXELS, png)
    # Up is drawn green, down red, each with a good share of its box coloured.
    up, down = seen["up"], seen["down"]
    assert up["green"] > up["pixels"] / 5 and up["red"] == 0, up
    assert down["red"] > down["pixels"] / 5 and down["green"] == 0, down
    # No character outside the basic plane (where emoji live) is left in the column.
    texts = await watched.column("thumb")
    assert texts and all(ord(c) <= 0xFFFF for text in texts for c in text)
    # The detail's title carries the same drawing.
    await page.locator("#feedback-rows tr").first.click()
    assert await page.locator("#detail-title svg").count() == 1
    assert watched.errors == []
