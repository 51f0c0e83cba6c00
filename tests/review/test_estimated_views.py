"""Where the estimated accuracy is seen: /v1/metrics/compare with basis=estimated (checked by
hand against ppi_py's per-model figures and the standard library's normal tail), the weekly
report's section (with each queue's alpha computed by hand), and `feedback-api top`'s
column."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

import httpx
import pytest
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.analytics.stats import Z_95
from feedback_api.cli.top import Snapshot, render
from feedback_api.kit.time import Week
from feedback_api.review.estimated.service import FEW_REVIEWED, FEW_WARNING
from tests.review.helpers import add, as_open, claim, new_queue, submit
from tests.review.test_estimated_accuracy import (
    URL,
    World,
    _apply,
    _ppi,
    _review,
    _rule,
    _setup,
)

COMPARE = "/v1/metrics/compare"


async def _world(client: httpx.AsyncClient, engine: AsyncEngine, seed: int) -> World:
    """Two models' answers, thumbs, a 0.3 random sample, every sampled answer reviewed."""
    world = World(seed)
    await _setup(client, engine, world)
    queue_id = await new_queue(client, name="sample", reviewers_per_item=1)
    await _rule(client, queue_id, 0.3)
    await _apply(engine)
    world.given = await _review(client, queue_id, world.truth, leave=0)  # type: ignore[attr-defined]
    return world


def _reference(world: World, model: str) -> tuple[float, float, int]:
    """ppi_py's point estimate and variance of a model, and its reviewed count."""
    rows = [a for a in world.answers if a["model"] == model]
    ids = {a["request_id"] for a in rows}
    given: dict[str, bool] = world.given  # type: ignore[attr-defined]
    reviewed = {rid: v for rid, v in given.items() if rid in ids}
    point, variance = _ppi(rows, world.yhat(world.answers), reviewed)
    return point, variance, len(reviewed)


async def test_compare_on_the_estimates(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    world = await _world(client, engine, 4)
    r = await client.get(
        COMPARE, params={"model_a": "alpha", "model_b": "beta", "basis": "estimated"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["basis"] == "estimated"
    a, var_a, n_a = _reference(world, "alpha")
    b, var_b, n_b = _reference(world, "beta")
    # By hand: independent samples, so the variances add; a normal interval and z-test.
    se = math.sqrt(var_a + var_b)
    difference = a - b
    assert body["difference"] == pytest.approx(difference, abs=1e-6)
    assert body["standard_error"] == pytest.approx(se, abs=1e-6)
    assert body["difference_ci_low"] == pytest.approx(difference - Z_95 * se, abs=1e-6)
    assert body["difference_ci_high"] == pytest.approx(difference + Z_95 * se, abs=1e-6)
    assert body["z"] == pytest.approx(difference / se, abs=1e-6)
    p_value = 2 * (1 - NormalDist().cdf(abs(difference / se)))
    assert body["p_value"] == pytest.approx(p_value, abs=1e-9)
    assert body["significant"] is (p_value < 0.05)
    assert body["alpha"] == 0.05
    # Each side: the figures GET /v1/metrics/estimated-accuracy gives the model.
    items = {i["model"]: i for i in (await client.get(URL)).json()["items"]}
    for side, model, point, variance, reviewed in (
        ("model_a", "alpha", a, var_a, n_a),
        ("model_b", "beta", b, var_b, n_b),
    ):
        figures = body[side]
        assert figures["model"] == model and figures["reviewed"] == reviewed
        assert figures["estimated_accuracy"] == pytest.approx(point, abs=1e-6)
        assert figures["standard_error"] == pytest.approx(math.sqrt(variance), abs=1e-6)
        item = items[model]
        for name in ("estimated_ci_low", "estimated_ci_high", "voted_accuracy", "vote_bias"):
            assert figures[name] == pytest.approx(item[name], abs=1e-9)
        assert figures["answers"] == item["answers"]
    # The same figures with the window given, and the other way round: the opposite sign.
    window = {"since": body["window"]["since"], "until": body["window"]["until"]}
    r = await client.get(
        COMPARE, params={"model_a": "beta", "model_b": "alpha", "basis": "estimated", **window}
    )
    assert r.status_code == 200, r.text
    assert r.json()["difference"] == pytest.approx(-difference, abs=1e-9)
    assert r.json()["p_value"] == pytest.approx(p_value, abs=1e-9)


async def test_compare_bad_input(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await _world(client, engine, 5)
    both = {"model_a": "alpha", "model_b": "beta"}
    r = await client.get(COMPARE, params={**both, "basis": "reviews"})
    assert r.status_code == 422, r.text
    assert "'votes'" in r.text and "'estimated'" in r.text
    # A model without a reviewed sample in the window: nothing to compare.
    r = await client.get(
        COMPARE, params={"model_a": "alpha", "model_b": "gamma", "basis": "estimated"}
    )
    assert r.status_code == 404 and "gamma" in r.text
    r = await client.get(COMPARE, params={**both, "basis": "estimated", "model_b": "alpha"})
    assert r.status_code == 422
    # A window is the estimates' only: refused with the votes.
    r = await client.get(COMPARE, params={**both, "since": "2026-01-01T00:00:00Z"})
    assert r.status_code == 422 and "basis=estimated" in r.text
    # basis=votes is the default and answers as before, saying its basis.
    assert (await client.post("/v1/admin/refresh")).status_code == 200
    default = await client.get(COMPARE, params=both)
    votes = await client.get(COMPARE, params={**both, "basis": "votes"})
    assert default.status_code == votes.status_code == 200, default.text
    assert default.json()["basis"] == "votes"
    assert default.json()["difference"] == votes.json()["difference"]
    assert "total" in default.json()["model_a"]


def _alpha_by_hand(units: list[list[str]]) -> float:
    """Krippendorff's alpha, nominal, from its coincidence matrix (Krippendorff 2011)."""
    o: dict[tuple[str, str], float] = defaultdict(float)
    for unit in units:
        m = len(unit)
        for i, c in enumerate(unit):
            for j, k in enumerate(unit):
                if i != j:
                    o[(c, k)] += 1 / (m - 1)
    totals: dict[str, float] = defaultdict(float)
    for (c, _), value in o.items():
        totals[c] += value
    n = sum(totals.values())
    observed = sum(v for (c, k), v in o.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k) / (n - 1)
    return 1 - observed / expected


async def test_weekly_report_section(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    world = await _world(client, engine, 6)
    # A second queue with two reviewers an item, to give it an alpha.
    pairs = await new_queue(client, name="pairs <two>", reviewers_per_item=2)
    ids = [a["request_id"] for a in world.answers[:6]]
    await add(client, pairs, ids)
    verdicts = {
        "ann": ["correct", "correct", "correct", "incorrect", "incorrect", "correct"],
        "bob": ["correct", "incorrect", "correct", "incorrect", "correct", "correct"],
    }
    units: dict[str, list[str]] = defaultdict(list)
    for name, given in verdicts.items():
        for _ in ids:
            lease = await claim(client, pairs, as_open(name))
            assert lease is not None
            rid = lease["interaction"]["request_id"]
            verdict = given[ids.index(rid)]
            assert (await submit(client, lease, as_open(name), verdict)).status_code == 201
            units[rid].append(verdict)
    alpha = _alpha_by_hand(list(units.values()))
    assert alpha == pytest.approx(1 - 4 / (64 / 11))  # 8 correct and 4 incorrect, 4 apart

    week = Week.containing(datetime.now(UTC).date())
    r = await client.get("/v1/reports/weekly", params={"week": str(week), "format": "json"})
    assert r.status_code == 200, r.text
    section = r.json()["estimated"]
    assert [m["model"] for m in section["models"]] == ["alpha", "beta"]  # busiest first
    for item in section["models"]:
        point, variance, reviewed = _reference(world, item["model"])
        assert item["estimated_accuracy"] == pytest.approx(point, abs=1e-6)
        half = Z_95 * math.sqrt(variance)
        assert item["estimated_ci_high"] == pytest.approx(point + half, abs=1e-6)
        assert item["reviewed"] == reviewed
        votes = [
            v
            for a in world.answers
            if a["model"] == item["model"]
            for v in world.votes[a["request_id"]]
        ]
        assert item["voted_accuracy"] == pytest.approx(sum(votes) / len(votes))
        assert item["vote_bias"] == pytest.approx(sum(votes) / len(votes) - point, abs=1e-6)
    queues = {q["queue"]: q for q in section["queues"]}
    assert queues["pairs <two>"]["items"] == 6
    assert queues["pairs <two>"]["krippendorff_alpha"] == pytest.approx(alpha)
    # One label an item: no pair to agree or disagree, alpha undefined.
    assert queues["sample"]["items"] == 0 and queues["sample"]["krippendorff_alpha"] is None

    md = (await client.get("/v1/reports/weekly", params={"week": str(week), "format": "md"})).text
    assert "## How good the answers were, not only what voters said" in md
    for item in section["models"]:
        est = f"{100 * item['estimated_accuracy']:.1f} %"
        voted = f"{100 * item['voted_accuracy']:.1f} %"
        bias = f"{100 * item['vote_bias']:+.1f} pp"
        counts = f"{item['reviewed']:,} of {item['answers']:,}"
        # The sample is drawn by the server: a model can have fewer reviewed answers than
        # the estimate warns about, which its cell then says.
        few = f" ({FEW_WARNING})" if item["reviewed"] < FEW_REVIEWED else ""
        estimated = rf"{re.escape(est)} \[[^\]]*\]{re.escape(few)}"
        cells = [item["model"], estimated, rf"{re.escape(voted)} \[.*\]"]
        cells += [re.escape(bias), counts]
        pattern = "^\\| " + " \\| ".join(cells) + " \\|$"
        assert re.search(pattern, md, re.MULTILINE), md
    assert f"- pairs <two>: {alpha:.2f} (6 items with 2 or more labels)" in md
    page = (
        await client.get("/v1/reports/weekly", params={"week": str(week), "format": "html"})
    ).text
    assert "<h2>How good the answers were, not only what voters said</h2>" in page
    assert "pairs &lt;two&gt;" in page and "pairs <two>" not in page
    assert f"<td class=num>{alpha:.2f}</td>" in page


async def test_top_shows_the_estimate_beside_the_votes(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await _world(client, engine, 7)
    assert (await client.post("/v1/admin/refresh")).status_code == 200

    async def get(path: str, **params: Any) -> dict[str, Any]:
        r = await client.get(path, params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    estimated = await get(URL, group_by="model")
    snapshot = Snapshot(
        stats=await get("/v1/feedback/stats", days=7),
        by_model=await get("/v1/feedback/accuracy", group_by="model"),
        by_intent=await get("/v1/feedback/accuracy", group_by="intent"),
        alerts=await get("/v1/alerts", status="open"),
        taken_at=datetime.now(UTC),
        estimated=estimated,
    )
    for width in (140, 80):
        console = Console(width=width, record=True, color_system=None)
        console.print(render(snapshot, "http://test", width))
        out = console.export_text()
        assert "Estimated (30 d)" in out
        for item in estimated["items"]:
            row = next(line for line in out.splitlines() if f" {item['model']} " in line)
            low, high = 100 * item["estimated_ci_low"], 100 * item["estimated_ci_high"]
            cell = f"{100 * item['estimated_accuracy']:.1f} % ({low:.1f}-{high:.1f})"
            assert cell in row, out
        assert all(len(line) <= width for line in out.splitlines())
    # Without a sample, no such column.
    console = Console(width=120, record=True, color_system=None)
    console.print(render(Snapshot(**{**snapshot.__dict__, "estimated": {}}), "http://test", 120))
    assert "Estimated" not in console.export_text()


@pytest.mark.parametrize("failure", ["old server", "busy", "slow"])
def test_top_without_an_estimate_still_shows_the_rest(failure: str) -> None:
    """A server without the operation (404), too busy for it (503) or too slow: the frame
    has no estimate column, and no error."""
    from feedback_api.cli.top import fetch

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == URL:
            if failure == "slow":
                raise httpx.ReadTimeout("too slow", request=request)
            return httpx.Response(404 if failure == "old server" else 503, json={"detail": "x"})
        if path == "/v1/review/queues":
            return httpx.Response(200, json={"queues": []})
        return httpx.Response(200, json={"items": []})

    with httpx.Client(base_url="http://test", transport=httpx.MockTransport(answer)) as client:
        snapshot = fetch(client)
    assert snapshot.estimated == {}
    assert snapshot.by_model == {"items": []}
