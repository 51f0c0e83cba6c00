"""A claim while another reviewer's claim or submit holds the item's row: the item's free
slot still goes out, and 204 means nothing is left for this reviewer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from feedback_api.reasons.schemas import DEFAULT_REASONS
from feedback_api.review.claims import ClaimRepository
from tests.review.helpers import add, as_open, claim, log_answers, new_queue

ROUNDS = 25


async def _release(client: httpx.AsyncClient, lease: dict[str, Any], name: str) -> None:
    r = await client.post(
        f"/v1/review/assignments/{lease['assignment_id']}/release",
        json={"lease_token": lease["lease_token"]},
        headers=as_open(name),
    )
    assert r.status_code in (200, 204), r.text


async def waiting_for_a_lock_or_done(engine: AsyncEngine, task: asyncio.Task[Any]) -> None:
    """Until `task`'s statement waits for a lock another transaction holds (or `task` has
    finished): then it has reached the item's row while the other holds it."""
    async with engine.connect() as conn:
        for _ in range(1000):
            if task.done():
                return
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the claim neither waited for the held item nor finished in 10 s")


async def test_two_reviewers_at_once_both_get_the_only_item(make_client: Any) -> None:
    async with make_client(pool_size=4) as client:
        ids = await log_answers(client, 1)
        queue_id = await new_queue(client, reviewers_per_item=2)
        await add(client, queue_id, ids)
        for _ in range(ROUNDS):
            leases = await asyncio.gather(
                claim(client, queue_id, as_open("ann")), claim(client, queue_id, as_open("bob"))
            )
            assert all(lease is not None for lease in leases), leases
            for lease, name in zip(leases, ("ann", "bob"), strict=True):
                assert lease is not None
                await _release(client, lease, name)


async def test_a_claim_waits_for_the_item_a_transaction_holds(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Deterministic: the first claim's transaction stays open while the second claims."""
    ids = await log_answers(client, 1)
    queue_id = uuid.UUID(await new_queue(client, reviewers_per_item=2))
    await add(client, str(queue_id), ids)

    async def claim_as(name: str) -> Any:
        async with AsyncSession(engine) as session, session.begin():
            return await ClaimRepository(session).claim(queue_id, name)

    async with AsyncSession(engine) as first, first.begin():
        held = await ClaimRepository(first).claim(queue_id, "ann")
        assert held is not None
        second = asyncio.create_task(claim_as("bob"))
        # bob's claim reaches the item's row while ann holds it
        await waiting_for_a_lock_or_done(engine, second)
    bob = await asyncio.wait_for(second, 10)
    assert bob is not None and bob[2].item_id == held[2].item_id
    # The item needs two and has two: a third reviewer gets nothing.
    assert await claim_as("cy") is None


async def test_a_claim_while_a_submit_holds_the_item(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    ids = await log_answers(client, 1)
    queue_id = uuid.UUID(await new_queue(client, reviewers_per_item=2))
    await add(client, str(queue_id), ids)
    async with AsyncSession(engine) as session, session.begin():
        assignment_id, token, _ = await ClaimRepository(session).claim(queue_id, "ann") or (
            None,
            None,
            None,
        )
    assert assignment_id is not None and token is not None

    async def claim_as(name: str) -> Any:
        async with AsyncSession(engine) as session, session.begin():
            return await ClaimRepository(session).claim(queue_id, name)

    label = {"verdict": "correct", "reasons": [], "correction": None, "note": None}
    async with AsyncSession(engine) as submitting, submitting.begin():
        stored = await ClaimRepository(submitting).submit(
            assignment_id, token, "ann", label, DEFAULT_REASONS
        )
        assert stored is not None
        second = asyncio.create_task(claim_as("bob"))
        await waiting_for_a_lock_or_done(engine, second)
    assert await asyncio.wait_for(second, 10) is not None
