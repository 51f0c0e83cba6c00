"""Around the queues: erasure, the metrics gauge, `top`, the weekly report, the CLI."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import httpx
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from feedback_api.cli.commands import app
from feedback_api.cli.top import Snapshot, render
from tests.helpers import count
from tests.review.helpers import add, as_open, claim, log_answers, new_queue, submit

runner = CliRunner()


async def test_erasing_a_user_removes_their_items_and_labels(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    theirs = await log_answers(client, 2, user_id="gone")
    r = await client.post(
        "/v1/interactions", json={"query": "q", "response": "a", "model": "m", "request_id": "kept"}
    )
    assert r.status_code == 201
    queue_id = await new_queue(client)
    await add(client, queue_id, [*theirs, "kept"])
    while (lease := await claim(client, queue_id, as_open("ann"))) is not None:
        assert (await submit(client, lease, as_open("ann"), note="checked")).status_code == 201
    assert await count(engine, "review_labels") == 3
    assert (await client.delete("/v1/users/gone")).status_code == 200
    assert await count(engine, "review_items") == 1
    # The reviewer's name stays on the label of the answer that remains.
    assert await count(engine, "review_labels", "reviewer = 'ann'") == 1


async def test_erasing_a_user_waits_for_a_claim_on_their_answer_without_deadlock(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # A claim locks its slot, then writes its item. The erasure's delete cascades to the
    # item first, then to its slots: it must take the slot before the item, as the claim
    # does, or each waits for the other and PostgreSQL refuses one of them.
    await log_answers(client, 1, user_id="gone")
    queue_id = await new_queue(client)
    await add(client, queue_id, ["req-00000"])
    async with engine.connect() as claiming:
        await claiming.execute(text("SELECT 1 FROM review_slots FOR NO KEY UPDATE"))
        erasing = asyncio.create_task(client.delete("/v1/users/gone"))
        await asyncio.sleep(0.3)  # the erasure is under way, waiting for the slot
        assert not erasing.done()
        # The claim writes its item: it does not wait for the erasure.
        await claiming.execute(text("UPDATE review_items SET reviewers = reviewers"))
        await claiming.commit()
    erased = await erasing
    assert erased.status_code == 200, erased.text
    assert await count(engine, "review_items") == 0


async def test_metrics_gauge_top_and_weekly_report(client: httpx.AsyncClient) -> None:
    ids = await log_answers(client, 3)
    queue_id = await new_queue(client, name="facts", reviewers_per_item=2)
    await add(client, queue_id, ids)
    metrics = (await client.get("/metrics")).text
    assert 'feedback_api_review_pending_items{queue="facts"} 3.0' in metrics
    for name, verdict in (("ann", "correct"), ("ben", "incorrect")):
        lease = await claim(client, queue_id, as_open(name))
        assert lease is not None and lease["item_id"]
        assert (await submit(client, lease, as_open(name), verdict)).status_code == 201
    await client.post("/v1/feedback", json={"request_id": ids[0], "rating": 1})

    queues = (await client.get("/v1/review/queues")).json()["queues"]
    agreement = (await client.get(f"/v1/review/queues/{queue_id}/agreement")).json()
    snapshot = Snapshot(
        stats={"total_feedback": 0, "unique_users": 0, "unique_sessions": 0},
        by_model={},
        by_intent={},
        alerts={},
        taken_at=datetime.now(UTC),
        review=[{**queues[0], "agreement": agreement}],
    )
    console = Console(width=120, record=True)
    console.print(render(snapshot, "http://test", 120))
    line = next(row for row in console.export_text().splitlines() if " facts " in row)
    cells = [cell for cell in line.split() if cell != "│"]
    # pending, in review, done, to adjudicate, alpha (one item, two verdicts: 0)
    assert cells[:6] == ["facts", "2", "0", "0", "1", "0.00"]
    # At 80 columns a long queue name is cut, never the figures' headers.
    long = {**queues[0], "name": "q" * 60, "agreement": agreement}
    narrow = Console(width=80, record=True)
    narrow.print(render(replace(snapshot, review=[long]), "http://test", 80))
    shown = narrow.export_text()
    assert all(h in shown for h in ("Pending", "In review", "Done", "To adjudicate", "Alpha"))
    # A name's control and format characters never reach the terminal.
    odd = {**queues[0], "name": "left\u202eright\x1b[2Jend", "agreement": agreement}
    plain = Console(width=120, record=True)
    plain.print(render(replace(snapshot, review=[odd]), "http://test", 120))
    shown = plain.export_text()
    assert "leftright[2Jend" in shown and "\u202e" not in shown and "\x1b" not in shown

    report = (await client.get("/v1/reports/weekly")).json()["review"]
    assert report["labels"] == 2 and report["krippendorff_alpha"] == 0.0
    assert report["models"] == []  # the one labelled item awaits adjudication
    markdown = (await client.get("/v1/reports/weekly", params={"format": "md"})).text
    assert "## Review queues" in markdown and "Labels given: **2**" in markdown


def test_cli_creates_lists_adds_and_samples(cli_env: None) -> None:
    created = runner.invoke(
        app, ["review", "queues", "--create", "cli-queue", "--reviewers-per-item", "2"]
    )
    assert created.exit_code == 0, created.output
    assert "cli-queue" in created.output and "2 per item" in created.output
    added = runner.invoke(app, ["review", "add", "cli-queue", "--request-id", "nope"])
    assert added.exit_code == 0, added.output
    assert "added 0, already queued 0, unknown: nope" in added.output
    sampled = runner.invoke(
        app, ["review", "sample", "cli-queue", "--rate", "0.1", "--since", "2020-01-01"]
    )
    assert sampled.exit_code == 0, sampled.output
    assert "answers queued now" in sampled.output
    bad = runner.invoke(app, ["review", "sample", "cli-queue", "--rate", "0"])
    assert bad.exit_code == 2 and "greater than 0" in bad.output
    missing = runner.invoke(app, ["review", "add", "no-such-queue", "--model", "m"])
    assert missing.exit_code == 2 and "no review queue named" in missing.output
