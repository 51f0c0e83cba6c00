"""Sample rules (a keyed hash decides) and triggers on votes, applied by the rules job."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from feedback_api.review.job import apply_rules
from feedback_api.review.rules import draw
from tests.helpers import count, exchange
from tests.review.helpers import add, new_queue

JSON = {"Content-Type": "application/json"}


async def _log(client: httpx.AsyncClient, prefix: str, n: int, **overrides: Any) -> list[str]:
    ids = []
    for start in range(0, n, 1000):
        items = [
            exchange(request_id=f"{prefix}-{i}", **overrides)
            for i in range(start, min(n, start + 1000))
        ]
        r = await client.post("/v1/interactions/batch", json={"items": items})
        assert r.status_code == 200, r.text
        ids += [item["request_id"] for item in items]
    return ids


async def _apply(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as session, session.begin():
        return await apply_rules(session)


async def _items(engine: AsyncEngine, queue_id: str) -> dict[str, tuple[Any, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT i.request_id, r.source, r.rule_id, r.inclusion_probability "
                "FROM review_items r JOIN interactions i ON i.id = r.interaction_id "
                "WHERE r.queue_id = :q"
            ),
            {"q": queue_id},
        )
        return {row[0]: tuple(row[1:]) for row in rows}


async def _hash_key(engine: AsyncEngine, rule_id: str) -> str:
    async with engine.connect() as conn:
        key = await conn.scalar(
            text("SELECT hash_key FROM review_rules WHERE id = :r"), {"r": rule_id}
        )
    return str(key)


async def test_sample_backfills_exactly_the_draws(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    coder = await _log(client, "code", 1500, model="coder")
    await _log(client, "chat", 300, model="chat")
    queue_id = await new_queue(client)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = await client.post(
        f"/v1/review/queues/{queue_id}/rules",
        json={"sample_rate": 0.2, "model": "coder", "since": past},
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["kind"] == "sample" and rule["on_vote"] is None and rule["scanned_to"] is None
    assert await count(engine, "review_items") == 0  # the job applies it, not the request
    added = await _apply(engine)
    key = await _hash_key(engine, rule["id"])
    expected = {rid for rid in coder if draw(key, rid) < 0.2}
    items = await _items(engine, queue_id)
    assert added == len(items) and set(items) == expected
    assert 200 < len(expected) < 400  # about a fifth of 1,500
    assert set(items.values()) == {("sample", uuid.UUID(rule["id"]), 0.2)}
    assert await count(engine, "review_slots") == len(expected)
    assert await _apply(engine) == 0  # the same draws: nothing new
    listed = (await client.get(f"/v1/review/queues/{queue_id}/rules")).json()["rules"]
    assert listed[0]["scanned_to"] is not None


async def test_new_answers_join_and_a_stopped_rule_keeps_its_items(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await _log(client, "old", 200)
    queue_id = await new_queue(client)
    r = await client.post(f"/v1/review/queues/{queue_id}/rules", json={"sample_rate": 1})
    rule_id = r.json()["id"]
    assert await _apply(engine) == 0  # since defaults to now: the old answers stay out
    new = await _log(client, "new", 50)
    assert await _apply(engine) == 50
    assert set(await _items(engine, queue_id)) == set(new)
    stopped = await client.delete(f"/v1/review/queues/{queue_id}/rules/{rule_id}")
    assert stopped.status_code == 200 and stopped.json()["stopped_at"] is not None
    await _log(client, "later", 20)
    assert await _apply(engine) == 0
    assert await count(engine, "review_items") == 50
    gone = await client.delete(f"/v1/review/queues/{queue_id}/rules/{queue_id}")
    assert gone.status_code == 404


async def test_a_hand_added_answer_that_is_drawn_becomes_the_samples(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    [request_id] = await _log(client, "one", 1)
    queue_id = await new_queue(client)
    await add(client, queue_id, [request_id])
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    await client.post(f"/v1/review/queues/{queue_id}/rules", json={"sample_rate": 1, "since": past})
    assert await _apply(engine) == 0
    [(source, _, probability)] = (await _items(engine, queue_id)).values()
    assert (source, probability) == ("sample", 1.0)


async def test_rule_rules(client: httpx.AsyncClient) -> None:
    queue_id = await new_queue(client)
    path = f"/v1/review/queues/{queue_id}/rules"
    for body in ({"sample_rate": 0}, {"sample_rate": 1.5}, {}, {"sample_rate": 0.1, "on_vote": {}}):
        r = await client.post(path, json=body)
        assert r.status_code == 422, (body, r.text)
    assert (await client.post(path, json={"sample_rate": 0.1, "model": "a"})).status_code == 201
    assert (await client.post(path, json={"sample_rate": 0.1, "model": "b"})).status_code == 201
    overlap = await client.post(path, json={"sample_rate": 0.5, "intent": "code"})
    assert overlap.status_code == 409 and "stop that rule" in overlap.json()["detail"]
    trigger = await client.post(path, json={"on_vote": {"is_helpful": False}})
    assert trigger.status_code == 201 and trigger.json()["kind"] == "trigger"
    nobody = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"/v1/review/queues/{nobody}/rules")).status_code == 404
    # Not a number is said as such, not as a number out of range.
    r = await client.post(path, content=b'{"sample_rate": NaN}', headers=JSON)
    assert r.status_code == 422 and "finite number" in r.json()["detail"], r.text


async def test_a_trigger_on_a_reason_no_vote_can_carry_is_refused(
    client: httpx.AsyncClient,
) -> None:
    queue_id = await new_queue(client)
    path = f"/v1/review/queues/{queue_id}/rules"
    default = "incorrect, incomplete, unsafe, off_topic, too_long, other"
    r = await client.post(path, json={"on_vote": {"is_helpful": False, "reason": "bogus"}})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("on_vote.reason: 'bogus' is not in the default label set")
    assert detail.endswith(f"allowed: {default}")
    r = await client.put("/v1/projects/demo/reasons", json={"reasons": ["slow", "hallucination"]})
    assert r.status_code == 200, r.text
    # A rule on one project: that project's label set.
    r = await client.post(path, json={"on_vote": {"reason": "incorrect"}, "project": "demo"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (
        "on_vote.reason: 'incorrect' is not in the label set of project 'demo'; "
        "allowed: slow, hallucination"
    )
    r = await client.post(path, json={"on_vote": {"reason": "slow"}, "project": "elsewhere"})
    assert r.status_code == 422 and r.json()["detail"].endswith(f"allowed: {default}")
    # A rule on every project: any project's labels may fire it.
    r = await client.post(path, json={"on_vote": {"reason": "bogus"}})
    assert r.status_code == 422 and r.json()["detail"].endswith(
        f"allowed: {default}, hallucination, slow"
    )
    assert (await client.get(path)).json()["rules"] == []
    for body in (
        {"on_vote": {"reason": "slow"}, "project": "demo"},
        {"on_vote": {"reason": "slow"}},
        {"on_vote": {"reason": "other"}},
    ):
        r = await client.post(path, json=body)
        assert r.status_code == 201, (body, r.text)
    missing = "00000000-0000-0000-0000-000000000000"
    r = await client.post(f"/v1/review/queues/{missing}/rules", json={"on_vote": {"reason": "x"}})
    assert r.status_code == 404  # the queue before its rule


async def test_triggers_queue_answers_of_matching_votes(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    ids = await _log(client, "t", 4)
    queue_id = await new_queue(client)
    r = await client.post(
        f"/v1/review/queues/{queue_id}/rules",
        json={"on_vote": {"is_helpful": False, "reason": "incorrect", "with_comment": True}},
    )
    assert r.status_code == 201
    votes = [
        (ids[0], -1, ["incorrect"], "wrong year"),  # matches
        (ids[1], -1, ["incorrect"], None),  # no comment
        (ids[2], 1, [], "fine"),  # a thumb up
        (ids[3], -1, ["incomplete"], "short"),  # another reason
    ]
    for request_id, rating, reasons, comment in votes:
        body = {"request_id": request_id, "rating": rating, "reasons": reasons, "comment": comment}
        assert (await client.post("/v1/feedback", json=body)).status_code == 201
    assert await _apply(engine) == 1
    items = await _items(engine, queue_id)
    assert list(items) == [ids[0]] and items[ids[0]][0] == "trigger"
    assert items[ids[0]][2] is None  # no inclusion probability: no random sample
    second = {
        "request_id": ids[0],
        "rating": -1,
        "reasons": ["incorrect"],
        "comment": "again",
        "user_id": "u2",
    }
    assert (await client.post("/v1/feedback", json=second)).status_code == 201
    assert await _apply(engine) == 0  # already queued


async def test_the_job_applies_rules_every_refresh_interval(
    make_client: Any, engine: AsyncEngine
) -> None:
    async with make_client(refresh_enabled=True, refresh_interval_seconds=0.2) as client:
        queue_id = await new_queue(client)
        await client.post(f"/v1/review/queues/{queue_id}/rules", json={"sample_rate": 1})
        await asyncio.sleep(0.5)
        await _log(client, "live", 3)
        for _ in range(50):
            if await count(engine, "review_items") == 3:
                break
            await asyncio.sleep(0.1)
        assert await count(engine, "review_items") == 3
