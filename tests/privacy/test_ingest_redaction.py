"""FEEDBACK_REDACT_AT_INGEST: nothing personal is stored, whichever way it comes in."""

from __future__ import annotations

import json
from typing import Any

import httpx

MAIL = "ana.lima@example.org"
PHONE = "+49 151 23456789"


def _exchange(request_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "query": f"Write to {MAIL} please",
        "response": f"Done, {MAIL} has it.",
        "model": "m1",
        "metadata": {"system_prompt": f"Support line {PHONE}"},
        **extra,
    }


async def _stored(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    r = await client.get("/v1/interactions", params={"request_id": request_id})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _assert_redacted(stored: dict[str, Any]) -> None:
    assert stored["query"] == "Write to <EMAIL_1> please"
    assert stored["response"] == "Done, <EMAIL_1> has it."
    assert stored["metadata"] == {"system_prompt": "Support line <PHONE_1>"}


async def test_every_write_path_stores_placeholders(make_client: Any) -> None:
    async with make_client(redact_at_ingest=True) as client:
        # One exchange, a batch of them, and the same one sent again (answered as stored).
        assert (await client.post("/v1/interactions", json=_exchange("one"))).status_code == 201
        again = await client.post("/v1/interactions", json=_exchange("one"))
        assert again.status_code == 200, again.text
        batch = {"items": [_exchange("b1"), _exchange("b2")]}
        assert (await client.post("/v1/interactions/batch", json=batch)).json()["created"] == 2
        for request_id in ("one", "b1", "b2"):
            _assert_redacted(await _stored(client, request_id))

        # A vote with its exchange: one set of placeholders for both.
        vote = {
            **_exchange("ctx"),
            "is_helpful": False,
            "comment": f"reach me at {MAIL}",
            "correction": f"Call {PHONE} instead",
        }
        r = await client.post("/v1/feedback", json=vote)
        assert r.status_code == 201, r.text
        stored_vote = (await client.get(f"/v1/feedback/{r.json()['id']}")).json()
        assert stored_vote["comment"] == "reach me at <EMAIL_1>"
        assert stored_vote["correction"] == "Call <PHONE_1> instead"
        _assert_redacted(await _stored(client, "ctx"))

        # A vote by request_id, a batch of votes, and an edit.
        plain = {"request_id": "one", "is_helpful": True, "comment": f"thanks, {PHONE}"}
        r = await client.post("/v1/feedback", json=plain)
        assert r.status_code == 201 and r.json()["comment"] == "thanks, <PHONE_1>"
        votes = {"items": [{"request_id": "b1", "is_helpful": True, "comment": MAIL}]}
        r = await client.post("/v1/feedback/batch", json=votes)
        assert r.status_code == 200, r.text
        (item,) = r.json()["results"]
        assert item["feedback"]["comment"] == "<EMAIL_1>"
        edit = await client.put(
            f"/v1/feedback/{stored_vote['id']}", json={"comment": f"new mail {MAIL}"}
        )
        assert edit.status_code == 200 and edit.json()["comment"] == "new mail <EMAIL_1>"


async def test_otlp_spans_are_stored_redacted(make_client: Any) -> None:
    question = [{"role": "user", "parts": [{"type": "text", "content": f"I am {MAIL}"}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": f"Hi {MAIL}"}]}]
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "qwen",
        "gen_ai.input.messages": json.dumps(question),
        "gen_ai.output.messages": json.dumps(answer),
        "gen_ai.response.id": "otlp-1",
    }
    start = 1_764_000_000_000_000_000
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "0000000000000001",
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [span]}]}]}
    async with make_client(redact_at_ingest=True) as client:
        r = await client.post("/v1/traces", json=body)
        assert r.status_code == 200, r.text
        stored = await _stored(client, "otlp-1")
        assert stored["query"] == "I am <EMAIL_1>" and stored["response"] == "Hi <EMAIL_1>"


async def test_off_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/interactions", json=_exchange("raw"))).status_code == 201
    assert MAIL in (await _stored(client, "raw"))["query"]
