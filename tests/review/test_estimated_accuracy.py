"""GET /v1/metrics/estimated-accuracy through the app, its figures checked against ppi_py
0.2.3 on the same arrays (built here from what the test wrote)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from ppi_py import ppi_mean_ci, ppi_mean_pointestimate
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from feedback_api.analytics.stats import Z_95, wilson_interval
from feedback_api.review.job import apply_rules
from tests.helpers import exchange
from tests.review.helpers import as_open, claim, new_queue, submit

PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat()
URL = "/v1/metrics/estimated-accuracy"


async def _log(client: httpx.AsyncClient, answers: list[dict[str, Any]]) -> None:
    r = await client.post("/v1/interactions/batch", json={"items": answers})
    assert r.status_code == 200, r.text


async def _votes(client: httpx.AsyncClient, votes: list[dict[str, Any]]) -> None:
    # One batch request: the same rows as one POST each, in a fraction of a test's time.
    r = await client.post("/v1/feedback/batch", json={"items": votes})
    assert r.status_code == 200 and r.json()["created"] == len(votes), r.text


async def _rule(client: httpx.AsyncClient, queue_id: str, rate: float, **filters: str) -> None:
    r = await client.post(
        f"/v1/review/queues/{queue_id}/rules",
        json={"sample_rate": rate, "since": PAST, **filters},
    )
    assert r.status_code == 201, r.text


async def _review(
    client: httpx.AsyncClient, queue_id: str, truth: dict[str, bool], leave: int
) -> dict[str, bool]:
    """Claim every sampled item and label all but the last `leave` with their truth; the
    verdicts given, by request_id."""
    leases = []
    while (lease := await claim(client, queue_id, as_open("ann"))) is not None:
        leases.append(lease)
    given = {}
    for lease in leases[: len(leases) - leave]:
        rid = lease["interaction"]["request_id"]
        verdict = "correct" if truth[rid] else "incorrect"
        assert (await submit(client, lease, as_open("ann"), verdict)).status_code == 201
        given[rid] = truth[rid]
    return given


class World:
    """Answers of two models and two intents, thumbs that mostly follow the truth."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.answers: list[dict[str, Any]] = []
        for i in range(360):
            model = "alpha" if i < 240 else "beta"
            intent = "code" if i % 3 else "chat"
            self.answers.append(exchange(request_id=f"a-{i}", model=model, intent=intent))
        self.truth = {a["request_id"]: bool(self.rng.random() < 0.7) for a in self.answers}
        self.votes: dict[str, list[bool]] = defaultdict(list)
        for a in self.answers:
            rid = a["request_id"]
            for _ in range(int(self.rng.choice([0, 0, 1, 2]))):
                follows = self.rng.random() < 0.8
                self.votes[rid].append(self.truth[rid] if follows else not self.truth[rid])

    def yhat(self, answers: list[dict[str, Any]]) -> dict[str, float]:
        by_segment: dict[tuple[str, str], list[bool]] = defaultdict(list)
        for a in answers:
            by_segment[(a["model"], a["intent"])] += self.votes[a["request_id"]]
        out = {}
        for a in answers:
            own = self.votes[a["request_id"]]
            segment = by_segment[(a["model"], a["intent"])]
            if own:
                out[a["request_id"]] = sum(own) / len(own)
            else:
                out[a["request_id"]] = sum(segment) / len(segment) if segment else 0.5
        return out


def _ppi(
    rows: list[dict[str, Any]], yhat: dict[str, float], labels: dict[str, bool]
) -> tuple[float, float]:
    """ppi_py's point estimate and variance (from its interval) over these answers."""
    y = np.array([float(labels[a["request_id"]]) for a in rows if a["request_id"] in labels])
    f = np.array([yhat[a["request_id"]] for a in rows if a["request_id"] in labels])
    u = np.array([yhat[a["request_id"]] for a in rows if a["request_id"] not in labels])
    point = float(np.ravel(ppi_mean_pointestimate(y, f, u))[0])
    low, high = (float(np.ravel(x)[0]) for x in ppi_mean_ci(y, f, u, alpha=0.05))
    return point, ((high - low) / 2 / Z_95) ** 2


async def _setup(client: httpx.AsyncClient, engine: AsyncEngine, world: World) -> None:
    await _log(client, world.answers)
    await _votes(
        client,
        [
            {"request_id": rid, "rating": 1 if up else -1, "user_id": f"user-{k}"}
            for rid, thumbs in world.votes.items()
            for k, up in enumerate(thumbs)
        ],
    )


async def _apply(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await apply_rules(session)


async def test_one_rate_equals_ppi_py(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    world = World(1)
    await _setup(client, engine, world)
    queue_id = await new_queue(client, reviewers_per_item=1)
    await _rule(client, queue_id, 0.3)
    await _apply(engine)
    given = await _review(client, queue_id, world.truth, leave=3)
    r = await client.get(URL, params={"queue": queue_id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"as_of", "window", "group_by", "items"}
    items = {item["model"]: item for item in body["items"]}
    assert set(items) == {"alpha", "beta"}
    yhat = world.yhat(world.answers)
    for model, item in items.items():
        rows = [a for a in world.answers if a["model"] == model]
        ids = {a["request_id"] for a in rows}
        reviewed = {rid: v for rid, v in given.items() if rid in ids}
        assert item["answers"] == item["all_answers"] == len(rows)
        assert item["reviewed"] == len(reviewed)
        assert item["sampled"] == item["reviewed"] + item["pending"]
        votes = [v for a in rows for v in world.votes[a["request_id"]]]
        assert item["votes"] == len(votes)
        assert item["voted_answers"] == sum(1 for a in rows if world.votes[a["request_id"]])
        assert item["voted_accuracy"] == pytest.approx(sum(votes) / len(votes))
        low, high = wilson_interval(sum(votes), len(votes)) or (0, 0)
        assert (item["voted_ci_low"], item["voted_ci_high"]) == pytest.approx((low, high))
        correct = sum(reviewed.values())
        assert item["reviewed_accuracy"] == pytest.approx(correct / len(reviewed))
        low, high = wilson_interval(correct, len(reviewed)) or (0, 0)
        assert (item["reviewed_ci_low"], item["reviewed_ci_high"]) == pytest.approx((low, high))
        point, variance = _ppi(rows, yhat, reviewed)
        half = Z_95 * math.sqrt(variance)
        assert item["estimated_accuracy"] == pytest.approx(point, abs=1e-6)
        assert item["estimated_ci_low"] == pytest.approx(point - half, abs=1e-6)
        assert item["estimated_ci_high"] == pytest.approx(point + half, abs=1e-6)
        assert item["vote_bias"] == pytest.approx(item["voted_accuracy"] - point, abs=1e-6)
        expected = "fewer than 30 reviewed answers" if len(reviewed) < 30 else None
        assert item["warning"] == expected


async def test_two_rates_are_strata_combined_by_answers(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """code answers sampled at 0.2, chat answers at 0.6 (one queue): per model, each rate
    is a stratum estimated by PPI++ and weighted by its answers; the reviewed accuracy is
    Hajek's, weighting each verdict by 1 / its rate."""
    world = World(2)
    await _setup(client, engine, world)
    queue_id = await new_queue(client, reviewers_per_item=1)
    await _rule(client, queue_id, 0.2, intent="code")
    await _rule(client, queue_id, 0.6, intent="chat")
    # An answer no rule covers: counted in all_answers only.
    await _log(client, [exchange(request_id="other", model="alpha", intent="search")])
    await _apply(engine)
    given = await _review(client, queue_id, world.truth, leave=0)
    r = await client.get(URL)  # every queue: here the one
    assert r.status_code == 200, r.text
    items = {item["model"]: item for item in r.json()["items"]}
    yhat = world.yhat(world.answers)
    rate = {"code": 0.2, "chat": 0.6}
    for model, item in items.items():
        rows = [a for a in world.answers if a["model"] == model]
        assert item["answers"] == len(rows)
        assert item["all_answers"] == len(rows) + (model == "alpha")
        mean, variance = 0.0, 0.0
        for intent in ("code", "chat"):
            stratum = [a for a in rows if a["intent"] == intent]
            ids = {a["request_id"] for a in stratum}
            point, var = _ppi(stratum, yhat, {k: v for k, v in given.items() if k in ids})
            weight = len(stratum) / len(rows)
            mean += weight * point
            variance += weight**2 * var
        half = Z_95 * math.sqrt(variance)
        assert item["estimated_accuracy"] == pytest.approx(mean, abs=1e-6)
        assert item["estimated_ci_low"] == pytest.approx(mean - half, abs=1e-6)
        assert item["estimated_ci_high"] == pytest.approx(mean + half, abs=1e-6)
        intent_of = {a["request_id"]: a["intent"] for a in rows}
        weights = [(1 / rate[intent_of[k]], v) for k, v in given.items() if k in intent_of]
        hajek = sum(w * v for w, v in weights) / sum(w for w, _ in weights)
        assert item["reviewed_accuracy"] == pytest.approx(hajek)
        assert item["reviewed_ci_low"] <= hajek <= item["reviewed_ci_high"]
    # By intent: the uncovered one has answers but no estimate.
    r = await client.get(URL, params={"group_by": "intent"})
    assert r.status_code == 200, r.text
    by_intent = {item["intent"]: item for item in r.json()["items"]}
    assert set(by_intent) == {"chat", "code", "search"}
    search = by_intent["search"]
    assert (search["answers"], search["all_answers"], search["estimated_accuracy"]) == (0, 1, None)
    assert "model" not in search


async def test_no_review_yet_and_bad_input(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    world = World(3)
    await _log(client, world.answers[:50])
    queue_id = await new_queue(client, reviewers_per_item=1)
    await _rule(client, queue_id, 0.5)
    await _apply(engine)
    r = await client.get(URL, params={"queue": queue_id, "model": "alpha"})
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["answers"] == 50 and item["sampled"] > 0 and item["reviewed"] == 0
    assert item["pending"] == item["sampled"]
    assert item["estimated_accuracy"] is None and item["vote_bias"] is None
    assert item["reviewed_accuracy"] is None and item["voted_accuracy"] is None
    assert item["warning"] == "no reviewed answers"
    # A window before the answers: nothing.
    old = (datetime.now(UTC) - timedelta(days=90)).isoformat()
    r = await client.get(URL, params={"until": old})
    assert r.status_code == 200 and r.json()["items"] == []
    r = await client.get(URL, params={"queue": "0190a000-0000-7000-8000-000000000000"})
    assert r.status_code == 404, r.text
    r = await client.get(URL, params={"group_by": "user"})
    assert r.status_code == 422 and "model, intent, project" in r.text
    r = await client.get(URL, params={"since": old, "until": old})
    assert r.status_code == 422 and "earlier" in r.text


async def test_needs_the_read_scope(make_client: Any) -> None:
    from tests.review.helpers import KEYS, READ, reviewer

    async with make_client(api_keys=KEYS) as keyed:
        assert (await keyed.get(URL)).status_code == 401
        assert (await keyed.get(URL, headers=reviewer("alice"))).status_code == 403
        assert (await keyed.get(URL, headers=READ)).status_code == 200
