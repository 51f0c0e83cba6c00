"""The estimate of accuracy from what the refresher keeps (answer_hours over the window's
whole hours) and from the answers themselves (the hours not kept, and those a rule starts
inside): the same figures as ppi_py on the same arrays, before and after a refresh."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.analytics.stats import Z_95
from tests.review.helpers import new_queue
from tests.review.test_estimated_accuracy import URL, World, _apply, _log, _ppi, _review, _votes


def _check(
    items: list[dict[str, Any]], world: World, covered: list[dict[str, Any]], given: dict[str, bool]
) -> None:
    by_model = {item["model"]: item for item in items}
    yhat = world.yhat(covered)
    for model, item in by_model.items():
        rows = [a for a in covered if a["model"] == model]
        ids = {a["request_id"] for a in rows}
        reviewed = {rid: v for rid, v in given.items() if rid in ids}
        assert item["answers"] == len(rows)
        assert item["all_answers"] == sum(1 for a in world.answers if a["model"] == model)
        assert item["reviewed"] == len(reviewed)
        votes = [v for a in rows for v in world.votes[a["request_id"]]]
        assert (item["votes"], item["voted_accuracy"]) == (
            len(votes),
            pytest.approx(sum(votes) / len(votes)),
        )
        point, variance = _ppi(rows, yhat, reviewed)
        half = Z_95 * math.sqrt(variance)
        assert item["estimated_accuracy"] == pytest.approx(point, abs=1e-6)
        assert item["estimated_ci_low"] == pytest.approx(point - half, abs=1e-6)
        assert item["estimated_ci_high"] == pytest.approx(point + half, abs=1e-6)


def _body(rid: str, up: bool, k: int) -> dict[str, Any]:
    return {"request_id": rid, "rating": 1 if up else -1, "user_id": f"user-{k}"}


async def _kept(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        rows = []
        for table, order in (
            ("sampled_answers", "item_id"),
            ("answer_hours", "hour, model, intent"),
        ):
            result = await conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
            rows += [(table, *row[1 if table == "answer_hours" else 0 :]) for row in result]
        return rows


async def test_kept_hours_and_answers_give_ppi_py_figures(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Answers over the last three days, a rule that starts 10 minutes into the hour
    50 hours back, votes on old answers after the refresh: the figures are ppi_py's on
    the covered answers, whichever part is read from the kept hours."""
    now = datetime.now(UTC)
    # Times from the hour under way, so that which hours are kept does not depend on the
    # minute the test runs at: answers 20 minutes into each of the 71 hours before it, and
    # in the hour under way, halfway to now.
    hour = now.replace(minute=0, second=0, microsecond=0)
    world = World(4)
    for i, answer in enumerate(world.answers):
        at = hour - timedelta(hours=i % 72) + timedelta(minutes=20)
        answer["created_at"] = (at if i % 72 else hour + (now - hour) / 2).isoformat()
    await _log(client, world.answers)
    late: dict[str, list[bool]] = {}
    early = []
    for rid, thumbs in world.votes.items():
        # The last vote on the answers of the hour under way, of the rule's first hour and
        # of two kept hours waits until after the first refresh.
        keep = thumbs[:-1] if int(rid[2:]) % 72 in (0, 50, 8, 24) else thumbs
        late[rid] = thumbs[len(keep) :]
        early += [_body(rid, up, k) for k, up in enumerate(keep)]
    await _votes(client, early)
    since = hour - timedelta(hours=50) + timedelta(minutes=10)
    queue_id = await new_queue(client, reviewers_per_item=1)
    r = await client.post(
        f"/v1/review/queues/{queue_id}/rules", json={"sample_rate": 0.4, "since": since.isoformat()}
    )
    assert r.status_code == 201, r.text
    await _apply(engine)
    given = await _review(client, queue_id, world.truth, leave=2)
    covered = [a for a in world.answers if datetime.fromisoformat(a["created_at"]) >= since]
    window = {"since": (hour - timedelta(days=3, minutes=1)).isoformat()}

    assert (await client.post("/v1/admin/refresh", params={"full": "true"})).status_code == 200
    await _votes(
        client,
        [_body(rid, up, len(world.votes[rid]) - 1) for rid, ups in late.items() for up in ups],
    )
    # The late votes on answers of the kept hours count after the next refresh, not before.
    r = await client.get(URL, params=window)
    ids = [a["request_id"] for a in covered]
    before = sum(len(world.votes[rid]) - len(late.get(rid, [])) for rid in ids)
    every = sum(len(world.votes[rid]) for rid in ids)
    assert before < sum(item["votes"] for item in r.json()["items"]) < every
    assert (await client.post("/v1/admin/refresh")).status_code == 200
    kept = await _kept(engine)
    r = await client.get(URL, params=window)
    assert r.status_code == 200, r.text
    _check(r.json()["items"], world, covered, given)
    # What the ordinary refresh kept is what a full one builds.
    assert (await client.post("/v1/admin/refresh", params={"full": "true"})).status_code == 200
    assert await _kept(engine) == kept
    # A window that starts inside the rule's first hour: fewer covered answers.
    later = hour - timedelta(hours=50) + timedelta(minutes=15)
    r = await client.get(URL, params={"since": later.isoformat()})
    assert r.status_code == 200, r.text
    inside = [a for a in covered if datetime.fromisoformat(a["created_at"]) >= later]
    assert sum(item["answers"] for item in r.json()["items"]) == len(inside)
