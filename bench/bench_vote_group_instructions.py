"""Instructions per group of votes spent by the vote statement's path alone (the rows to send,
SQLAlchemy's execution, the driver, the answers), counted by callgrind in this process.

    python bench/bench_vote_group_instructions.py [--groups 300] [--size 8] [--database-url URL]

Runs itself under valgrind: builds `groups` groups of `size` votes with their context (as
bench_ingest.py's votes), warms the connection up with 30 groups, then counts the
instructions of `write_votes` on one autocommit connection for the measured groups (only
those run instrumented). Compare two checkouts by running each one's copy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_ingest import BODY
from bench.common import database, under_callgrind


async def measured(url: str, groups: int, size: int) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from feedback_api.config import Settings
    from feedback_api.feedback.repository import write_votes
    from feedback_api.feedback.schemas import FeedbackCreate
    from feedback_api.feedback.service import vote_entry
    from feedback_api.interactions.service import IngestRules
    from feedback_api.kit.db import autocommit

    rules = IngestRules.from_settings(Settings(_env_file=None, database_url=url))

    def group() -> list[object]:
        return [vote_entry(FeedbackCreate.model_validate(BODY), rules) for _ in range(size)]

    engine = create_async_engine(url)
    pid = str(os.getpid())
    async with autocommit(engine).connect() as conn:
        for _ in range(30):
            await write_votes(conn, group())  # type: ignore[arg-type]
        made = [group() for _ in range(groups)]
        # Blocking on purpose: nothing else runs in this process meanwhile.
        _control("--instr=on", pid)
        _control("--zero", pid)
        for entries in made:
            await write_votes(conn, entries)  # type: ignore[arg-type]
        _control("--dump=measured", pid)
    await engine.dispose()


def _control(command: str, pid: str) -> None:
    subprocess.run(["callgrind_control", command, pid], capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    parser.add_argument("--measured", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measured:  # the run under valgrind
        asyncio.run(measured(args.database_url, args.groups, args.size))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed: apt-get install valgrind")
    url = database(args.database_url)
    out = under_callgrind(
        __file__, "--groups", str(args.groups), "--size", str(args.size), "--database-url", url
    )
    summary = next(
        line
        for line in next(out.glob("cg.*.1")).read_text().splitlines()
        if line.startswith("summary:")
    )
    total = int(summary.split()[1])
    print(
        f"{total // args.groups:,} instructions per group of {args.size} "
        f"({total // args.groups // args.size:,} a vote; {out})"
    )


if __name__ == "__main__":
    main()
