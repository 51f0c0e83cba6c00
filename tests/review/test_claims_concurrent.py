"""Many reviewers claiming at once from one queue, against the real database."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from feedback_api.review.claims import ClaimRepository
from tests.review.helpers import add, as_open, claim, log_answers, new_queue, submit

ITEMS = 24
NEEDED = 2
REVIEWERS = [f"r{i}" for i in range(8)]


async def _work(client: httpx.AsyncClient, queue_id: str, name: str) -> list[int]:
    """Claim and label until nothing is left; the status of every submit."""
    statuses = []
    while (lease := await claim(client, queue_id, as_open(name))) is not None:
        verdict = "correct" if hash((name, lease["item_id"])) % 3 else "incorrect"
        statuses.append((await submit(client, lease, as_open(name), verdict)).status_code)
    return statuses


async def test_concurrent_claims_never_over_assign(make_client: Any, engine: AsyncEngine) -> None:
    async with make_client(pool_size=12) as client:
        ids = await log_answers(client, ITEMS)
        queue_id = await new_queue(client, reviewers_per_item=NEEDED)
        await add(client, queue_id, ids)
        results = await asyncio.gather(*(_work(client, queue_id, name) for name in REVIEWERS))
    statuses = [status for result in results for status in result]
    # Every claim led to a label: no two claims shared a place.
    assert statuses == [201] * ITEMS * NEEDED
    async with engine.connect() as conn:
        labels = (await conn.execute(text("SELECT item_id, reviewer FROM review_labels"))).all()
        items = (await conn.execute(text("SELECT labels, state FROM review_items"))).all()
    per_item = Counter(item_id for item_id, _ in labels)
    assert len(per_item) == ITEMS and set(per_item.values()) == {NEEDED}
    assert len(set(labels)) == len(labels)  # two different people on each item
    assert all(count == NEEDED and state != "open" for count, state in items)


async def test_one_reviewer_in_many_tabs_gets_each_item_once(client: httpx.AsyncClient) -> None:
    ids = await log_answers(client, 3)
    queue_id = await new_queue(client, reviewers_per_item=2)
    await add(client, queue_id, ids)
    leases = await asyncio.gather(*(claim(client, queue_id, as_open("ann")) for _ in range(6)))
    got = [lease["item_id"] for lease in leases if lease is not None]
    assert len(got) == 3 and len(set(got)) == 3


async def test_claims_at_the_database_hold_no_item_twice(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The claim statement on separate connections, each its own transaction, 40 at once."""
    ids = await log_answers(client, 10)
    queue_id = await new_queue(client, reviewers_per_item=3)
    await add(client, queue_id, ids)

    async def one(name: str) -> Any:
        async with AsyncSession(engine) as session, session.begin():
            return await ClaimRepository(session).claim(uuid.UUID(queue_id), name)

    claims = await asyncio.gather(*(one(f"p{i % 20}") for i in range(40)))
    held = Counter(row.item_id for c in claims if c is not None for row in [c[2]])
    assert sum(held.values()) == 30 and max(held.values()) == 3
    async with engine.connect() as conn:
        doubled = await conn.scalar(
            text(
                "SELECT count(*) FROM (SELECT item_id, holder FROM review_slots "
                "WHERE holder IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) twice"
            )
        )
    assert doubled == 0


async def test_an_adjudication_and_an_edit_of_its_label_at_once_both_succeed(
    client: httpx.AsyncClient,
) -> None:
    # The edit locked the label, then the item; the adjudication the item, then the label:
    # each pair of them deadlocked, and PostgreSQL failed one with a 503.
    rounds, lead = 8, as_open("lead")
    queue_id = await new_queue(client, reviewers_per_item=2, blind=False)
    await add(client, queue_id, await log_answers(client, rounds))
    for _ in range(rounds):
        first = await claim(client, queue_id, as_open("alice"))
        second = await claim(client, queue_id, as_open("bob"))
        assert first is not None and second is not None
        await submit(client, first, as_open("alice"), "correct")
        await submit(client, second, as_open("bob"), "incorrect")
        item = first["item_id"]
        decided = await client.post(
            f"/v1/review/items/{item}/adjudicate", json={"verdict": "correct"}, headers=lead
        )
        assert decided.status_code == 200, decided.text
        [label] = [x for x in decided.json()["labels"] if x["adjudication"]]
        edit, again = await asyncio.gather(
            client.put(
                f"/v1/review/labels/{label['id']}", json={"verdict": "incorrect"}, headers=lead
            ),
            client.post(
                f"/v1/review/items/{item}/adjudicate",
                json={"verdict": "incorrect", "note": "x"},
                headers=lead,
            ),
        )
        assert (edit.status_code, again.status_code) == (200, 200), (edit.text, again.text)


async def test_one_reviewer_claiming_in_many_tabs_at_once_gets_an_item_in_each(
    client: httpx.AsyncClient,
) -> None:
    # Each tab's claim may pick a slot of an item another tab of the same reviewer is
    # taking: refused on that item's re-check, it looks again, and the item next to it may
    # be locked by yet another tab for an instant. None may answer "nothing left" while
    # items remain for the reviewer.
    tabs = 30
    for round_ in range(3):
        queue_id = await new_queue(client, name=f"tabs-{round_}", reviewers_per_item=2)
        await add(client, queue_id, await log_answers(client, tabs))
        answers = await asyncio.gather(
            *(client.post(f"/v1/review/queues/{queue_id}/claim", headers=as_open("solo"))
              for _ in range(tabs))
        )  # fmt: skip
        assert Counter(a.status_code for a in answers) == {200: tabs}
        assert len({a.json()["item_id"] for a in answers}) == tabs


async def test_a_claim_waits_for_a_slot_locked_for_an_instant_rather_than_finding_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # The only slot is locked by a statement under way (here a transaction that then
    # changes nothing, as a claim refused on its item's re-check does): SKIP LOCKED passes
    # it by, but it is still free, so the claim tries again instead of answering 204.
    queue_id = await new_queue(client, reviewers_per_item=1)
    await add(client, queue_id, await log_answers(client, 1))
    async with engine.connect() as locker:
        await locker.execute(text("SELECT 1 FROM review_slots FOR NO KEY UPDATE"))
        claiming = asyncio.create_task(claim(client, queue_id, as_open("ann")))
        await asyncio.sleep(0.1)
        assert not claiming.done()
        await locker.rollback()
    lease = await claiming
    assert lease is not None
    # And once the slot is taken, a claim answers "nothing left" at once.
    assert await claim(client, queue_id, as_open("bob")) is None
