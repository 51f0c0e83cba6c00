"""What one item of `POST /v1/feedback/batch` costs, part by part, measured in-process.

    python bench/bench_vote_batch.py [--batches 8] [--quick] [--database-url URL]

Batches of 1,000 votes with their context (as bench_ingest.py's batches: one new exchange
each, users u0..u999), each written by the service's own vote statement in one transaction,
on a fresh embedded PostgreSQL (or URL). Prints microseconds per item (medians):
  python     validating the items and building their rows (`FeedbackCreate`, `vote_entry`);
  statement  the vote statement, as the app runs it;
  without    the same statement in a transaction where one of the vote's indexes is
             dropped first, then rolled back, and in brackets the statement's time less
             this one: what the index costs each item when positive; when negative the
             statement ran slower without the index (the noise between batches, or a
             lookup of the statement's own that the index serves);
  nodes      where PostgreSQL spends the statement's time (EXPLAIN ANALYZE): the interactions'
             insert, the votes' insert (with their indexes), the change log's insert, the
             reasons check (the join with the projects' label sets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from sqlalchemy import JSON, Text, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from bench.common import asyncpg_dsn, database, settle
from feedback_api.config import Settings
from feedback_api.feedback.repository import SUBMIT_VOTES, VoteEntry, submit_votes
from feedback_api.feedback.service import validated_items, vote_entry
from feedback_api.interactions.service import IngestRules
from feedback_api.kit.db import create_engine

SIZE = 1000
# The vote's secondary indexes (its primary key and the one-vote-per-user constraint
# decide what a vote is, and stay).
INDEXES = (
    "ix_feedback_exchange_search",  # the words of the vote's exchange (question, answer)
    "ix_feedback_search",  # the vote's own words (comment, correction)
    "ix_feedback_reasons",
    "ix_feedback_created_at",
    "ix_feedback_user_id",
)
_serial = 0


def items() -> list[dict[str, Any]]:
    global _serial
    _serial += 1
    return [
        {
            "query": f"How do I reverse a list in Python? ({_serial})",
            "response": "Use reversed(xs) or xs[::-1].",
            "model": "qwen-2.5-coder-7b",
            "intent": "code",
            "project": "bench",
            "rating": 1 if i % 4 else -1,
            "user_id": f"u{i}",
        }
        for i in range(SIZE)
    ]


def entries(rules: IngestRules, batch: list[dict[str, Any]]) -> list[VoteEntry]:
    # As the batch route validates a batch whose JSON has no NUL or U+001C-U+001F escape.
    payloads = validated_items(batch, core_checked=True)
    assert payloads is not None
    return [vote_entry(payload, rules) for payload in payloads]


def explained() -> Any:
    """The vote statement under EXPLAIN (ANALYZE, FORMAT JSON), with the same parameters."""
    binds: dict[str, TypeEngine[Any]] = {
        "interactions": JSON(),
        "wanted": ARRAY(Text()),
        "votes": JSON(),
        "default_reasons": ARRAY(Text()),
    }
    sql = cast(TextClause, SUBMIT_VOTES.element).text
    return text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).bindparams(
        *(bindparam(name, type_=type_) for name, type_ in binds.items())
    )


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def node_times(plan: dict[str, Any]) -> dict[str, float]:
    """Milliseconds of the parts named in the docstring, each node's own (children's out)."""

    def own(node: dict[str, Any]) -> float:
        total = node["Actual Total Time"] * node.get("Actual Loops", 1)
        children = sum(
            c["Actual Total Time"] * c.get("Actual Loops", 1) for c in node.get("Plans", [])
        )
        return max(0.0, float(total - children))

    parts: dict[str, float] = {}
    for node in nodes(plan):
        name = None
        if node["Node Type"] == "ModifyTable":
            name = f"insert into {node['Relation Name']}"
        elif node.get("Relation Name") == "project_reasons" or node.get("Join Type") == "Left":
            name = "reasons check (label sets joined)"
        if name:
            parts[name] = parts.get(name, 0.0) + own(node)
    return parts


async def timed(conn: AsyncConnection, rules: IngestRules, drop: str | None = None) -> float:
    batch = entries(rules, items())
    async with conn.begin() as transaction:
        if drop:
            await conn.execute(text(f"DROP INDEX {drop}"))
        started = time.perf_counter()
        await submit_votes(conn.execute, batch)
        elapsed = time.perf_counter() - started
        if drop:
            await transaction.rollback()
    return elapsed * 1e6 / SIZE


async def run(url: str, batches: int) -> None:
    settings = Settings(_env_file=None, database_url=url)
    rules = IngestRules.from_settings(settings)
    engine = create_engine(settings, url)
    variants: list[str | None] = [None, *INDEXES]
    measured: dict[str | None, list[float]] = {v: [] for v in variants}
    python: list[float] = []
    parts: dict[str, list[float]] = {}
    try:
        async with engine.connect() as conn:
            for _ in range(2):  # warm: the statement prepared, the caches filled
                await timed(conn, rules)
            await settle(asyncpg_dsn(url))
            for _ in range(batches):
                batch = items()
                started = time.perf_counter()
                entries(rules, batch)
                python.append((time.perf_counter() - started) * 1e6 / SIZE)
                for variant in variants:  # alternated, so the table's growth hits all alike
                    measured[variant].append(await timed(conn, rules, variant))
                params = await _parameters(entries(rules, items()), rules)
                async with conn.begin():
                    raw = (await conn.execute(explained(), params)).scalar_one()
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                for name, ms in node_times(plan).items():
                    parts.setdefault(name, []).append(ms * 1000 / SIZE)
    finally:
        await engine.dispose()
    median: Callable[[list[float]], float] = statistics.median
    statement = median(measured[None])
    print(f"{'per item of a 1,000-vote batch':<52}{'us':>8}")
    print(f"{'python: validation and rows':<52}{median(python):>8.1f}")
    print(f"{'statement, as the app runs it':<52}{statement:>8.1f}")
    for index in INDEXES:
        without = median(measured[index])
        change = f"({statement - without:+.1f})"
        print(f"{'  without ' + index:<52}{without:>8.1f} {change}")
    for name, values in sorted(parts.items()):
        print(f"{'  PostgreSQL: ' + name:<52}{median(values):>8.1f}")


async def _parameters(batch: list[VoteEntry], rules: IngestRules) -> dict[str, Any]:
    """The statement's parameters for `batch`, as `submit_votes` sends them."""
    captured: dict[str, Any] = {}

    async def capture(_: Any, parameters: dict[str, Any]) -> Any:
        captured.update(parameters)
        raise _Captured

    with contextlib.suppress(_Captured):
        await submit_votes(capture, batch, rules.reasons)
    return captured


class _Captured(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="3 batches a variant")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    args = parser.parse_args()
    asyncio.run(run(database(args.database_url), 3 if args.quick else args.batches))


if __name__ == "__main__":
    main()
