"""Every export redacts personal data by default; only an admin turns it off, on record."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from typer.testing import CliRunner

from feedback_api.cli.commands import app as cli
from feedback_api.config import Settings
from feedback_api.exports.job import export_week
from feedback_api.kit.time import iso_week_of

NOW = datetime.now(UTC)
MAIL = "ana.lima@example.org"
CARD = "4111 1111 1111 1111"
KEYS = "read:read-key-0123456789,admin:admin-key-0123456789"
READ = {"X-API-Key": "read-key-0123456789"}
ADMIN = {"X-API-Key": "admin-key-0123456789"}


async def _history(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
    """One exchange with personal data in every text, voted up; one clean, voted up."""
    exchange = {
        "request_id": "pii",
        "query": f"My card {CARD} was declined, write to {MAIL}",
        "response": f"I wrote to {MAIL} about it.",
        "model": "m1",
        "metadata": {"system_prompt": "Escalate to ops@example.com", "tags": ["10.1.2.3"]},
        "tools_called": ["crm"],
    }
    clean = {"request_id": "clean", "query": "Reverse a list?", "response": "xs[::-1]"}
    for body in (exchange, {**clean, "model": "m1"}):
        r = await client.post("/v1/interactions", json=body, headers=headers)
        assert r.status_code == 201, r.text
    for request_id in ("pii", "clean"):
        vote = {"request_id": request_id, "is_helpful": True, "user_id": "u1"}
        if request_id == "pii":
            vote["comment"] = f"call me on +49 151 23456789 or {MAIL}"
        r = await client.post("/v1/feedback", json=vote, headers=headers)
        assert r.status_code in (200, 201), r.text


async def test_finetuning_export_redacts_with_one_placeholder_per_value(
    client: httpx.AsyncClient,
) -> None:
    await _history(client)
    r = await client.post("/v1/feedback/export/finetuning", json={"days": 1})
    assert r.status_code == 200 and r.headers["x-export-redacted"] == "true"
    lines = [json.loads(line) for line in r.text.splitlines()]
    redacted = next(line for line in lines if "CREDIT_CARD" in json.dumps(line))
    system, question, answer = (m["content"] for m in redacted["messages"])
    assert system == "Escalate to <EMAIL_1>"
    assert question == "My card <CREDIT_CARD_1> was declined, write to <EMAIL_2>"
    assert answer == "I wrote to <EMAIL_2> about it."
    assert MAIL not in r.text and "1111" not in r.text
    assert any(line["messages"][-1]["content"] == "xs[::-1]" for line in lines)

    summary = await client.post("/v1/feedback/export/finetuning/summary", json={"days": 1})
    assert summary.status_code == 200
    assert summary.json()["redacted"] is True
    assert summary.json()["redactions"] == {
        "examples": 1,
        "by_type": {"CREDIT_CARD": 1, "EMAIL": 3},
    }


async def test_turning_redaction_off_needs_the_admin_scope(make_client: Any) -> None:
    async with make_client(api_keys=KEYS) as client:
        await _history(client, ADMIN)
        body = {"days": 1, "redact": False}
        refused = await client.post("/v1/feedback/export/finetuning", json=body, headers=READ)
        assert refused.status_code == 403
        assert "admin scope" in refused.json()["detail"]
        assert "personal data" in refused.json()["detail"]
        summary = "/v1/feedback/export/finetuning/summary"
        assert (await client.post(summary, json=body, headers=READ)).status_code == 403
        offline = "/v1/exports/interactions"
        params = {"days": 1, "redact": "false"}
        assert (await client.get(offline, params=params, headers=READ)).status_code == 403
        # The read scope may export redacted, the admin scope as sent.
        ok = await client.post("/v1/feedback/export/finetuning", json={"days": 1}, headers=READ)
        assert ok.status_code == 200 and MAIL not in ok.text
        raw = await client.post("/v1/feedback/export/finetuning", json=body, headers=ADMIN)
        assert raw.status_code == 200 and raw.headers["x-export-redacted"] == "false"
        assert MAIL in raw.text and CARD in raw.text
        raw_summary = (await client.post(summary, json=body, headers=ADMIN)).json()
        assert raw_summary["redacted"] is False and raw_summary["redactions"] is None
        raw_csv = await client.get(offline, params=params, headers=ADMIN)
        assert raw_csv.status_code == 200 and MAIL in raw_csv.text


async def test_offline_exports_redact_texts_comments_tools_and_metadata(
    client: httpx.AsyncClient,
) -> None:
    await _history(client)
    url = "/v1/exports/interactions"
    r = await client.get(url, params={"format": "csv", "days": 1})
    assert r.status_code == 200 and r.headers["x-export-redacted"] == "true"
    rows = {row["request_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    pii = rows["pii"]
    assert pii["query"] == "My card <CREDIT_CARD_1> was declined, write to <EMAIL_1>"
    assert pii["comment"] == "call me on <PHONE_1> or <EMAIL_1>"
    assert json.loads(pii["metadata"]) == {
        "system_prompt": "Escalate to <EMAIL_2>",
        "tags": ["<IP_ADDRESS_1>"],
    }
    assert rows["clean"]["response"] == "xs[::-1]"
    jsonl = await client.get(url, params={"format": "jsonl", "days": 1})
    assert MAIL not in jsonl.text and "<EMAIL_1>" in jsonl.text
    parquet = await client.get(url, params={"format": "parquet", "days": 1})
    table = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    assert {row["comment"] for row in table} == {"call me on <PHONE_1> or <EMAIL_1>", None}


async def test_cli_manifest_records_the_redactions_and_no_redact(
    client: httpx.AsyncClient, cli_env: Path
) -> None:
    await _history(client)
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke, cli, ["export", "finetuning", "--days", "1", "-o", "on.jsonl"]
    )
    assert result.exit_code == 0, result.output
    assert "redacted: 1 examples (CREDIT_CARD 1, EMAIL 3)" in result.output
    manifest = json.loads((cli_env / "on.manifest.json").read_text())
    assert manifest["redacted"] is True
    assert manifest["redactions"] == {"examples": 1, "by_type": {"CREDIT_CARD": 1, "EMAIL": 3}}
    assert MAIL not in (cli_env / "on.jsonl").read_text()

    args = ["export", "finetuning", "--days", "1", "-o", "off.jsonl", "--no-redact"]
    result = await asyncio.to_thread(runner.invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert "--no-redact" in result.output  # the warning
    manifest = json.loads((cli_env / "off.manifest.json").read_text())
    assert manifest["redacted"] is False and manifest["redactions"] is None
    assert MAIL in (cli_env / "off.jsonl").read_text()

    args = ["export", "interactions", "--days", "1", "-f", "jsonl", "-o", "i.jsonl"]
    result = await asyncio.to_thread(runner.invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert MAIL not in (cli_env / "i.jsonl").read_text()


@pytest.mark.parametrize("redact", [True, False])
async def test_weekly_job_records_whether_it_redacted(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
    redact: bool,
) -> None:
    last_week = NOW - timedelta(days=7)
    body = {"request_id": "w", "query": f"mail {MAIL}", "response": "ok", "model": "m1"}
    body["created_at"] = last_week.isoformat()
    assert (await client.post("/v1/interactions", json=body)).status_code == 201
    vote = {"request_id": "w", "is_helpful": True, "created_at": last_week.isoformat()}
    assert (await client.post("/v1/feedback", json=vote)).status_code == 201
    configured = settings.model_copy(update={"export_dir": tmp_path, "export_redact": redact})
    async with async_sessionmaker(engine)() as session, session.begin():
        assert await export_week(session, configured, "weighted", iso_week_of(last_week))
    (run,) = (await client.get("/v1/exports")).json()["items"]
    assert run["redacted"] is redact
    written = (tmp_path / run["file_name"]).read_text()
    manifest = json.loads(
        (tmp_path / run["file_name"].replace(".jsonl", ".manifest.json")).read_text()
    )
    assert manifest["redacted"] is redact
    if redact:
        assert run["redactions"] == {"examples": 1, "by_type": {"EMAIL": 1}}
        assert manifest["redactions"] == run["redactions"]
        assert "<EMAIL_1>" in written and MAIL not in written
    else:
        assert run["redactions"] is None and MAIL in written
