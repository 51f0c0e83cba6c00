"""The pair formats stream prompt by prompt (`pairs.streamed_pairs`, an HTTP download): on a
randomized fill with popular prompts, twins, ties, empty texts, reviews (decided in and out
of the window, disputed, waiting, open) and corrections, they write the same multiset of
lines as the window grouped first (`pairs.pairs_query`: files written whole, and the
summary's counts), for every label source, with and without filters and vote ids."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Select, func, insert, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from feedback_api.exports.examples import lines_query
from feedback_api.exports.repository import ExportRepository
from feedback_api.exports.selection import Selection, Shape
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.review.models import ReviewItem, ReviewLabel, ReviewQueue

NOW = datetime.now(UTC)
SINCE, UNTIL = NOW - timedelta(days=7), NOW + timedelta(minutes=5)
BEFORE = NOW - timedelta(days=9)  # outside the window


def _row(rng: random.Random, **values: Any) -> dict[str, Any]:
    return {"id": uuid.UUID(int=rng.getrandbits(128), version=4), **values}


def _fill(rng: random.Random) -> dict[Any, list[dict[str, Any]]]:
    """Rows of every table the pair formats read (see the module)."""
    systems: list[str | None] = [None, "", "Be brief.", "Be brief.x"]
    questions = ["What is 2+2?", "Be brief.What is 2+2?", "   ", "Hi", "Tell me a joke"]
    answers = ["4", "four", "5", "", " \n", "It is 4.", "Hello", "No.", "a1", "a2", "a3"]
    exchanges: list[dict[str, Any]] = []
    votes: list[dict[str, Any]] = []
    for system in systems:
        for question in questions:
            # One popular prompt, a few with several answers, some with one.
            popular = (system, question) == ("Be brief.", "Hi")
            for n in range(60 if popular else rng.choice([1, 2, 4, 8])):
                meta = {} if system is None else {"system_prompt": system}
                exchange = _row(
                    rng,
                    request_id=f"r{len(exchanges)}",
                    query=question,
                    response=f"a{n}" if popular and n % 2 else rng.choice(answers),
                    model=rng.choice(["m1", "m2"]),
                    metadata=meta,
                    created_at=BEFORE,
                )
                exchanges.append(exchange)
                for user in rng.sample(range(6), rng.choice([0, 1, 1, 2, 3]) if n else 1):
                    helpful = rng.random() < 0.5
                    correction = None
                    if not helpful and rng.random() < 0.4:
                        correction = rng.choice(["Four.", "", "  ", exchange["response"], "4!"])
                    when = rng.choice([NOW - timedelta(hours=rng.randint(1, 100)), BEFORE])
                    votes.append(
                        _row(
                            rng,
                            interaction_id=exchange["id"],
                            is_helpful=helpful,
                            correction=correction,
                            user_id=f"u{user}",
                            created_at=when,
                        )
                    )
    queues = [
        _row(rng, name=f"q{n}", reviewers_per_item=1, lease_seconds=900, blind=True)
        for n in range(2)
    ]
    items: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for exchange in rng.sample(exchanges, len(exchanges) // 4):
        for queue in rng.sample(queues, rng.choice([1, 1, 2])):
            state = rng.choice(["done", "done", "done", "needs_adjudication", "open"])
            verdict = rng.choice(["correct", "incorrect"]) if state == "done" else None
            decided = rng.choice([NOW - timedelta(hours=2), BEFORE]) if verdict else None
            item = _row(
                rng,
                queue_id=queue["id"],
                interaction_id=exchange["id"],
                source="manual",
                state=state,
                verdict=verdict,
                decided_at=decided,
            )
            items.append(item)
            if verdict is not None:
                fix = rng.choice([None, "Four.", "  ", exchange["response"]])
                labels.append(
                    _row(
                        rng,
                        item_id=item["id"],
                        reviewer="r",
                        written_by="r",
                        verdict=verdict,
                        correction=fix if verdict == "incorrect" else None,
                    )
                )
    return {
        Interaction: exchanges,
        Feedback: votes,
        ReviewQueue: queues,
        ReviewItem: items,
        ReviewLabel: labels,
    }


def _lines(rows: Any, *, with_ids: bool) -> Counter[tuple[Any, ...]]:
    """Rows as comparable lines: vote ids in order (an aggregate's order is not defined)."""
    if not with_ids:
        return Counter(tuple(row) for row in rows)
    return Counter((*row[:-1], tuple(sorted(row[-1] or ()))) for row in rows)


async def _streamed(conn: AsyncConnection, query: Select[Any]) -> list[Any]:
    """The rows of `query` with the planner settings the export runs with."""
    for name in ("enable_hashjoin", "enable_mergejoin"):
        await conn.execute(select(func.set_config(name, "off", true())))
    return list(await conn.execute(query))


CASES = [
    (Selection(SINCE, UNTIL), Shape(format="dpo"), False),
    (Selection(SINCE, UNTIL), Shape(format="dpo", label_source="votes"), True),
    (Selection(SINCE, UNTIL), Shape(format="dpo", label_source="reviews"), False),
    (Selection(SINCE, UNTIL), Shape(format="dpo"), True),
    (Selection(SINCE, UNTIL, model="m1"), Shape(format="openai-dpo"), False),
    (Selection(SINCE, UNTIL), Shape(format="openai-dpo", use_corrections=False), False),
    (Selection(BEFORE - timedelta(hours=1), SINCE), Shape(format="dpo"), False),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_streamed_pairs_are_the_grouped_pairs(engine: AsyncEngine, seed: int) -> None:
    rng = random.Random(seed)
    async with engine.begin() as conn:
        for model, rows in _fill(rng).items():
            if rows:
                await conn.execute(insert(model), rows)
    written: Counter[str] = Counter()
    for selection, shape, with_ids in CASES:
        async with engine.connect() as conn:
            grouped = _lines(
                await conn.execute(lines_query(selection, shape, with_ids=with_ids, early=False)),
                with_ids=with_ids,
            )
            query = lines_query(selection, shape, with_ids=with_ids)
            streamed = _lines(await _streamed(conn, query), with_ids=with_ids)
        assert streamed == grouped, (selection, shape, with_ids)
        async with AsyncSession(engine) as session:
            counts = await ExportRepository(session).counts(selection, shape)
        assert counts.pairs + counts.corrections == sum(streamed.values())
        for line, n in streamed.items():
            written[line[7]] += n
    # Not an empty comparison: pairs labelled by votes and by reviews came out.
    assert written["vote"] > 30 and written["review"] > 20, written


async def test_a_prompt_only_reviews_bring_in_is_paired_once(engine: AsyncEngine) -> None:
    """No vote on the prompt in the window: its pair is written by the first of its items
    decided in the window, once, whichever of its answers' items the export reads first."""
    rng = random.Random(7)
    queue = _row(rng, name="q", reviewers_per_item=1, lease_seconds=900, blind=True)
    exchanges = [
        _row(rng, request_id=f"r{n}", query="Q", response=answer, model="m", created_at=BEFORE)
        for n, answer in enumerate(["good", "bad", "bad", "worse"])
    ]
    items = [
        _row(
            rng,
            queue_id=queue["id"],
            interaction_id=exchange["id"],
            source="manual",
            state="done",
            verdict=verdict,
            decided_at=NOW - timedelta(hours=1),
        )
        for exchange, verdict in zip(
            exchanges, ["correct", "incorrect", "incorrect", "incorrect"], strict=True
        )
    ]
    old_vote = _row(rng, interaction_id=exchanges[0]["id"], is_helpful=False, created_at=BEFORE)
    async with engine.begin() as conn:
        for model, rows in ((Interaction, exchanges), (ReviewQueue, [queue]), (ReviewItem, items)):
            await conn.execute(insert(model), rows)
        await conn.execute(insert(Feedback), [old_vote])
    selection, shape = Selection(SINCE, UNTIL), Shape(format="dpo")
    async with engine.connect() as conn:
        rows = await _streamed(conn, lines_query(selection, shape, with_ids=False))
    assert sorted((row[2], row[3], row[7]) for row in rows) == [
        ("good", "bad", "review"),
        ("good", "worse", "review"),
    ]
