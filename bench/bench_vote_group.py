"""The vote statement alone: what one group of votes costs, measured in-process.

    python bench/bench_vote_group.py [--groups 300] [--database-url URL]

Runs the service's own `submit_votes` (the one statement that writes a group of votes) on a
fresh embedded PostgreSQL, for groups of 1 vote and of 100 votes, each vote bringing a new
interaction with its context (as bench_ingest.py's votes do), one transaction per group.
Prints the median wall time per group. Used to compare two checkouts alternately (run it
with each checkout's src/ on PYTHONPATH), e.g. the cost of logging analytics changes in the
vote statement: see docs/benchmarks.md, "bench_vote_group.py".
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database
from feedback_api.config import Settings
from feedback_api.feedback.repository import VoteEntry, submit_votes
from feedback_api.kit.db import create_engine

_serial = 0


def entries(count: int) -> list[VoteEntry]:
    global _serial
    made = []
    for _ in range(count):
        _serial += 1
        interaction = {
            "request_id": f"stmt-{_serial}",
            "query": "Write hello world",
            "response": "print(1)",
            "model": f"model-{_serial % 5}",
            "intent": f"intent-{_serial % 7}",
            "project": "demo",
        }
        vote = {"is_helpful": _serial % 3 > 0, "user_id": f"user-{_serial % 1000}"}
        made.append(VoteEntry(vote, interaction=interaction))
    return made


async def run(url: str, groups: int) -> None:
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    engine = create_engine(settings, url)
    try:
        for size in (1, 100, 1, 100):
            times = []
            for _ in range(groups):
                batch = entries(size)
                started = time.perf_counter()
                async with engine.begin() as conn:
                    await submit_votes(conn.execute, batch)
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"group of {size:>3}: median {statistics.median(times):.2f} ms "
                f"({statistics.median(times) * 1000 / size:.0f} us a vote)",
                flush=True,
            )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    args = parser.parse_args()
    asyncio.run(run(database(args.database_url), args.groups))


if __name__ == "__main__":
    main()
