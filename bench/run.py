"""Every benchmark, one after the other, each on a fresh embedded PostgreSQL of its own.

    python bench/run.py [--quick] [--database-url URL]

Runs bench_ingest.py, bench_analytics.py and bench_export.py with the same options and prints
their tables; each measures our code and PostgreSQL's own ceiling side by side in one run.
`--quick` takes about a minute in all instead of about five.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS: tuple[str, ...] = ("bench_ingest.py", "bench_analytics.py", "bench_export.py")
# The vote path's deterministic figure and its batch items' parts (valgrind; 5-10 minutes).
BENCHMARKS += ("bench_vote_instructions.py", "bench_vote_batch.py", "bench_batch_instructions.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 100,000 rows")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL each")
    args = parser.parse_args()
    options = (["--quick"] if args.quick else []) + (
        ["--database-url", args.database_url] if args.database_url else []
    )
    failed = []
    for name in BENCHMARKS:
        print(f"\n== {name} {' '.join(options)}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(HERE / name), *options], check=False)
        print(f"({time.monotonic() - started:.0f} s)", flush=True)
        if done.returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
