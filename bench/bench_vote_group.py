"""The vote statement alone: what one group of votes costs, measured in-process.

    python bench/bench_vote_group.py [--groups 300] [--database-url URL]
    python bench/bench_vote_group.py --cpu [--database-url URL]

Runs the service's own `submit_votes` (the one statement that writes a group of votes) on a
fresh embedded PostgreSQL, for groups of 1 vote and of 100 votes, each vote bringing a new
interaction with its context (as bench_ingest.py's votes do), one transaction per group.
Prints the median wall time per group. Used to compare two checkouts alternately (run it
with each checkout's src/ on PYTHONPATH), e.g. the cost of logging analytics changes in the
vote statement: see docs/benchmarks/ingest.md, "bench_vote_group.py".

`--cpu`: PostgreSQL's own cost of a vote by the size of its group, for groups of 1, 4, 8,
16, 32 and 100 votes: the CPU time (user and system, from /proc) of the connection's
backend per vote, over 3,200 votes a size. The database must run on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.common import database
from feedback_api.config import Settings
from feedback_api.feedback.repository import VoteEntry, submit_votes
from feedback_api.kit.db import create_engine

_serial = 0
# Each run's exchanges are new ones, also on a database an earlier run wrote to: a request id
# met again would make the statement reuse the exchange and replace its vote (an update).
_RUN = uuid.uuid4().hex[:12]


def entries(count: int) -> list[VoteEntry]:
    global _serial
    made = []
    for _ in range(count):
        _serial += 1
        interaction = {
            "request_id": f"stmt-{_RUN}-{_serial}",
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
    settings = Settings(_env_file=None, database_url=url)
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


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu(url: str, votes: int = 3200) -> None:
    settings = Settings(_env_file=None, database_url=url)
    engine = create_engine(settings, url)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await conn.commit()
            try:
                _backend_cpu(pid)
            except FileNotFoundError:
                sys.exit("--cpu needs the database on this machine")
            for size in (1, 4, 8, 16, 32, 100):
                for _ in range(20):  # the statement prepared, its plan cached
                    await submit_votes(conn.execute, entries(size))
                    await conn.commit()
                used = _backend_cpu(pid)
                for _ in range(votes // size):
                    await submit_votes(conn.execute, entries(size))
                    await conn.commit()
                per_vote = (_backend_cpu(pid) - used) / (votes // size * size) * 1e6
                print(f"group of {size:>3}: PostgreSQL {per_vote:.0f} us of CPU a vote", flush=True)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--cpu", action="store_true", help="PostgreSQL's CPU a vote by group size")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    args = parser.parse_args()
    url = database(args.database_url)
    asyncio.run(cpu(url) if args.cpu else run(url, args.groups))


if __name__ == "__main__":
    main()
