"""`feedback-api top --once` against a real server over HTTP."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from feedback_api.cli.commands import app
from tests.dashboard.conftest import fill, refresh
from tests.live_server import LiveServer, free_port

runner = CliRunner()


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
