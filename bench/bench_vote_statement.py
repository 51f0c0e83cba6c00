"""The vote statement alone, two checkouts alternately on one database.

    python bench/bench_vote_statement.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 6] [--groups 150]

What a vote costs PostgreSQL and the driver, without HTTP: each checkout's `write_votes`
(its own statement, from PYTHONPATH=CHECKOUT/src) writes groups of votes on one autocommit
connection, as a group-commit writer does; the checkouts take turns, ROUNDS times, on one
fresh embedded PostgreSQL migrated by NEW_CHECKOUT (a newer schema takes an older
statement: new columns have defaults). Two shapes of group, 8 and 64 votes:
  context    votes that bring their interaction (inserted by the statement);
  reference  votes on interactions already logged (the statement looks them up).
Every vote carries a reason (`incorrect`; a checkout without reasons ignores the field), or
none with --no-reasons.
Prints the median microseconds per vote of each checkout, and new/old.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

SHAPES = (("context", 8), ("context", 64), ("reference", 8), ("reference", 64))


async def measure(
    url: str, shape: str, size: int, groups: int, tag: str, reasons: bool = True
) -> float:
    """Microseconds per vote of this process's checkout (imported from PYTHONPATH)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from feedback_api.feedback.repository import VoteEntry, write_votes

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    vote: dict[str, Any] = {"is_helpful": False, "metadata": {}}
    if reasons:
        vote["reasons"] = ["incorrect"]

    def interaction(request_id: str) -> dict[str, Any]:
        return {
            "request_id": request_id, "query": "How do I reverse a list?",
            "response": "Use reversed(xs).", "model": "bench-model", "intent": "code",
            "project": "bench", "meta": {}, "tools_called": [],
        }  # fmt: skip

    batches = []
    for g in range(groups + 10):
        if shape == "context":
            batches.append(
                [VoteEntry(vote, interaction(f"{tag}-{g}-{i}-{uuid.uuid4()}")) for i in range(size)]
            )
        else:
            batches.append(
                [VoteEntry({**vote, "user_id": f"{tag}-{g}"}, request_id=f"logged-{i}")
                 for i in range(size)]
            )  # fmt: skip
    async with engine.connect() as connection:
        if shape == "reference":  # the interactions the votes name
            await write_votes(
                connection, [VoteEntry(vote, interaction(f"logged-{i}")) for i in range(size)]
            )
        for batch in batches[:10]:  # warm: prepared statements, caches
            await write_votes(connection, batch)
        started = time.perf_counter()
        for batch in batches[10:]:
            results = await write_votes(connection, batch)
            assert all(isinstance(r, tuple) for r in results), results[:1]
        elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed / (groups * size) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--groups", type=int, default=150)
    parser.add_argument("--no-reasons", dest="reasons", action="store_false")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, shape, size, tag = args.child
        figure = asyncio.run(measure(url, shape, int(size), args.groups, tag, args.reasons))
        print(json.dumps(figure))
        return
    old, new = (str(Path(p).resolve()) for p in (args.old, args.new))
    sys.path.insert(0, f"{new}/src")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.common import database

    url = database(None)
    figures: dict[tuple[str, str, int], list[float]] = {}
    for round_ in range(args.rounds):
        for name, checkout in (
            (("new", new), ("old", old)) if round_ % 2 else (("old", old), ("new", new))
        ):
            for shape, size in SHAPES:
                out = subprocess.run(
                    [sys.executable, __file__, old, new, "--groups", str(args.groups),
                     *([] if args.reasons else ["--no-reasons"]),
                     "--child", url, shape, str(size), f"{name}{round_}"],
                    env={**os.environ, "PYTHONPATH": f"{checkout}/src"},
                    check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
                figures.setdefault((name, shape, size), []).append(float(out))
    print(f"{'group':<16}{'old us/vote':>12}{'new us/vote':>12}{'new/old':>9}")
    for shape, size in SHAPES:
        o = statistics.median(figures[("old", shape, size)])
        n = statistics.median(figures[("new", shape, size)])
        print(f"{shape + ' x' + str(size):<16}{o:>12.0f}{n:>12.0f}{n / o:>8.2f}x")


if __name__ == "__main__":
    main()
