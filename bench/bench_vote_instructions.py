"""Instructions per vote through `POST /v1/feedback`, against its goal: `instructions.sh` on
this checkout, on a fresh embedded PostgreSQL (or URL).

    python bench/bench_vote_instructions.py [--quick] [--database-url URL]

Needs valgrind. Counts 2,000 votes over 8 connections after 300 to warm up (--quick: 500),
user-space instructions of the one server worker (callgrind): the same figure to about 1 %
whatever else the machine runs, so a change of a few percent shows. Takes 5-10 minutes (most
of it valgrind starting the server and warming up).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database

HERE = Path(__file__).resolve().parent
GOAL = 900_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 votes instead of 2,000")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed: apt-get install valgrind")
    url = database(args.database_url)
    votes = "500" if args.quick else "2000"
    out = subprocess.run(
        ["bash", str(HERE / "instructions.sh"), str(HERE.parent), url, votes, "8"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if "instructions per vote" in line)
    figure = int(re.search(r"(\d+) instructions per vote", line).group(1))  # type: ignore[union-attr]
    print(line)
    print(f"{'instructions per vote':<44}{figure:>14,}{figure / GOAL:>9.2f}x of the goal")


if __name__ == "__main__":
    main()
