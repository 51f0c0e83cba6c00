"""Reviewed labels in the training data: label_source votes, reviews or both, through the
API, the CLI and the weekly job, and each answer's consensus in the offline files."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from typer.testing import CliRunner

from feedback_api.cli.commands import app as cli
from feedback_api.config import Settings
from feedback_api.exports.job import export_week
from feedback_api.kit.time import iso_week_of
from tests.conftest import kept_rows
from tests.exports.test_exports import NOW, export, loads_with_datasets, log, vote
from tests.review.helpers import add, as_open, claim, new_queue, submit


async def decide(
    client: httpx.AsyncClient,
    name: str,
    request_id: str,
    *verdicts: str,
    correction: str | None = None,
) -> None:
    """A queue of its own for `request_id`, one reviewer per verdict (the first one gives
    the correction, if any)."""
    queue = await new_queue(client, name=name, reviewers_per_item=len(verdicts))
    await add(client, queue, [request_id])
    for n, verdict in enumerate(verdicts):
        who = as_open(f"{name}-r{n}")
        lease = await claim(client, queue, who)
        assert lease is not None
        extra = {"correction": correction} if correction and n == 0 else {}
        r = await submit(client, lease, who, verdict, **extra)
        assert r.status_code == 201, r.text


@pytest.fixture
async def reviewed(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> None:
    """Answers with votes, reviews, both, disputes and corrections (see `_review`)."""
    await kept_rows(request, lambda: _review(client))


# The tests that only read `reviewed` (exports and summaries write nothing).
READS_REVIEWED = pytest.mark.reads_kept("reviewed answers")


async def _review(client: httpx.AsyncClient) -> None:
    # q1: voted up twice, found incorrect by a reviewer who wrote what it should have been
    await log(client, "a", "q1", "good answer")
    await vote(client, "a", True, "u1")
    await vote(client, "a", True, "u2")
    await decide(client, "qa", "a", "incorrect", correction="better answer")
    # q1: voted down, never reviewed
    await log(client, "b", "q1", "bad answer")
    await vote(client, "b", False, "u1")
    # q8: nobody voted, a reviewer found it correct; another answer to it voted down
    await log(client, "h", "q8", "unvoted answer")
    await decide(client, "qh", "h", "correct")
    await log(client, "l", "q8", "worse answer")
    await vote(client, "l", False, "u3")
    # q9: voted up; two queues disagree
    await log(client, "i", "q9", "disputed answer")
    await vote(client, "i", True, "u4")
    await decide(client, "qi1", "i", "correct")
    await decide(client, "qi2", "i", "incorrect")
    # q10: voted up; its two reviewers disagree: it waits for an admin
    await log(client, "j", "q10", "waiting answer")
    await vote(client, "j", True, "u5")
    await decide(client, "qj", "j", "correct", "incorrect")
    # q11: voted down with a user's correction, but a reviewer found it correct
    await log(client, "k", "q11", "fine answer")
    await vote(client, "k", False, "u6", correction="user fix")
    await decide(client, "qk", "k", "correct")
    # q12: a tie of votes, never reviewed: left out by every source
    await log(client, "t", "q12", "tied answer")
    await vote(client, "t", True, "u7")
    await vote(client, "t", False, "u8")


def _kto(lines: list[dict[str, Any]]) -> dict[str, tuple[bool, str]]:
    return {
        line["completion"][0]["content"]: (line["label"], line["metadata"]["label_source"])
        for line in lines
    }


async def _summary(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/feedback/export/finetuning/summary", json={"days": 7, **body})
    assert r.status_code == 200, r.text
    return dict(r.json())


@READS_REVIEWED
async def test_both_takes_the_consensus_where_there_is_one(
    client: httpx.AsyncClient, reviewed: None, tmp_path: Path
) -> None:
    lines = await export(client, format="kto")  # label_source both, the default
    assert _kto(lines) == {
        "good answer": (False, "review"),  # the review, whatever its users voted
        "bad answer": (False, "vote"),
        "unvoted answer": (True, "review"),  # in the window by its consensus
        "worse answer": (False, "vote"),
        "fine answer": (True, "review"),  # its user's correction is not exported
        "better answer": (True, "review"),  # the reviewer's correction
    }
    s = await _summary(client, format="kto")
    assert s["label_source"] == "both" and s["skipped_ties"] == 1
    assert (s["from_votes"], s["from_reviews"], s["skipped_disagreement"]) == (2, 4, 2)
    assert (s["examples"], s["positives"], s["negatives"], s["corrections"]) == (6, 2, 3, 1)
    assert loads_with_datasets(tmp_path, lines).num_rows == 6

    weighted = {
        line["messages"][-1]["content"]: line for line in await export(client, format="weighted")
    }
    assert weighted["good answer"]["weight"] == 0.5
    assert weighted["good answer"]["metadata"]["label_source"] == "review"
    assert weighted["good answer"]["metadata"]["up_votes"] == 2
    assert weighted["unvoted answer"]["metadata"]["up_votes"] == 0
    assert weighted["unvoted answer"]["metadata"]["model"] == "m1"
    assert weighted["better answer"]["metadata"]["correction"] is True
    openai = await export(client, format="openai")
    assert {line["messages"][-1]["content"] for line in openai} == {
        "unvoted answer",
        "fine answer",
        "better answer",
    }
    assert all(set(line) == {"messages"} for line in openai)


@READS_REVIEWED
async def test_pairs_take_reviews_and_reviewers_corrections(
    client: httpx.AsyncClient, reviewed: None
) -> None:
    pairs = {
        (p["chosen"][0]["content"], p["rejected"][0]["content"]): p["metadata"]["label_source"]
        for p in await export(client, format="dpo")
    }
    assert pairs == {
        ("unvoted answer", "worse answer"): "review",
        ("better answer", "good answer"): "review",
    }
    s = await _summary(client, format="dpo")
    assert (s["pairs"], s["from_votes"], s["from_reviews"]) == (1, 0, 2)
    votes_only = {
        (p["chosen"][0]["content"], p["rejected"][0]["content"]): p["metadata"]["label_source"]
        for p in await export(client, format="dpo", label_source="votes")
    }
    assert votes_only == {
        ("good answer", "bad answer"): "vote",
        ("user fix", "fine answer"): "vote",
    }
    # reviews alone: "worse answer" has no label, so only the reviewer's correction pairs
    assert len(await export(client, format="openai-dpo", label_source="reviews")) == 1


@READS_REVIEWED
async def test_reviews_only_and_votes_only(client: httpx.AsyncClient, reviewed: None) -> None:
    assert _kto(await export(client, format="kto", label_source="reviews")) == {
        "good answer": (False, "review"),
        "unvoted answer": (True, "review"),
        "fine answer": (True, "review"),
        "better answer": (True, "review"),
    }
    s = await _summary(client, format="kto", label_source="reviews")
    assert (s["from_votes"], s["from_reviews"], s["skipped_disagreement"]) == (0, 4, 2)
    assert _kto(await export(client, format="kto", label_source="votes")) == {
        "good answer": (True, "vote"),
        "bad answer": (False, "vote"),
        "worse answer": (False, "vote"),
        "disputed answer": (True, "vote"),
        "waiting answer": (True, "vote"),
        "fine answer": (False, "vote"),
        "user fix": (True, "vote"),
    }
    s = await _summary(client, format="kto", label_source="votes")
    assert (s["from_votes"], s["from_reviews"], s["skipped_disagreement"]) == (7, 0, 0)
    assert s["skipped_ties"] == 1


async def test_an_unknown_label_source_is_a_422_naming_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/v1/feedback/export/finetuning", "/v1/feedback/export/finetuning/summary"):
        r = await client.post(path, json={"days": 7, "label_source": "crowd"})
        assert r.status_code == 422, r.text
        assert all(name in r.text for name in ("votes", "reviews", "both"))


@READS_REVIEWED
async def test_cli_and_manifest_count_each_source(
    client: httpx.AsyncClient, reviewed: None, cli_env: Path
) -> None:
    runner = CliRunner()
    args = ["export", "finetuning", "--days", "7", "-f", "kto", "--label-source", "reviews"]
    # The CLI runs its own event loop: give it a thread of its own.
    result = await asyncio.to_thread(runner.invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert "from votes: 0  from reviews: 4  disputed left out: 2" in result.output
    [manifest] = cli_env.glob("*.manifest.json")  # noqa: ASYNC240
    document = json.loads(manifest.read_text())
    assert document["label_source"] == "reviews"
    assert (document["from_reviews"], document["skipped_disagreement"]) == (4, 2)
    assert document["feedback_ids"] == []  # no line's label came from a vote
    # dpo, both: the pairs' sides labelled by votes list their votes ("worse answer"'s)
    pairs = ["export", "finetuning", "--days", "7", "-f", "dpo", "-o", "pairs.jsonl"]
    result = await asyncio.to_thread(runner.invoke, cli, pairs)
    assert result.exit_code == 0, result.output
    document = json.loads((cli_env / "pairs.manifest.json").read_text())
    assert (document["from_votes"], document["from_reviews"]) == (0, 2)
    assert len(document["feedback_ids"]) == 1
    bad = await asyncio.to_thread(
        runner.invoke, cli, ["export", "finetuning", "--label-source", "crowd"]
    )
    assert bad.exit_code != 0 and "votes, reviews, both" in bad.output


async def test_weekly_job_uses_the_setting_and_records_the_counts(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    last_week = NOW - timedelta(days=7)
    await log(client, "w", "weekly q", "weekly a", created_at=last_week.isoformat())
    await vote(client, "w", True, "u1", created_at=last_week.isoformat())
    await decide(client, "qw", "w", "incorrect")
    async with engine.begin() as conn:  # decided last week, too
        await conn.execute(text("UPDATE review_items SET decided_at = :at"), {"at": last_week})
    week = iso_week_of(last_week)
    configured = settings.model_copy(
        update={"export_dir": tmp_path, "export_label_source": "reviews"}
    )
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as session, session.begin():
        assert await export_week(session, configured, "kto", week)
    [run] = (await client.get("/v1/exports")).json()["items"]
    assert run["label_source"] == "reviews"
    assert (run["from_votes"], run["from_reviews"], run["skipped_disagreement"]) == (0, 1, 0)
    [line] = map(json.loads, (tmp_path / run["file_name"]).read_text().splitlines())
    assert line["label"] is False and line["metadata"] == {"label_source": "review"}


@READS_REVIEWED
async def test_offline_exports_carry_each_answers_consensus(
    client: httpx.AsyncClient, reviewed: None
) -> None:
    expected = {
        "a": ("incorrect", "unanimous"),
        "b": (None, None),
        "i": (None, "disagreement"),
        "j": (None, "needs_adjudication"),
        "k": ("correct", "unanimous"),
    }
    r = await client.get("/v1/exports/interactions", params={"format": "csv", "days": 1})
    rows = {row["request_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    for rid, (verdict, how) in expected.items():
        assert (rows[rid]["review_verdict"], rows[rid]["review_consensus"]) == (
            verdict or "",
            how or "",
        )
    r = await client.get("/v1/exports/interactions", params={"format": "jsonl", "days": 1})
    lines = {d["request_id"]: d for d in map(json.loads, r.text.splitlines())}
    for rid, (verdict, how) in expected.items():
        assert (lines[rid]["review_verdict"], lines[rid]["review_consensus"]) == (verdict, how)
    r = await client.get("/v1/exports/interactions", params={"format": "parquet", "days": 1})
    by_id = {row["request_id"]: row for row in pq.read_table(io.BytesIO(r.content)).to_pylist()}
    for rid, (verdict, how) in expected.items():
        assert (by_id[rid]["review_verdict"], by_id[rid]["review_consensus"]) == (verdict, how)
