"""`feedback-api top --once` against a real server over HTTP."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from feedback_api.cli.commands import app
from tests.dashboard.conftest import fill, refresh
from tests.live_server import LiveServer, free_port

runner = CliRunner()


@pytest.mark.slow  # fills a served database, then the terminal dashboard reads it
async def test_once_prints_one_frame_with_the_figures(
    live_server: LiveServer, engine: AsyncEngine, database_url: str
) -> None:
    await fill(engine, database_url, 400)
    await refresh(live_server.url)
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        stats = (await client.get("/v1/feedback/stats", params={"days": 7})).json()
        models = (await client.get("/v1/feedback/accuracy", params={"group_by": "model"})).json()
        intents = (await client.get("/v1/feedback/accuracy", params={"group_by": "intent"})).json()

    result = runner.invoke(app, ["top", "--once", "--url", live_server.url], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Votes (7 days)" in out
    assert f"{stats['total_feedback']:,}" in out
    assert f"{stats['positive_pct']:.1f} %" in out
    assert "Accuracy by model" in out and "Accuracy by intent" in out
    for item in models["items"]:
        row = next(line for line in out.splitlines() if f" {item['model']} " in line)
        assert f"{100 * item['accuracy']:.1f} %" in row
        assert f"{item['total']:,}" in row
        assert "█" in row or item["accuracy"] < 1 / 24  # the bar
    for item in intents["items"]:
        assert re.search(rf"\b{item['intent']}\b.*{100 * item['accuracy']:.1f} %", out)
    assert "Refresh: as of" in out
    # The bars' characters are explained, in the characters themselves.
    legend = next(line for line in out.splitlines() if "95 % interval" in line)
    assert "█ accuracy" in legend and "▒ 95 % interval" in legend and "· up to 100 %" in legend
    # Best model first.
    order = [m["model"] for m in sorted(models["items"], key=lambda i: -i["accuracy"])]
    positions = [out.index(f" {name} ") for name in order]
    assert positions == sorted(positions)


async def test_once_on_an_empty_database_says_so(live_server: LiveServer) -> None:
    result = runner.invoke(app, ["top", "--once", "--url", live_server.url])
    assert result.exit_code == 0, result.output
    assert "no votes yet" in result.output


def test_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = runner.invoke(app, ["top", "--once", "--url", url])
    assert result.exit_code == 1
    assert f"cannot reach {url}" in result.output


def test_interval_must_be_sensible() -> None:
    result = runner.invoke(app, ["top", "--interval", "0"])
    assert result.exit_code == 2


async def test_sends_the_api_key(engine: AsyncEngine, database_url: str) -> None:
    from feedback_api.app import create_app
    from tests.dashboard.conftest import server_settings
    from tests.live_server import RequireKey

    app_ = create_app(server_settings(database_url))
    app_.add_middleware(RequireKey)
    with LiveServer(app_) as server:
        refused = runner.invoke(app, ["top", "--once", "--url", server.url])
        assert refused.exit_code == 1
        assert "--api-key" in refused.output
        allowed = runner.invoke(
            app, ["top", "--once", "--url", server.url], env={"FEEDBACK_API_KEY": "secret"}
        )
        assert allowed.exit_code == 0, allowed.output
        assert "Accuracy by model" in allowed.output


LONG_MODEL = "a-fine-tuned-model-with-a-name-far-too-long-for-any-terminal-column-v2"


@pytest.mark.slow  # fills a served database, then the terminal dashboard reads it
async def test_80_columns_names_never_wrap_and_alerts_are_listed(
    live_server: LiveServer, engine: AsyncEngine, database_url: str
) -> None:
    await fill(engine, database_url, 400)
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        body = {
            "query": "q", "response": "a", "model": LONG_MODEL, "intent": "code", "rating": 1,
        }  # fmt: skip
        assert (await client.post("/v1/feedback", json=body)).status_code == 201
    await refresh(live_server.url)
    # After the refresh: its evaluation would resolve an alert these few votes do not carry.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO alerts VALUES (gen_random_uuid(), 'qwen-2.5-coder-7b', 'code', NULL,"
                " 'open', 0.8, 0.77, 0.83, 0.5, 0.44, 0.56, 900, 260, 1e-12, now(), NULL, now())"
            )
        )
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        models = (await client.get("/v1/feedback/accuracy", params={"group_by": "model"})).json()

    result = runner.invoke(app, ["top", "--once", "--url", live_server.url], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    # The frame's lines (the live server's access log shares the captured stderr).
    lines = [line for line in result.output.splitlines() if line[:1] in "╭│╰"]
    assert len(lines) > 20 and max(len(line) for line in lines) <= 80
    model_rows = [line for line in lines if ("%" in line and "█" in line) or "·" in line]
    for item in models["items"]:
        name = item["model"]
        if name == LONG_MODEL:
            # Cut with an ellipsis, on its own row with its figures.
            row = next(line for line in lines if "a-fine-tuned-model" in line)
            assert "…" in row and f"{100 * item['accuracy']:.1f} %" in row
        else:
            assert any(f" {name} " in line for line in model_rows), name
    # No row continues a name on a second line: every table row has its figures.
    for line in lines:
        if line.count("│") > 2:  # a table row (the panel's own border is two)
            assert "%" in line, line
    out = result.output
    assert "Votes (7 days)" in out and "Last 7 days" in out
    assert "Accuracy by model (all votes)" in out and "Accuracy by intent (all votes)" in out
    assert "Open regression alerts (last 7 days against the 28 before)" in out
    alert_row = next(line for line in lines if "qwen-2.5-coder-7b / intent" in line)
    assert "50.0 % (260)" in alert_row and "80.0 % (900)" in alert_row
