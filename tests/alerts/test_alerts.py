"""Regression alerts end to end: votes with cast times, refreshes, GET /v1/alerts, the
webhook on a real HTTP server, /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.alerts.job import evaluate_after_refresh, retry_delay
from feedback_api.alerts.service import benjamini_hochberg
from feedback_api.config import Settings
from feedback_api.kit.db import create_sessionmaker
from tests.alerts.conftest import Receiver, Votes
from tests.helpers import count

FAST_DELIVERY = {
    "alert_webhook_interval_seconds": 0.1,
    "alert_webhook_retry_seconds": 0.1,
    "alert_webhook_retry_max_seconds": 0.5,
}


async def tick(client: httpx.AsyncClient) -> None:
    """One ordinary refresh (the evaluation runs in it)."""
    response = await client.post("/v1/admin/refresh")
    assert response.status_code == 200, response.text


async def alerts(client: httpx.AsyncClient, status: str = "open") -> list[dict[str, Any]]:
    response = await client.get("/v1/alerts", params={"status": status})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def delivered(engine: AsyncEngine, n: int) -> None:
    """Wait until `n` deliveries are marked delivered (the mark commits after the answer)."""
    for _ in range(400):
        if await count(engine, "alert_deliveries", "delivered_at IS NOT NULL") >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {n} deliveries marked delivered")


async def falling_model(votes: Votes, model: str = "qwen-2.5-coder-7b") -> None:
    """80 % positive over the baseline, 50 % over the last 7 days, 250+ votes each side."""
    baseline, recent = await votes.windows()
    await votes.add(model, 0.8, 900, *baseline)
    await votes.add(model, 0.5, 260, *recent)


async def stable_model(votes: Votes, model: str, rate: float = 0.8) -> None:
    baseline, recent = await votes.windows()
    await votes.add(model, rate, 900, *baseline)
    await votes.add(model, rate, 260, *recent)


@pytest.mark.slow  # weeks of votes and a webhook over a socket
async def test_a_drop_opens_one_alert_one_delivery_and_resolves_with_one_more(
    make_client: Callable[..., Any], votes: Votes, receiver: Receiver, engine: AsyncEngine
) -> None:
    await falling_model(votes)
    await stable_model(votes, "llama-3.1-8b")
    async with make_client(alert_webhook_url=receiver.url, **FAST_DELIVERY) as client:
        for _ in range(3):
            await tick(client)
        opened = await alerts(client)
        assert len(opened) == 1, opened
        alert = opened[0]
        assert (alert["model"], alert["intent"], alert["project"]) == (
            "qwen-2.5-coder-7b", None, None,
        )  # fmt: skip
        assert alert["status"] == "open" and alert["resolved_at"] is None
        assert alert["recent_votes"] == 260 and alert["baseline_votes"] == 900
        assert 0.75 < alert["baseline_rate"] < 0.85 and 0.44 < alert["recent_rate"] < 0.56
        assert alert["baseline_ci_low"] < alert["baseline_rate"] < alert["baseline_ci_high"]
        assert alert["recent_ci_high"] < alert["baseline_ci_low"]
        assert alert["p_value"] < 1e-9

        (body,) = await receiver.wait_for(1)
        assert body["alert"] == alert
        assert body["text"].startswith("[feedback-api] Regression: model qwen-2.5-coder-7b")
        assert "last 7 days" in body["text"] and "28 days before" in body["text"]
        assert "\n" not in body["text"]
        # More ticks: still one alert, still one delivery.
        await tick(client)
        await asyncio.sleep(0.5)
        assert len(receiver.bodies) == 1
        assert await count(engine, "alerts") == 1

        # The rate recovers: many good votes in the recent window.
        _, recent = await votes.windows()
        await votes.add("qwen-2.5-coder-7b", 0.95, 1200, *recent)
        await tick(client)
        assert await alerts(client) == []
        (resolved,) = await alerts(client, "resolved")
        assert resolved["id"] == alert["id"] and resolved["resolved_at"] is not None
        assert resolved["recent_rate"] > 0.8
        bodies = await receiver.wait_for(2)
        assert bodies[1]["alert"] == resolved
        assert bodies[1]["text"].startswith("[feedback-api] Resolved: model qwen-2.5-coder-7b")
        await delivered(engine, 2)
        await tick(client)
        await asyncio.sleep(0.5)
        assert len(receiver.bodies) == 2
        assert await count(engine, "alert_deliveries") == 2
        assert await alerts(client, "all") == [resolved]


@pytest.mark.slow  # weeks of votes and a webhook over a socket
async def test_the_webhook_text_shows_a_clients_names_as_plain_text_on_one_line(
    make_client: Callable[..., Any], votes: Votes, receiver: Receiver
) -> None:
    # A model named by a client: in Slack's format `<!channel>` would notify everyone.
    name = "<!channel>\n& co"
    await falling_model(votes, model=name)
    async with make_client(alert_webhook_url=receiver.url, **FAST_DELIVERY) as client:
        await tick(client)
        (body,) = await receiver.wait_for(1)
    assert body["text"].startswith("[feedback-api] Regression: model &lt;!channel&gt; &amp; co:")
    assert body["alert"]["model"] == name  # the alert itself keeps the name as it is


@pytest.mark.slow  # a hundred segments of votes
async def test_a_hundred_stable_segments_open_none(
    settings: Settings, votes: Votes, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    baseline, recent = await votes.windows()
    # 20 models x 4 intents: 20 model segments and 80 model x intent ones, 250 votes or more
    # on each side; true rates from 60 % to 90 %, the same before and after.
    for m in range(20):
        for i in range(4):
            rate = 0.6 + 0.3 * ((m * 4 + i) % 7) / 6
            await votes.add(f"model-{m}", rate, 250, *baseline, intent=f"intent-{i}")
            await votes.add(f"model-{m}", rate, 250, *recent, intent=f"intent-{i}")
    for _ in range(2):
        await tick(client)
    assert await alerts(client, "all") == []
    async with create_sessionmaker(engine)() as session:
        result = await evaluate_after_refresh(session, settings)
    assert result is not None and result.tested == 100 and result.opened == []


async def test_a_drop_in_one_intent_opens_that_segment(
    votes: Votes, client: httpx.AsyncClient
) -> None:
    baseline, recent = await votes.windows()
    for intent, after in (("chat", 0.8), ("code", 0.45)):
        await votes.add("m", 0.8, 800, *baseline, intent=intent, project="web")
        await votes.add("m", after, 250, *recent, intent=intent, project="web")
    await tick(client)
    segments = {(a["model"], a["intent"], a["project"]) for a in await alerts(client)}
    assert ("m", "code", None) in segments
    assert ("m", "chat", None) not in segments
    # Too few votes on a side: not tested at all.
    await votes.add("small", 0.9, 99, *baseline)
    await votes.add("small", 0.1, 99, *recent)
    await tick(client)
    assert all(a["model"] != "small" for a in await alerts(client))


@pytest.mark.slow  # waits out the retry backoff
async def test_failed_deliveries_are_retried_with_backoff(
    make_client: Callable[..., Any], votes: Votes, receiver: Receiver, engine: AsyncEngine
) -> None:
    receiver.fail_first = 2
    await falling_model(votes)
    async with make_client(alert_webhook_url=receiver.url, **FAST_DELIVERY) as client:
        await tick(client)
        (body,) = await receiver.wait_for(1)
        await delivered(engine, 1)
        assert receiver.attempts == 3
        assert body["alert"]["status"] == "open"
    async with engine.connect() as conn:
        query = "SELECT attempts, delivered_at, last_error FROM alert_deliveries"
        row = (await conn.execute(text(query))).one()
    assert row.attempts == 3 and row.delivered_at is not None and row.last_error is None


@pytest.mark.slow  # waits while the webhook is down
async def test_deliveries_wait_while_the_webhook_is_down_and_the_refresh_does_not(
    make_client: Callable[..., Any], votes: Votes, receiver: Receiver, engine: AsyncEngine
) -> None:
    receiver.fail_first = 10**6
    await falling_model(votes)
    async with make_client(alert_webhook_url=receiver.url, **FAST_DELIVERY) as client:
        await tick(client)
        assert len(await alerts(client)) == 1
        await asyncio.sleep(1.0)
        # Refreshes go on while the webhook fails.
        await tick(client)
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT attempts, last_error FROM alert_deliveries"))).one()
    # Backoff 0.1, 0.2, 0.4, then 0.5 s at most: a handful of attempts in a second, not 10.
    assert 2 <= row.attempts <= 6, row.attempts
    assert row.last_error == "the webhook answered 500"
    assert receiver.bodies == []


def test_backoff_doubles_up_to_its_ceiling(settings: Settings) -> None:
    tuned = settings.model_copy(
        update={"alert_webhook_retry_seconds": 10.0, "alert_webhook_retry_max_seconds": 60.0}
    )
    assert [retry_delay(n, tuned) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_benjamini_hochberg_against_a_worked_example() -> None:
    # Benjamini & Hochberg (1995), section 4: 15 p-values, q = 0.05 rejects the four smallest.
    p = [0.0201, 0.7590, 0.0095, 0.0344, 0.0298, 0.0001, 0.4262, 0.0004, 0.6528, 0.0278,
         0.3240, 0.5719, 1.0, 0.0019, 0.0459]  # fmt: skip
    rejected = benjamini_hochberg(p, 0.05)
    assert sorted(v for v, r in zip(p, rejected, strict=True) if r) == [
        0.0001, 0.0004, 0.0019, 0.0095,
    ]  # fmt: skip
    assert benjamini_hochberg([], 0.05) == []


async def test_alerts_filters_scope_and_gauge(
    make_client: Callable[..., Any], votes: Votes, engine: AsyncEngine
) -> None:
    read, ingest, admin = "r" * 20, "i" * 20, "a" * 20
    keys = f"read:{read},ingest:{ingest},admin:{admin}"
    await falling_model(votes, "a-model")
    await falling_model(votes, "b-model")
    async with make_client(api_keys=keys) as client:
        as_admin = {"Authorization": f"Bearer {admin}"}
        assert (await client.post("/v1/admin/refresh", headers=as_admin)).status_code == 200
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE alerts SET status = 'resolved', resolved_at = now() "
                     "WHERE model = 'b-model'")
            )  # fmt: skip
        get = client.get
        assert (await get("/v1/alerts")).status_code == 401
        assert (await get("/v1/alerts", headers={"X-API-Key": ingest})).status_code == 403
        as_reader = {"X-API-Key": read}
        by_status = {}
        for status in ("open", "resolved", "all"):
            response = await get("/v1/alerts", params={"status": status}, headers=as_reader)
            assert response.status_code == 200
            by_status[status] = [a["model"] for a in response.json()["items"]]
        assert by_status["open"] == ["a-model"]
        assert by_status["resolved"] == ["b-model"]
        assert sorted(by_status["all"]) == ["a-model", "b-model"]
        default = await get("/v1/alerts", headers=as_reader)
        assert [a["model"] for a in default.json()["items"]] == ["a-model"]
        bad = await get("/v1/alerts", params={"status": "closed"}, headers=as_reader)
        assert bad.status_code == 422 and "status" in bad.json()["detail"]

        metrics = (await get("/metrics")).text
        assert "feedback_api_alerts_open 1.0" in metrics


async def test_the_database_refuses_a_second_open_alert_per_segment(
    votes: Votes, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await falling_model(votes)
    await tick(client)
    copy = text(
        "INSERT INTO alerts SELECT gen_random_uuid(), model, intent, project, 'open', "
        "baseline_rate, baseline_ci_low, baseline_ci_high, recent_rate, recent_ci_low, "
        "recent_ci_high, baseline_votes, recent_votes, p_value, opened_at, resolved_at, "
        "evaluated_at FROM alerts"
    )
    with pytest.raises(IntegrityError, match="uq_alerts_open_segment"):
        async with engine.begin() as conn:
            await conn.execute(copy)
    # Once resolved, a new open alert may sit beside it: the history.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alerts SET status = 'resolved', resolved_at = now()"))
        await conn.execute(copy)
    assert await count(engine, "alerts") == 2
    assert await count(engine, "alerts", "status = 'open'") == 1
