"""Exports: every format loads in the tools trainers use, with the rules applied."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import datasets
import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from typer.testing import CliRunner

from feedback_api.cli.commands import app as cli
from feedback_api.config import Settings
from feedback_api.exports.job import export_week
from feedback_api.exports.service import kto_weights
from feedback_api.kit.time import iso_week_of
from tests.conftest import kept_rows

NOW = datetime.now(UTC)
SYSTEM = "You are a terse coding assistant."


async def vote(
    client: httpx.AsyncClient, request_id: str, helpful: bool, user: str, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/v1/feedback",
        json={"request_id": request_id, "is_helpful": helpful, "user_id": user, **extra},
    )
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def log(
    client: httpx.AsyncClient, request_id: str, query: str, response: str, **extra: Any
) -> None:
    body = {
        "request_id": request_id,
        "query": query,
        "response": response,
        "model": "m1",
        "intent": "code",
        "project": "p",
        **extra,
    }
    assert (await client.post("/v1/interactions", json=body)).status_code == 201


@pytest.fixture
async def votes(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> dict[str, Any]:
    """A small history with every rule in it (written once for the tests of READS_VOTES)."""
    return await kept_rows(request, lambda: _write_votes(client))


# The tests that only read `votes` (or `corrected`): exports read, they write nothing.
READS_VOTES = pytest.mark.reads_kept("export votes")
READS_CORRECTED = pytest.mark.reads_kept("export corrections")


async def _write_votes(client: httpx.AsyncClient) -> dict[str, Any]:
    # q1: one good answer (system prompt), one bad answer -> a DPO pair
    await log(client, "a", "q1", "good answer", session_id="s1", metadata={"system_prompt": SYSTEM})
    await log(client, "b", "q1", "bad answer", session_id="s2", metadata={"system_prompt": SYSTEM})
    await vote(client, "a", True, "u1")
    await vote(client, "a", True, "u2")
    await vote(client, "b", False, "u1")
    # q2: the same pair logged twice -> one example; u3 changed their mind -> latest counts
    await log(client, "c", "q2", "dup answer", session_id="s3")
    await log(client, "d", "q2", "dup answer", session_id="s3")
    await vote(client, "c", False, "u3")
    await vote(client, "c", True, "u3")
    await vote(client, "d", True, "u4")
    # q3: a tie -> left out
    await log(client, "e", "q3", "tied answer", session_id="s4")
    await vote(client, "e", True, "u5")
    await vote(client, "e", False, "u6")
    # q4: deleted vote -> gone; q5: another model; q6: outside the window
    await log(client, "f", "q4", "deleted answer", session_id="s5")
    deleted = await vote(client, "f", True, "u7")
    assert (await client.delete(f"/v1/feedback/{deleted['id']}")).status_code == 204
    await log(client, "g", "q5", "other model answer", model="m2", session_id="s6")
    await vote(client, "g", False, "u8")
    await log(client, "h", "q6", "old answer", session_id="s7")
    await vote(client, "h", True, "u9", created_at=(NOW - timedelta(days=30)).isoformat())
    return {}


async def export(client: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    r = await client.post("/v1/feedback/export/finetuning", json={"days": 7, **body})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in r.headers["content-disposition"]
    return [json.loads(line) for line in r.text.splitlines()]


def loads_with_datasets(tmp_path: Path, lines: list[dict[str, Any]]) -> datasets.Dataset:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return datasets.load_dataset("json", data_files=str(path), split="train")


@READS_VOTES
async def test_weighted_format(client: httpx.AsyncClient, votes: Any, tmp_path: Path) -> None:
    lines = await export(client, format="weighted")
    by_answer = {line["messages"][-1]["content"]: line for line in lines}
    assert set(by_answer) == {"good answer", "bad answer", "dup answer", "other model answer"}
    good = by_answer["good answer"]
    assert good["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "good answer"},
    ]
    assert good["weight"] == 2.0 and by_answer["bad answer"]["weight"] == 0.5
    assert by_answer["dup answer"]["metadata"]["up_votes"] == 2  # u3's latest vote and u4
    assert by_answer["dup answer"]["messages"][0] == {"role": "user", "content": "q2"}
    assert set(good["metadata"]) >= {"model", "intent", "project", "created_at"}
    assert good["metadata"]["model"] == "m1"
    dataset = loads_with_datasets(tmp_path, lines)
    assert dataset.num_rows == 4
    assert dataset.features["weight"].dtype == "float64"


@READS_VOTES
async def test_weights_can_be_chosen(client: httpx.AsyncClient, votes: Any) -> None:
    lines = await export(client, positive_weight=3.0, negative_weight=0.0, model="m1")
    assert sorted(line["weight"] for line in lines) == [0.0, 3.0, 3.0]


@READS_VOTES
async def test_openai_format(client: httpx.AsyncClient, votes: Any, tmp_path: Path) -> None:
    lines = await export(client, format="openai")
    assert all(set(line) == {"messages"} for line in lines)
    assert {line["messages"][-1]["content"] for line in lines} == {"good answer", "dup answer"}
    for line in lines:
        assert {m["role"] for m in line["messages"]} <= {"system", "user", "assistant"}
        assert line["messages"][-1]["role"] == "assistant"
    assert loads_with_datasets(tmp_path, lines).num_rows == 2

    kept = await export(client, format="openai", include_negative=True)
    weights = {line["messages"][-1]["content"]: line["messages"][-1]["weight"] for line in kept}
    assert weights == {"good answer": 1, "bad answer": 0, "dup answer": 1, "other model answer": 0}
    assert loads_with_datasets(tmp_path, kept).num_rows == 4


@READS_VOTES
async def test_kto_format(client: httpx.AsyncClient, votes: Any, tmp_path: Path) -> None:
    lines = await export(client, format="kto")
    assert all(set(line) == {"prompt", "completion", "label", "metadata"} for line in lines)
    assert all(line["metadata"] == {"label_source": "vote"} for line in lines)
    labels = {line["completion"][0]["content"]: line["label"] for line in lines}
    assert labels == {
        "good answer": True,
        "bad answer": False,
        "dup answer": True,
        "other model answer": False,
    }
    good = next(line for line in lines if line["label"] and line["prompt"][0]["role"] == "system")
    assert good["prompt"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "q1"},
    ]
    assert good["completion"] == [{"role": "assistant", "content": "good answer"}]
    dataset = loads_with_datasets(tmp_path, lines)
    assert dataset.features["label"].dtype == "bool"


@READS_VOTES
async def test_dpo_formats(client: httpx.AsyncClient, votes: Any, tmp_path: Path) -> None:
    prompt = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "q1"}]
    [pair] = await export(client, format="dpo")
    assert pair == {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": "good answer"}],
        "rejected": [{"role": "assistant", "content": "bad answer"}],
        "metadata": {"label_source": "vote"},
    }
    [openai_pair] = await export(client, format="openai-dpo")
    assert openai_pair == {
        "input": {"messages": prompt},
        "preferred_output": [{"role": "assistant", "content": "good answer"}],
        "non_preferred_output": [{"role": "assistant", "content": "bad answer"}],
    }
    assert loads_with_datasets(tmp_path, [pair, pair]).num_rows == 2


@READS_VOTES
async def test_summary_counts_and_kto_weights(client: httpx.AsyncClient, votes: Any) -> None:
    r = await client.post(
        "/v1/feedback/export/finetuning/summary", json={"days": 7, "format": "dpo"}
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["positives"], s["negatives"], s["skipped_ties"], s["pairs"]) == (2, 2, 1, 1)
    assert s["examples"] == 1
    assert (s["desirable_weight"], s["undesirable_weight"]) == (1.0, 1.0)


@pytest.mark.parametrize(("up", "down"), [(900, 100), (100, 900), (7, 3), (1, 1), (1000, 7)])
def test_kto_weights_keep_trls_ratio(up: int, down: int) -> None:
    desirable, undesirable = kto_weights(up, down)
    assert desirable is not None and undesirable is not None
    ratio = desirable * up / (undesirable * down)
    assert 1 <= ratio <= 4 / 3
    assert kto_weights(5, 0) == (None, None)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"output_path": "/etc/passwd"}, "never writes to a path"),
        ({"format": "alpaca"}, "format"),
        ({"days": 7, "start_date": "2026-01-01"}, "either days"),
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "earlier"),
        ({"days": 0}, "days"),
        ({"positive_weight": "NaN"}, "finite number"),
    ],
)
async def test_bad_export_requests(
    client: httpx.AsyncClient, body: dict[str, Any], needle: str
) -> None:
    for route in ("/v1/feedback/export/finetuning", "/v1/feedback/export/finetuning/summary"):
        r = await client.post(route, json=body)
        assert r.status_code == 422, r.text
        assert needle in r.json()["detail"]
        # Each problem once: the body is read by one dependency.
        errors = [(e["field"], e["message"]) for e in r.json()["errors"]]
        assert len(errors) == len(set(errors)) and "more problem" not in r.json()["detail"]


@READS_VOTES
async def test_date_window(client: httpx.AsyncClient, votes: Any) -> None:
    old_day = (NOW - timedelta(days=30)).date().isoformat()
    lines = await export(client, days=None, start_date=old_day, end_date=old_day)
    assert [line["messages"][-1]["content"] for line in lines] == ["old answer"]


async def test_cli_export_with_split_and_manifest(
    client: httpx.AsyncClient, votes: Any, cli_env: Path
) -> None:
    for n in range(40):  # many sessions, so both sides of the split get some
        await log(client, f"x{n}", f"extra {n}", f"answer {n}", session_id=f"sx{n % 10}")
        await vote(client, f"x{n}", n % 3 != 0, f"v{n}")
    args = ["export", "finetuning", "--days", "7", "--format", "kto", "--test-fraction", "0.3"]
    # The CLI runs its own event loop: give it a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    stem = f"feedback-{iso_week_of(NOW - timedelta(days=7))}-kto"
    train, test = cli_env / f"{stem}.train.jsonl", cli_env / f"{stem}.test.jsonl"
    manifest = json.loads((cli_env / f"{stem}.manifest.json").read_text())
    assert "positives:" in result.output and "KTO: desirable_weight=" in result.output
    sessions: dict[str, set[str]] = {"train": set(), "test": set()}
    query_session = {f"extra {n}": f"sx{n % 10}" for n in range(40)}
    for side, path in (("train", train), ("test", test)):
        for line in path.read_text().splitlines():
            q = json.loads(line)["prompt"][-1]["content"]
            if q in query_session:
                sessions[side].add(query_session[q])
        entry = next(f for f in manifest["files"] if f["name"] == path.name)
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sessions["train"] and sessions["test"]
    assert not sessions["train"] & sessions["test"]  # no conversation on both sides
    assert manifest["examples"] == sum(f["examples"] for f in manifest["files"])
    assert len(manifest["feedback_ids"]) >= 40


def test_cli_export_rejects_unknown_format(cli_env: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "finetuning", "--format", "alpaca"])
    assert result.exit_code == 2
    assert "weighted" in result.output


async def test_weekly_job_writes_once_and_serves_the_file(
    client: httpx.AsyncClient,
    make_client: Any,
    engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
) -> None:
    last_week = NOW - timedelta(days=7)
    await log(client, "w", "weekly q", "weekly a", created_at=last_week.isoformat())
    await vote(client, "w", True, "u1", created_at=last_week.isoformat())
    week = iso_week_of(last_week)
    configured = settings.model_copy(update={"export_dir": tmp_path})
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    for expected in (True, False):  # the second tick finds the week done
        async with sessionmaker() as session, session.begin():
            assert await export_week(session, configured, "weighted", week) is expected
    runs = (await client.get("/v1/exports")).json()["items"]
    assert len(runs) == 1 and runs[0]["iso_week"] == week and runs[0]["examples"] == 1
    path = tmp_path / runs[0]["file_name"]
    assert runs[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()

    async with make_client(export_dir=tmp_path) as served:
        r = await served.get(f"/v1/exports/{runs[0]['id']}/download")
        assert r.status_code == 200 and r.content == path.read_bytes()
        path.unlink()
        gone = await served.get(f"/v1/exports/{runs[0]['id']}/download")
        assert gone.status_code == 404 and "no longer there" in gone.json()["detail"]
        unknown = "00000000-0000-0000-0000-000000000000"
        assert (await served.get(f"/v1/exports/{unknown}/download")).status_code == 404


@READS_VOTES
async def test_offline_exports_in_three_formats(client: httpx.AsyncClient, votes: Any) -> None:
    expected = {"a": (True, 2), "c": (True, 1), "e": (False, 2), "f": (None, 0)}
    # CSV
    r = await client.get("/v1/exports/interactions", params={"format": "csv", "days": 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = {row["request_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert len(rows) == 8
    for rid, (helpful, count) in expected.items():
        assert rows[rid]["feedback_count"] == str(count)
        assert rows[rid]["is_helpful"] == ("" if helpful is None else str(helpful))
    assert json.loads(rows["a"]["metadata"]) == {"system_prompt": SYSTEM}
    # JSON Lines
    r = await client.get("/v1/exports/interactions", params={"format": "jsonl", "days": 1})
    lines = {d["request_id"]: d for d in map(json.loads, r.text.splitlines())}
    assert lines["a"]["tools_called"] == [] and lines["a"]["feedback_count"] == 2
    # Parquet, with real column types
    r = await client.get("/v1/exports/interactions", params={"format": "parquet", "days": 1})
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows == 8
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("is_helpful").type) == "bool"
    assert str(table.schema.field("stars").type) == "int16"
    assert str(table.schema.field("tools_called").type.value_type) == "string"
    by_id = {row["request_id"]: row for row in table.to_pylist()}
    assert by_id["e"]["feedback_count"] == 2 and by_id["f"]["is_helpful"] is None


async def test_offline_export_bad_format(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/exports/interactions", params={"format": "xlsx"})
    assert r.status_code == 422


# -- corrections, empty exchanges, reasons and nulls in the training exports --------------


@pytest.fixture
async def corrected(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> dict[str, Any]:
    """A history with corrections, empty exchanges and an exchange without intent/project
    (written once for the tests of READS_CORRECTED)."""
    return await kept_rows(request, lambda: _write_corrected(client))


async def _write_corrected(client: httpx.AsyncClient) -> dict[str, Any]:
    await log(
        client, "k1", "q7", "wrong answer", session_id="s8", metadata={"system_prompt": SYSTEM}
    )
    await vote(client, "k1", False, "u10", correction="right answer", reasons=["incorrect"])
    await vote(client, "k1", False, "u11", correction="right answer", reasons=["too_long"])
    await vote(client, "k1", False, "u12", correction="   ")  # no text: no example
    await log(client, "k2", "q8", "fine answer", session_id="s9")
    await vote(client, "k2", True, "u13", reasons=["other"])
    # Stored, never trained on: an empty answer, a question of whitespace only.
    await log(client, "k3", "q9", "   ", session_id="s10")
    await vote(client, "k3", True, "u14")
    await log(client, "k4", "\n\t", "an answer", session_id="s11")
    await vote(client, "k4", False, "u15", correction="better")
    await log(client, "k5", "q10", "nowhere answer", intent=None, project=None)
    await vote(client, "k5", True, "u16")
    return {}


def _by_answer(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["messages"][-1]["content"]: line for line in lines}


@READS_CORRECTED
async def test_weighted_takes_corrections_as_positives(
    client: httpx.AsyncClient, corrected: Any, tmp_path: Path
) -> None:
    lines = await export(client, format="weighted")
    by_answer = _by_answer(lines)
    assert set(by_answer) == {"wrong answer", "right answer", "fine answer", "nowhere answer"}
    fix = by_answer["right answer"]
    assert fix["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "q7"},
        {"role": "assistant", "content": "right answer"},
    ]
    assert fix["weight"] == 2.0 and by_answer["wrong answer"]["weight"] == 0.5
    assert fix["metadata"]["correction"] is True and fix["metadata"]["up_votes"] == 2
    assert fix["metadata"]["reasons"] == ["incorrect", "too_long"]
    wrong = by_answer["wrong answer"]["metadata"]
    assert wrong["correction"] is False and wrong["down_votes"] == 3
    assert wrong["reasons"] == ["incorrect", "too_long"]
    assert by_answer["fine answer"]["metadata"]["reasons"] == ["other"]
    nowhere = by_answer["nowhere answer"]["metadata"]
    assert nowhere["intent"] is None and nowhere["project"] is None and nowhere["reasons"] == []
    assert all(set(line) == {"messages", "weight", "metadata"} for line in lines)
    assert len({tuple(sorted(line["metadata"])) for line in lines}) == 1  # one schema
    dataset = loads_with_datasets(tmp_path, lines)
    assert dataset.num_rows == 4

    plain = _by_answer(await export(client, format="weighted", use_corrections=False))
    assert set(plain) == {"wrong answer", "fine answer", "nowhere answer"}


@READS_CORRECTED
async def test_openai_and_kto_take_corrections_as_positives(
    client: httpx.AsyncClient, corrected: Any, tmp_path: Path
) -> None:
    openai = _by_answer(await export(client, format="openai"))
    assert set(openai) == {"right answer", "fine answer", "nowhere answer"}
    weights = {
        answer: line["messages"][-1]["weight"]
        for answer, line in _by_answer(
            await export(client, format="openai", include_negative=True)
        ).items()
    }
    assert weights == {"wrong answer": 0, "right answer": 1, "fine answer": 1, "nowhere answer": 1}
    off = _by_answer(await export(client, format="openai", use_corrections=False))
    assert "right answer" not in off

    kto = await export(client, format="kto")
    labels = {line["completion"][0]["content"]: line["label"] for line in kto}
    assert labels == {
        "wrong answer": False,
        "right answer": True,
        "fine answer": True,
        "nowhere answer": True,
    }
    assert loads_with_datasets(tmp_path, kto).features["label"].dtype == "bool"


@READS_CORRECTED
async def test_dpo_pairs_a_correction_against_the_answer_voted_down(
    client: httpx.AsyncClient, corrected: Any, tmp_path: Path
) -> None:
    prompt = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "q7"}]
    [pair] = await export(client, format="dpo")
    assert pair == {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": "right answer"}],
        "rejected": [{"role": "assistant", "content": "wrong answer"}],
        "metadata": {"label_source": "vote"},
    }
    [openai_pair] = await export(client, format="openai-dpo")
    assert openai_pair == {
        "input": {"messages": prompt},
        "preferred_output": [{"role": "assistant", "content": "right answer"}],
        "non_preferred_output": [{"role": "assistant", "content": "wrong answer"}],
    }
    assert await export(client, format="dpo", use_corrections=False) == []
    assert loads_with_datasets(tmp_path, [pair, pair]).num_rows == 2


async def test_dpo_writes_answer_pairs_and_correction_pairs_together(
    client: httpx.AsyncClient, votes: Any, corrected: Any
) -> None:
    lines = await export(client, format="dpo")
    chosen = sorted(line["chosen"][0]["content"] for line in lines)
    assert chosen == ["good answer", "right answer"]


@READS_CORRECTED
@pytest.mark.parametrize(
    ("fmt", "examples", "corrections"),
    [("weighted", 4, 1), ("openai", 3, 1), ("kto", 4, 1), ("dpo", 1, 1), ("openai-dpo", 1, 1)],
)
async def test_summary_counts_corrections_and_empty_exchanges_apart(
    client: httpx.AsyncClient, corrected: Any, fmt: str, examples: int, corrections: int
) -> None:
    r = await client.post("/v1/feedback/export/finetuning/summary", json={"days": 7, "format": fmt})
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["positives"], s["negatives"], s["skipped_ties"]) == (2, 1, 0)
    assert s["skipped_empty"] == 2
    assert (s["corrections"], s["examples"]) == (corrections, examples)
    assert s["examples"] == len(await export(client, format=fmt))
    off = (
        await client.post(
            "/v1/feedback/export/finetuning/summary",
            json={"days": 7, "format": fmt, "use_corrections": False},
        )
    ).json()
    assert off["corrections"] == 0 and off["examples"] == examples - corrections


@READS_CORRECTED
async def test_kto_weights_count_corrections_as_desirable(
    client: httpx.AsyncClient, corrected: Any
) -> None:
    s = (
        await client.post(
            "/v1/feedback/export/finetuning/summary", json={"days": 7, "format": "kto"}
        )
    ).json()
    assert (s["desirable_weight"], s["undesirable_weight"]) == kto_weights(3, 1)


async def test_weighted_loads_when_nulls_fill_the_first_blocks(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """`datasets` infers types block by block: a block where intent, project and reasons are
    only ever null (or []) must not come first (the lines that have them are written first)."""
    items = [
        {**_exchange(f"a{n:02d}", "x" * 300, intent=None, project=None), "rating": 1}
        for n in range(30)
    ]
    items.append({**_exchange("zz", "z", intent="code", project="p"), "rating": -1})
    items[-1]["reasons"] = ["incorrect"]
    r = await client.post("/v1/feedback/batch", json={"items": items})
    assert r.json()["created"] == 31, r.text
    lines = await export(client, format="weighted")
    assert lines[0]["metadata"]["intent"] == "code"
    path = tmp_path / "nulls.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # Blocks of 4 KiB here stand for the 10 MB blocks of a large file.
    dataset = datasets.load_dataset("json", data_files=str(path), split="train", chunksize=4096)
    assert dataset.num_rows == 31
    assert dataset.features["metadata"]["intent"].dtype == "string"
    assert dataset.features["metadata"]["reasons"].feature.dtype == "string"


def _exchange(query: str, response: str, **extra: Any) -> dict[str, Any]:
    return {"query": query, "response": response, "model": "m1", **extra}


async def test_cli_manifest_counts_corrections_and_warns_about_sfttrainer(
    client: httpx.AsyncClient, corrected: Any, cli_env: Path
) -> None:
    for fmt, warned in (("weighted", True), ("kto", False), ("dpo", False)):
        args = ["export", "finetuning", "--days", "7", "--format", fmt, "-o", f"{fmt}.jsonl"]
        result = await asyncio.to_thread(CliRunner().invoke, cli, args)
        assert result.exit_code == 0, result.output
        assert ("SFTTrainer ignores" in result.output) is warned, result.output
        manifest = json.loads((cli_env / f"{fmt}.manifest.json").read_text())
        assert manifest["corrections"] == 1 and manifest["skipped_empty"] == 2
        assert "corrections: 1" in result.output and "empty left out: 2" in result.output
    args = ["export", "finetuning", "--days", "7", "--format", "openai", "-o", "o.jsonl"]
    quiet = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert "SFTTrainer" not in quiet.output
    loud = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--include-negative"])
    assert "SFTTrainer ignores" in loud.output
    off = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--no-use-corrections"])
    assert "corrections: 0" in off.output


@READS_CORRECTED
async def test_offline_exports_carry_reasons_and_corrections(
    client: httpx.AsyncClient, corrected: Any
) -> None:
    r = await client.get("/v1/exports/interactions", params={"format": "csv", "days": 1})
    rows = {row["request_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert json.loads(rows["k2"]["reasons"]) == ["other"] and rows["k2"]["correction"] == ""
    assert rows["k4"]["correction"] == "better"
    r = await client.get("/v1/exports/interactions", params={"format": "jsonl", "days": 1})
    lines = {d["request_id"]: d for d in map(json.loads, r.text.splitlines())}
    assert lines["k2"]["reasons"] == ["other"] and lines["k5"]["reasons"] == []
    assert lines["k4"]["correction"] == "better"
    r = await client.get("/v1/exports/interactions", params={"format": "parquet", "days": 1})
    table = pq.read_table(io.BytesIO(r.content))
    assert str(table.schema.field("reasons").type.value_type) == "string"
    by_id = {row["request_id"]: row for row in table.to_pylist()}
    assert by_id["k2"]["reasons"] == ["other"] and by_id["k4"]["correction"] == "better"
