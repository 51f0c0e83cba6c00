"""Rejected spans leave one log line per export, at most one a minute per kind of reason."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from feedback_api.traces.service import RejectedSpansLog

KEYS = "ingest:ingest-key-0123456789"
HEADERS = {"Authorization": "Bearer ingest-key-0123456789", "Content-Type": "application/json"}
LOGGER = "feedback_api.traces.service"


def _string(value: str) -> dict[str, Any]:
    return {"stringValue": value}


def _span(
    span_id: str, model: str | None, start: int = 1_764_000_000_000_000_000
) -> dict[str, Any]:
    """An OTLP/JSON GenAI chat span with a question and an answer (no model if None)."""
    question = [{"role": "user", "parts": [{"type": "text", "content": "Hi?"}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]
    messages = {
        "gen_ai.input.messages": json.dumps(question),
        "gen_ai.output.messages": json.dumps(answer),
    }
    attributes = {"gen_ai.operation.name": "chat", **messages}
    if model is not None:
        attributes["gen_ai.request.model"] = model
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_000_000),
        "attributes": [{"key": k, "value": _string(v)} for k, v in attributes.items()],
    }


def _export(*spans: dict[str, Any]) -> bytes:
    scope = {"scope": {"name": "genai"}, "spans": list(spans)}
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [scope]}]}).encode()


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


async def test_an_export_with_rejected_spans_is_logged_once_a_minute_per_reason(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    no_model = _export(_span("0000000000000001", "qwen"), _span("0000000000000002", None))
    epoch = _export(_span("0000000000000003", "qwen", start=1_000_000_000))  # 1970: refused
    async with make_client(api_keys=KEYS) as client:
        for body in (no_model, no_model, epoch, _export(_span("0000000000000004", "qwen"))):
            r = await client.post("/v1/traces", content=body, headers=HEADERS)
            assert r.status_code == 200, r.text
    lines = _lines(caplog)
    assert len(lines) == 2, lines  # the second no-model export within the minute: held back
    assert lines[0] == (
        "OTLP export: 1 of 2 span(s) not stored; the first: span "
        "5b8efff798038103d269b633813fc60c-0000000000000002: no gen_ai.response.model or "
        "gen_ai.request.model"
    )
    assert lines[1].startswith("OTLP export: 1 of 1 span(s) not stored; the first: span ")
    assert "is before 2000-01-01" in lines[1]


def test_a_reason_held_back_is_logged_again_after_a_minute_with_the_count_held() -> None:
    now = [0.0]
    log = RejectedSpansLog(interval=60.0, clock=lambda: now[0])
    assert log.export_rejected(2, 5, "no model", "span a: no model")
    now[0] = 30.0
    assert not log.export_rejected(1, 1, "no model", "span b: no model")
    assert not log.export_rejected(1, 1, "no model", "span c: no model")
    assert log.export_rejected(1, 1, "too old", "span d: too old")  # another reason: its own
    now[0] = 60.5
    assert log.export_rejected(1, 3, "no model", "span e: no model")
    assert not log.export_rejected(1, 3, "no model", "span f: no model")


def test_the_line_after_a_pause_says_how_many_exports_were_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    now = [0.0]
    log = RejectedSpansLog(clock=lambda: now[0])
    for moment in (0.0, 10.0, 20.0, 61.0):
        now[0] = moment
        log.export_rejected(1, 1, "no model", "span x: no model")
    assert _lines(caplog) == [
        "OTLP export: 1 of 1 span(s) not stored; the first: span x: no model",
        "OTLP export: 1 of 1 span(s) not stored; the first: span x: no model (2 more export(s) "
        "rejected spans for this reason since the last such line)",
    ]
