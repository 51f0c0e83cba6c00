"""What the dashboard's charts show: a model's one colour (shared with the weekly report), its
Wilson band on demand, and the positive ratio drawn over its votes."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.dashboard.colours import fnv1a, model_colours, palette
from tests.dashboard.conftest import fill, refresh
from tests.live_server import LiveServer

NAMES = [
    "gpt-4o-mini",
    "qwen-2.5-coder-7b",
    "llama-3.1-8b-instruct",
    "mistral-7b-instruct",
    "qwen-3-8b",
    "(none)",
    "modèle-à-accents",
    "模型",
    "\U0001f916-bot",  # outside the BMP: sorted by code point in both languages
    "\uff41-fullwidth",
    *(f"m{i}" for i in range(8)),
]


def test_fnv1a_matches_the_reference_vectors() -> None:
    # The FNV-1a 32-bit test vectors of the algorithm's authors.
    assert fnv1a("") == 0x811C9DC5
    assert fnv1a("a") == 0xE40C292C
    assert fnv1a("foobar") == 0xBF9CF968


def test_a_model_keeps_its_colour_as_others_come_and_go() -> None:
    colours = palette()
    assert len(set(colours)) == len(colours) >= 8
    slot = {name: fnv1a(name) % len(colours) for name in NAMES}
    # Models whose slots differ get their slot's colour, whatever else is in the view.
    alone = {}
    for name in NAMES:
        if slot[name] not in {slot[n] for n in alone}:
            alone[name] = slot[name]
    assigned = model_colours(alone)
    assert assigned == {name: colours[s] for name, s in alone.items()}
    for name in alone:
        fewer = model_colours(n for n in alone if n != name)
        assert all(fewer[n] == assigned[n] for n in fewer)
    # Two models of one slot: the first by name keeps it, the other takes the next free one.
    first, second = sorted(n for n in NAMES if slot[n] == slot[NAMES[0]])[:2]
    pair = model_colours([second, first])
    assert pair[first] == colours[slot[first]]
    assert pair[second] == colours[(slot[first] + 1) % len(colours)]
    # As many models as colours: each its own.
    assert len(set(model_colours(NAMES[: len(colours)]).values())) == len(colours)


async def _open(browser: Browser, url: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url + "/dashboard")
    await page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=30_000)
    return page, errors


@pytest.fixture
async def filled(
    live_server: LiveServer, engine: AsyncEngine, database_url: str
) -> AsyncIterator[LiveServer]:
    # Every test's tables are emptied after it: filled for each.
    await fill(engine, database_url, 800)
    await refresh(live_server.url)
    yield live_server


CHART_COLOURS = """() => {
  const out = {};
  for (const name of ["accuracy", "reasons", "model-accuracy"]) {
    const box = document.querySelector(`[data-chart="${name}"]`);
    out[name] = box.data
      .filter((t) => t.showlegend !== false)
      .map((t) => [t.name, (t.marker && t.marker.color) || t.line.color]);
  }
  return out;
}"""


@pytest.mark.slow
async def test_one_colour_per_model_on_every_chart_and_in_the_report(
    browser: Browser, filled: LiveServer
) -> None:
    page, errors = await _open(browser, filled.url)
    # The page's rule (colours.js) gives what the report's (colours.py) gives.
    for names in (NAMES, NAMES[:5], NAMES[3:], list(reversed(NAMES))):
        in_js = await page.evaluate(
            "async (names) => Object.fromEntries(window.modelColours.assign("
            "names, await window.modelColours.loadPalette()))",
            names,
        )
        assert in_js == model_colours(names)
    assert await page.evaluate("(names) => names.map(window.modelColours.fnv1a)", NAMES) == [
        fnv1a(n) for n in NAMES
    ]

    page_colours: dict[str, str] = json.loads(
        await page.get_attribute("body", "data-model-colours") or "{}"
    )
    assert page_colours == model_colours(page_colours)
    charts: dict[str, list[list[str]]] = await page.evaluate(CHART_COLOURS)
    for chart, traces in charts.items():
        assert traces, chart
        for name, colour in traces:
            assert colour == page_colours[name], (chart, name)
    # A model has the same colour on the three charts.
    seen = {(name, colour) for traces in charts.values() for name, colour in traces}
    assert len(seen) == len({name for name, _ in seen})

    # The traffic lies before now: the week of four days ago has four days of it at least,
    # where the current week has none early on a Monday.
    year, number, _ = (datetime.now(UTC) - timedelta(days=4)).isocalendar()
    week = f"{year}-W{number:02d}"
    async with httpx.AsyncClient(base_url=filled.url, timeout=60) as client:
        report = (
            await client.get("/v1/reports/weekly", params={"format": "json", "week": week})
        ).json()
        html = (
            await client.get("/v1/reports/weekly", params={"format": "html", "week": week})
        ).text
    bars = dict(
        re.findall(
            r'>([^<>]+)</text><rect x="\d+" y="[\d.]+" width="[\d.]+" '
            r'height="\d+" fill="(#[0-9a-f]{6})"',
            html,
        )
    )
    rated = [m["model"] for m in report["models"] if m["accuracy"] is not None]
    assert rated and set(bars) == set(rated)
    in_report = model_colours(m["model"] for m in report["models"])
    assert bars == {m: in_report[m] for m in rated}
    # The same models on the page and in the report: the same colours.
    if set(page_colours) == {m["model"] for m in report["models"]}:
        assert all(page_colours[m] == c for m, c in bars.items())
    assert errors == []


# How opaque each band's area is drawn (Plotly puts a colour's alpha in fill-opacity).
BAND_FILLS = """() => [...document.querySelectorAll(
  '[data-chart="model-accuracy"] .scatterlayer .trace path.js-fill'
)].map((path) => Number(getComputedStyle(path).fillOpacity))"""


async def _shown_bands(page: Page) -> int:
    return sum(1 for opacity in await page.evaluate(BAND_FILLS) if opacity > 0)


@pytest.mark.slow
async def test_a_models_band_shows_when_it_is_picked(browser: Browser, filled: LiveServer) -> None:
    page, errors = await _open(browser, filled.url)
    box = page.locator('[data-chart="model-accuracy"]')
    lines = await box.locator(".scatterlayer .trace").count()
    assert await box.get_attribute("data-bands") == "[]"
    assert len(await page.evaluate(BAND_FILLS)) >= 3  # drawn, and
    assert await _shown_bands(page) == 0  # none shown: five bands at once blur into one

    bands = (
        "() => JSON.parse(document.querySelector('[data-chart=\"model-accuracy\"]').dataset.bands)"
    )
    # Pointing at a model's line shows its band, until the pointer leaves.
    await box.scroll_into_view_if_needed()
    # A marker well inside the plot (one at 100 % sits on its edge, where hovering stops).
    area = await box.locator(".nsewdrag").bounding_box()
    assert area is not None
    markers = box.locator(".scatterlayer .trace .points path")
    for index in range(await markers.count()):
        point = await markers.nth(index).bounding_box()
        assert point is not None
        y = point["y"] + point["height"] / 2
        if area["y"] + area["height"] / 4 < y < area["y"] + 3 * area["height"] / 4:
            break
    await page.mouse.move(point["x"] + point["width"] / 2, y, steps=4)
    await page.wait_for_function(f"() => ({bands})().length === 1")
    assert await _shown_bands(page) == 1
    await page.mouse.move(2, 2)
    await page.wait_for_function(f"() => ({bands})().length === 0")
    assert await _shown_bands(page) == 0

    # A click on a model's legend entry picks it: its band shows, its line stays.
    entry = box.locator(".legend .traces").first
    name = (await entry.locator(".legendtext").text_content() or "").strip()
    await entry.locator(".legendtoggle").click()
    await page.wait_for_function(f"(name) => ({bands})().includes(name)", arg=name)
    assert await _shown_bands(page) == 1
    assert await box.locator(".scatterlayer .trace").count() == lines
    # A second click puts the band away.
    await entry.locator(".legendtoggle").click()
    await page.wait_for_function(
        "() => document.querySelector('[data-chart=\"model-accuracy\"]').dataset.bands === '[]'"
    )
    assert await _shown_bands(page) == 0
    assert errors == []


@pytest.mark.slow
async def test_the_positive_ratio_is_drawn_over_its_votes_with_round_ticks(
    browser: Browser, filled: LiveServer
) -> None:
    page, errors = await _open(browser, filled.url)
    layout: dict[str, Any] = await page.evaluate(
        """() => {
          const box = document.querySelector('[data-chart="positive-ratio"]');
          const bars = box.querySelector('.barlayer .trace');
          const line = box.querySelector('.scatterlayer .trace .js-line');
          const ticks = [...box.querySelectorAll('.yaxislayer-above .ytick text')]
            .map((t) => t.textContent);
          return {
            lineAfterBars: Boolean(
              bars.compareDocumentPosition(line) & Node.DOCUMENT_POSITION_FOLLOWING
            ),
            ticks,
            barsSide: box._fullLayout.yaxis.side,
            lineSide: box._fullLayout.yaxis2.side,
          };
        }"""
    )
    # Later in the SVG is drawn in front: the line over the bars.
    assert layout["lineAfterBars"]
    assert layout["barsSide"] == "right" and layout["lineSide"] == "left"
    ticks = [int(t.replace(",", "")) for t in layout["ticks"]]
    assert ticks[0] == 0 and len(ticks) >= 3
    steps = {b - a for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1, ticks
    step = steps.pop()
    assert re.fullmatch(r"[125]0*", str(step)), ticks  # 1, 2, 5, 10, 20, 50, ...
    assert errors == []


HOSTILE = '<a href="https://evil.example/x">click</a>'
STYLED = '<span style="font-size:90px">big</span>'


@pytest.mark.slow
async def test_names_a_client_chose_are_text_on_every_chart(
    browser: Browser, live_server: LiveServer
) -> None:
    # Plotly reads a subset of HTML in trace names, ticks and hover text: a model, an
    # intent, a reason or a question holding markup must show as the characters it is.
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        for n in range(12):
            body = {
                "request_id": f"hostile-{n}",
                "query": f"{STYLED} question {n % 3}",
                "response": "an answer",
                "model": HOSTILE if n % 2 else STYLED,
                "intent": STYLED,
                "rating": -1 if n % 3 else 1,
                "reasons": ["incorrect"] if n % 3 else [],
            }
            assert (await client.post("/v1/feedback", json=body)).status_code == 201
    await refresh(live_server.url)
    page, errors = await _open(browser, live_server.url)
    charts = page.locator("[data-chart] svg")
    assert await charts.count() > 0
    # No link and no styled text of a name anywhere in the charts' drawings.
    # Plotly writes a link as an `a` with the namespaced xlink:href, which an attribute
    # selector without a namespace would never match: any `a` at all is a name made markup.
    assert await page.locator("[data-chart] svg a").count() == 0
    styled = await page.evaluate(
        "() => [...document.querySelectorAll('[data-chart] svg *')]"
        ".filter((e) => (e.getAttribute('style') || '').includes('90px')).length"
    )
    assert styled == 0
    legend = await page.locator('[data-chart="accuracy"] .legendtext').all_text_contents()
    assert HOSTILE in legend and STYLED in legend, legend
    assert not errors, errors
    await page.context.close()


@pytest.mark.slow
async def test_long_names_never_widen_the_page_or_the_report(
    browser: Browser, live_server: LiveServer
) -> None:
    # The longest names the API takes, with no space to break at.
    model, intent, comment = "m" * 200, "i" * 200, "c" * 3_000
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        for n in range(3):
            body = {
                "request_id": f"long-{n}",
                "query": "q" * 2_000,
                "response": "an answer",
                "model": model,
                "intent": intent,
                "rating": -1,
                "comment": comment,
            }
            assert (await client.post("/v1/feedback", json=body)).status_code == 201
    await refresh(live_server.url)
    page, errors = await _open(browser, live_server.url)
    # The page's width against the window's, and what sticks out (for the failure's message).
    width = """() => [document.documentElement.scrollWidth, window.innerWidth,
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1
          || e.scrollWidth > e.clientWidth + 1)
        .slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className)]"""
    scrolled, viewport, wide = await page.evaluate(width)
    assert scrolled <= viewport, (scrolled, viewport, wide)
    await page.goto(live_server.url + "/v1/reports/weekly?format=html")
    scrolled, viewport, wide = await page.evaluate(width)
    assert scrolled <= viewport, (scrolled, viewport, wide)
    assert not errors, errors
    await page.context.close()
