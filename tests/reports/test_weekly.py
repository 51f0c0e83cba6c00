"""The weekly report against a known data set: every figure checked against ground truth."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from feedback_api.analytics.stats import wilson_interval
from feedback_api.cli.commands import app
from feedback_api.kit.time import Week, last_finished_week

runner = CliRunner()
BAD_QUESTION = "Why is the sky green?"
XSS = "<script>alert('x')</script> & friends"


@dataclass
class Row:
    model: str
    intent: str | None
    created_at: datetime
    latency: int
    query: str
    vote: bool | None  # None: no feedback
    comment: str | None = None


def _week_rows(
    model: str, week: Week, intents: dict[str | None, tuple[int, int]], unrated: int, seed: int
) -> list[Row]:
    """`intents`: intent -> (votes, positive). Spread over the week's days."""
    rows: list[Row] = []
    n = 0
    for intent, (votes, positive) in intents.items():
        for i in range(votes):
            good = i < positive
            created = week.start + timedelta(hours=(n * 13 + seed) % (7 * 24), minutes=n % 60)
            query = f"{model} question {i % 4} about {intent}"
            comment = None
            if not good:
                down_index = i - positive
                query = BAD_QUESTION if down_index < 6 else (XSS if down_index < 8 else query)
                comment = f"wrong {down_index}" if down_index < 6 else None
            rows.append(
                Row(model, intent, created, 100 + (n * 37 + seed) % 900, query, good, comment)
            )
            n += 1
    for i in range(unrated):
        created = week.start + timedelta(hours=(i * 11 + seed) % (7 * 24))
        rows.append(Row(model, "code", created, 50 + i * 7, "no vote here", None))
    return rows


@pytest.fixture
def weeks() -> tuple[Week, Week]:
    week = last_finished_week(datetime.now(UTC))
    return week, week.previous


@pytest.fixture
async def dataset(client: httpx.AsyncClient, weeks: tuple[Week, Week]) -> list[Row]:
    week, prev = weeks
    rows = (
        _week_rows("alpha", week, {"code": (20, 19), "chat": (20, 15), "math": (10, 6)}, 10, 1)
        + _week_rows("alpha", prev, {"code": (50, 25)}, 0, 2)
        + _week_rows("beta", week, {"search": (30, 15), "rare": (3, 0)}, 0, 3)
        + _week_rows("beta", prev, {"search": (30, 14)}, 0, 4)
        # Edges: the first instant of the week counts, the first of the next week does not.
        + [Row("gamma", None, week.start, 10, "edge in", True)]
        + [Row("gamma", None, week.end, 10, "edge out", True)]
    )
    votes = []
    for index, row in enumerate(rows):
        body: dict[str, Any] = {
            "request_id": f"r-{index}",
            "query": row.query,
            "response": "an answer",
            "model": row.model,
            "intent": row.intent,
            "response_time_ms": row.latency,
            "user_id": f"u-{index % 9}",
            "created_at": row.created_at.isoformat(),
        }
        if row.vote is None:
            response = await client.post("/v1/interactions", json=body)
            assert response.status_code == 201, response.text
        else:
            body.update(rating=1 if row.vote else -1, comment=row.comment)
            votes.append(body)
    response = await client.post("/v1/feedback/batch", json={"items": votes})
    assert response.status_code == 200 and response.json()["failed"] == 0, response.text
    return rows


def _percentile(values: list[int], q: float) -> float:
    """percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _p_value(pa: int, na: int, pb: int, nb: int) -> float:
    pooled = (pa + pb) / (na + nb)
    z = (pa / na - pb / nb) / math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    return math.erfc(abs(z) / math.sqrt(2))


def _in(rows: list[Row], model: str, week: Week) -> list[Row]:
    return [r for r in rows if r.model == model and week.start <= r.created_at < week.end]


async def test_figures_match_ground_truth(
    client: httpx.AsyncClient, dataset: list[Row], weeks: tuple[Week, Week]
) -> None:
    week, prev = weeks
    response = await client.get("/v1/reports/weekly", params={"week": str(week)})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["week"] == str(week) and report["previous_week"] == str(prev)
    assert report["complete"] is True
    assert report["start"].startswith(week.monday.isoformat())
    assert [m["model"] for m in report["models"]] == ["alpha", "beta", "gamma"]  # busiest first

    this_week = [r for r in dataset if week.start <= r.created_at < week.end]
    assert report["volume"] == len(this_week)
    assert report["votes"] == sum(r.vote is not None for r in this_week)
    assert report["positive"] == sum(r.vote is True for r in this_week)

    for m in report["models"]:
        rows = _in(dataset, m["model"], week)
        voted = [r for r in rows if r.vote is not None]
        positive = sum(r.vote is True for r in voted)
        assert m["volume"] == len(rows)
        assert m["feedback_rate"] == pytest.approx(len(voted) / len(rows))
        acc = m["accuracy"]
        assert (acc["votes"], acc["positive"]) == (len(voted), positive)
        low, high = wilson_interval(positive, len(voted)) or (0, 1)
        assert acc["accuracy"] == pytest.approx(positive / len(voted))
        assert (acc["accuracy_ci_low"], acc["accuracy_ci_high"]) == pytest.approx((low, high))
        latencies = [r.latency for r in rows]
        assert m["response_time_p50_ms"] == pytest.approx(_percentile(latencies, 0.5))
        assert m["response_time_p95_ms"] == pytest.approx(_percentile(latencies, 0.95))
        before = [r for r in _in(dataset, m["model"], prev) if r.vote is not None]
        if not before:
            assert m["change"] is None
            continue
        prev_pos = sum(r.vote is True for r in before)
        change = m["change"]
        assert change["previous"]["votes"] == len(before)
        assert change["difference"] == pytest.approx(positive / len(voted) - prev_pos / len(before))
        expected_p = _p_value(positive, len(voted), prev_pos, len(before))
        assert change["p_value"] == pytest.approx(expected_p)
        assert change["significant"] is (expected_p < 0.05)

    alpha, beta, gamma = report["models"]
    assert alpha["change"]["significant"] is True  # 40/50 against 25/50
    assert beta["change"]["significant"] is False  # 15/33 against 14/30
    assert gamma["volume"] == 1  # the interaction at the next Monday 00:00 is next week's
    # Worst intents: lowest accuracy first; fewer than min_votes votes are not ranked.
    assert [i["intent"] for i in alpha["worst_intents"]] == ["math", "chat", "code"]
    assert [i["intent"] for i in beta["worst_intents"]] == ["search"]
    assert alpha["worst_intents"][0]["votes"] == 10 and alpha["worst_intents"][0]["positive"] == 6
    # Most down-voted: the question with most down-votes first, with its latest comment.
    top = alpha["most_downvoted"][0]
    bad = [r for r in _in(dataset, "alpha", week) if r.query == BAD_QUESTION]
    assert top["query"] == BAD_QUESTION
    assert top["downvotes"] == len(bad) == top["votes"]
    latest = max((r for r in bad if r.comment), key=lambda r: r.created_at)
    assert top["last_comment"] == latest.comment
    assert len(alpha["most_downvoted"]) <= 5
    assert gamma["most_downvoted"] == []

    days = report["days"]
    assert [d["date"] for d in days] == [
        (week.monday + timedelta(days=i)).isoformat() for i in range(7)
    ]
    assert sum(d["volume"] for d in days) == report["volume"]
    assert sum(d["votes"] for d in days) == report["votes"]
    for day in days:
        rows = [r for r in this_week if r.created_at.date().isoformat() == day["date"]]
        assert day["volume"] == len(rows)
        assert day["positive"] == sum(r.vote is True for r in rows)


async def test_markdown_and_html(
    client: httpx.AsyncClient, dataset: list[Row], weeks: tuple[Week, Week]
) -> None:
    week, _ = weeks
    md = await client.get("/v1/reports/weekly", params={"week": str(week), "format": "md"})
    assert md.status_code == 200
    assert md.headers["content-type"].startswith("text/markdown")
    assert f"# Model performance, week {week}" in md.text
    assert re.search(r"^\| alpha \| 60 \| .* significant\) \|", md.text, re.MULTILINE)
    assert "| beta |" in md.text and "not significant" in md.text
    assert BAD_QUESTION in md.text and '"wrong' in md.text

    page = await client.get("/v1/reports/weekly", params={"week": str(week), "format": "html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    # Self-contained: inline CSS and SVG, nothing fetched from anywhere.
    assert "<style>" in html and html.count("<svg") == 2
    assert not re.search(r"""(src|href)\s*=\s*"(?!data:)|@import|url\(""", html)
    # ... and it may load or run nothing: a browser does not even ask for an icon.
    assert '<link rel="icon" href="data:,">' in html
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    # Text from users is escaped, never markup.
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'class="sig-up"' in html  # alpha's significant rise is highlighted


async def test_empty_week_and_bad_weeks(client: httpx.AsyncClient) -> None:
    report = await client.get("/v1/reports/weekly", params={"week": "2024-W01"})
    assert report.status_code == 200
    body = report.json()
    assert body["models"] == [] and body["volume"] == 0 and len(body["days"]) == 7
    html = await client.get("/v1/reports/weekly", params={"week": "2024-W01", "format": "html"})
    assert "No interactions this week." in html.text
    current = await client.get("/v1/reports/weekly")
    assert current.status_code == 200
    assert current.json()["week"] == str(Week.containing(datetime.now(UTC).date()))
    assert current.json()["complete"] is False

    for bad, message in [
        ("2026-47", "is not an ISO week"),
        ("2025-W53", "2025 has no week 53"),
        ("2099-W01", "has not begun yet"),
    ]:
        response = await client.get("/v1/reports/weekly", params={"week": bad})
        assert response.status_code == 422, bad
        assert message in response.json()["detail"]
        assert response.json()["errors"][0]["field"] == "week"
    wrong_format = await client.get("/v1/reports/weekly", params={"format": "pdf"})
    assert wrong_format.status_code == 422
    assert "format" in wrong_format.json()["detail"]


def test_cli_writes_each_format(
    cli_env: None, dataset: list[Row], weeks: tuple[Week, Week], tmp_path: Path
) -> None:
    week, _ = weeks
    target = tmp_path / "out" / "report.json"
    result = runner.invoke(
        app, ["report", "weekly", "--week", str(week), "--format", "json", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(target.read_text())
    assert report["week"] == str(week) and report["models"][0]["model"] == "alpha"

    stdout = runner.invoke(app, ["report", "weekly", "--week", str(week)])
    assert stdout.exit_code == 0, stdout.output
    assert stdout.output.startswith(f"# Model performance, week {week}")

    html = runner.invoke(app, ["report", "weekly", "--week", str(week), "--format", "html"])
    assert html.output.startswith("<!doctype html>")

    bad = runner.invoke(app, ["report", "weekly", "--format", "pdf"])
    assert bad.exit_code == 2 and "md, html or json" in bad.output
    bad_week = runner.invoke(app, ["report", "weekly", "--week", "soon"])
    assert bad_week.exit_code == 2 and "not an ISO week" in bad_week.output


async def test_each_model_has_its_daily_series(
    client: httpx.AsyncClient, dataset: list[Row], weeks: tuple[Week, Week]
) -> None:
    week, _ = weeks
    report = (await client.get("/v1/reports/weekly", params={"week": str(week)})).json()
    for m in report["models"]:
        assert [d["date"] for d in m["days"]] == [d["date"] for d in report["days"]]
        for day in m["days"]:
            rows = [
                r for r in _in(dataset, m["model"], week)
                if r.created_at.date().isoformat() == day["date"]
            ]  # fmt: skip
            voted = [r for r in rows if r.vote is not None]
            assert day["volume"] == len(rows)
            if not voted:
                assert day["accuracy"] is None
                continue
            positive = sum(r.vote is True for r in voted)
            assert (day["accuracy"]["votes"], day["accuracy"]["positive"]) == (
                len(voted), positive,
            )  # fmt: skip
            low, high = wilson_interval(positive, len(voted)) or (0, 1)
            assert day["accuracy"]["accuracy_ci_low"] == pytest.approx(low)
            assert day["accuracy"]["accuracy_ci_high"] == pytest.approx(high)
    markdown = await client.get("/v1/reports/weekly", params={"week": str(week), "format": "md"})
    assert "| Day | Interactions | Accuracy [95 % CI] |" in markdown.text


async def test_lists_the_alerts_open_during_its_week(
    client: httpx.AsyncClient, engine: AsyncEngine, weeks: tuple[Week, Week]
) -> None:
    week, _ = weeks
    hour = timedelta(hours=1)
    # (model, opened, resolved): in the week, across its start, still open, and two outside.
    spans = [
        ("inside", week.start + 30 * hour, week.start + 50 * hour),
        ("across-start", week.start - 50 * hour, week.start + 2 * hour),
        ("still-open", week.start - 100 * hour, None),
        ("before", week.start - 100 * hour, week.start - hour),
        ("after", week.end + hour, None),
    ]
    insert = text(
        "INSERT INTO alerts VALUES (gen_random_uuid(), :model, 'code', NULL, :status, 0.8, 0.77,"
        " 0.83, 0.5, 0.44, 0.56, 900, 260, 1e-12, :opened, :resolved, :opened)"
    )
    async with engine.begin() as conn:
        for model, opened, resolved in spans:
            status = "open" if resolved is None else "resolved"
            await conn.execute(
                insert, {"model": model, "status": status, "opened": opened, "resolved": resolved}
            )
    report = (await client.get("/v1/reports/weekly", params={"week": str(week)})).json()
    assert [a["model"] for a in report["alerts"]] == ["still-open", "across-start", "inside"]
    assert report["alerts"][0]["status"] == "open" and report["alerts"][0]["intent"] == "code"
    markdown = (
        await client.get("/v1/reports/weekly", params={"week": str(week), "format": "md"})
    ).text
    assert "## Regression alerts" in markdown
    assert "- **open** model still-open / intent code: 50.0 % [44.0 %, 56.0 %]" in markdown
    assert "model after" not in markdown and "model before" not in markdown
    page = (
        await client.get("/v1/reports/weekly", params={"week": str(week), "format": "html"})
    ).text
    assert "<h2>Regression alerts</h2>" in page and "model inside / intent code" in page
    quiet = week.previous.previous  # before every alert above
    empty = (
        await client.get("/v1/reports/weekly", params={"week": str(quiet), "format": "md"})
    ).text
    assert "No regression alert was open this week." in empty


async def test_the_markdown_report_writes_no_html_of_a_model_name(
    client: httpx.AsyncClient,
) -> None:
    name = "<script>alert(1)</script>"
    body = {"query": "q", "response": "a", "model": name, "rating": 1}
    assert (await client.post("/v1/feedback", json=body)).status_code == 201
    markdown = (await client.get("/v1/reports/weekly", params={"format": "md"})).text
    # Every `<` of the name is escaped (`\<`): in the table, the model's heading and the rest.
    assert re.search(r"(?<!\\)<", markdown) is None
    assert "\\<script>alert(1)\\</script>" in markdown
