"""Request ids, JSON logs without private text, Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import httpx
import pytest

from feedback_api.app import create_app
from feedback_api.config import Settings
from feedback_api.observability import AccessLog, configure_logging
from tests.conftest import in_process
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
        await asyncio.sleep(0)  # the access log writes its lines at the end of the loop's turn
    finally:
        logging.getLogger().handlers.clear()
    err = capfd.readouterr().err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("logger") == "feedback_api.access"]
    assert any(r["request_id"] == "req-log-1" and r["route"] == "/v1/feedback" for r in access)
    assert all({"time", "level", "message", "status", "duration_ms"} <= set(r) for r in access)
    assert "secret-user-42" not in err and "my private question" not in err


class _Writes:
    """A stderr that keeps each write apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


async def test_access_lines_of_one_loop_turn_are_written_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = _Writes()
    monkeypatch.setattr(sys, "stderr", stderr)
    log = AccessLog()
    log.write("POST", "/v1/feedback", 201, 0.0012, "a" * 32)
    log.write("GET", "/v1/feedback", 200, 0.0034, "b" * 32)
    assert stderr.writes == []
    await asyncio.sleep(0)
    [written] = stderr.writes
    lines = [json.loads(line) for line in written.splitlines()]
    assert [(x["method"], x["status"], x["duration_ms"]) for x in lines] == [
        ("POST", 201, 1.2),
        ("GET", 200, 3.4),
    ]
    log.write("GET", "/healthz", 200, 0.001, "c" * 32)
    await asyncio.sleep(0)
    assert len(stderr.writes) == 2 and '"route": "/healthz"' in stderr.writes[1]


def test_an_access_line_outside_an_event_loop_is_written_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = _Writes()
    monkeypatch.setattr(sys, "stderr", stderr)
    AccessLog().write("GET", "/healthz", 200, 0.001, "d" * 32)
    [written] = stderr.writes
    assert json.loads(written)["request_id"] == "d" * 32


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


async def test_an_unhandled_error_is_a_json_500_with_its_request_id(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise FileNotFoundError("an export file went away")

    configure_logging()
    try:
        async with in_process(app, raise_app_exceptions=False) as client:
            r = await client.get("/boom", headers={"X-Request-ID": "req-500"})
    finally:
        logging.getLogger().handlers.clear()
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "req-500"
    assert r.json() == {
        "detail": "an unexpected error occurred; it has been logged",
        "code": "internal_error",
        "errors": [],
    }
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    [error] = [line for line in lines if line["message"] == "unhandled error"]
    assert error["request_id"] == "req-500" and "FileNotFoundError" in error["exc_info"]
    [access] = [line for line in lines if line["logger"] == "feedback_api.access"]
    assert access["status"] == 500 and access["request_id"] == "req-500"


async def test_the_unversioned_alias_answers_like_v1(client: httpx.AsyncClient) -> None:
    body = exchange(rating=1, user_id="u-alias", request_id="alias-1")
    first = await client.post("/feedback", json=body)
    assert first.status_code == 201
    assert first.json()["rating"] == 1 and first.json()["query"] == body["query"]
    again = await client.post("/feedback", json={**body, "rating": -1})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    refused = await client.post("/feedback", json={"rating": 2})
    v1 = await client.post("/v1/feedback", json={"rating": 2})
    assert refused.status_code == v1.status_code == 422
    assert refused.json() == v1.json()


async def test_an_unhandled_error_answers_a_browser_with_its_cors_headers(
    settings: Settings,
) -> None:
    origin = "https://chat.example.com"
    app = create_app(settings.model_copy(update={"cors_origins": [origin]}))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    async with in_process(app) as client:
        r = await client.get("/boom", headers={"Origin": origin})
    assert r.status_code == 500
    assert r.headers["access-control-allow-origin"] == origin
    assert r.json()["code"] == "internal_error"


def test_access_lines_left_by_a_loop_that_closed_are_written_by_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = _Writes()
    monkeypatch.setattr(sys, "stderr", stderr)
    log = AccessLog()

    first = asyncio.new_event_loop()

    def last_turn() -> None:  # a request's last line, in the loop's last turn
        log.write("GET", "/healthz", 200, 0.001, "a" * 32)
        first.stop()

    first.call_soon(last_turn)
    first.run_forever()
    first.close()  # before the turn that would write the line
    assert stderr.writes == []

    async def next_request() -> None:
        log.write("GET", "/healthz", 200, 0.001, "b" * 32)

    asyncio.run(next_request())
    [written] = stderr.writes
    assert [json.loads(x)["request_id"][0] for x in written.splitlines()] == ["a", "b"]
