"""Request ids, JSON logs without private text, Prometheus metrics."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from feedback_api.observability import configure_logging
from tests.helpers import exchange


async def test_request_ids_go_in_and_out(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(generated.headers["x-request-id"]) == 32


async def test_logs_are_json_and_keep_private_text_out(
    client: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    try:
        body = exchange(rating=1, user_id="secret-user-42", query="my private question")
        await client.post("/v1/feedback", json=body, headers={"X-Request-ID": "req-log-1"})
        await client.get("/v1/feedback", params={"user_id": "secret-user-42"})
    finally:
        logging.getLogger().handlers.clear()
    err = capfd.readouterr().err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("logger") == "feedback_api.access"]
    assert any(r["request_id"] == "req-log-1" and r["route"] == "/v1/feedback" for r in access)
    assert all({"time", "level", "message", "status", "duration_ms"} <= set(r) for r in access)
    assert "secret-user-42" not in err and "my private question" not in err


async def test_metrics_in_prometheus_format(client: httpx.AsyncClient) -> None:
    await client.post("/v1/feedback", json=exchange(rating=1))
    await client.post("/v1/admin/refresh")
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'feedback_api_http_requests_total{method="POST",route="/v1/feedback",status="201"}' in text
    )
    assert "feedback_api_http_request_duration_seconds_bucket" in text
    assert "feedback_api_db_pool_checked_out" in text
    assert "feedback_api_analytics_lag_seconds" in text


async def test_metrics_can_require_the_read_scope(make_client: Any) -> None:
    async with make_client(metrics_public=False, api_keys="read:read-key-0123456789") as client:
        assert (await client.get("/metrics")).status_code == 401
        ok = await client.get("/metrics", headers={"X-API-Key": "read-key-0123456789"})
        assert ok.status_code == 200


def test_errors_are_json_lines_with_their_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("feedback_api.test").exception("it failed: %s", "why", extra={"n": 1})
    finally:
        logging.getLogger().handlers.clear()
    [line] = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    assert line["level"] == "ERROR" and line["message"] == "it failed: why" and line["n"] == 1
    assert "RuntimeError: boom" in line["exc_info"] and line["request_id"] is None
