"""Instructions per item of `POST /v1/feedback/batch`'s Python parts, counted by callgrind.

    python bench/bench_batch_instructions.py [--batches 3] [--quick] [--database-url URL]

Needs valgrind. Runs the batch route's own parts in one process, as the route runs them, on
1,000-vote batches with their context (bench_vote_batch.py's), after one batch to warm up,
with the garbage collector set as the server sets it; only the measured parts run
instrumented (callgrind toggled by this process). Prints user-space instructions per item of
this process (PostgreSQL's own work is not in them):
  body     the body parsed and checked as the route does (`FeedbackBatch`, the NUL check);
  intake   `VoteIntake.submit_batch`: the items validated, their rows built, the vote
           statement's parameters written, its rows read (asyncpg, SQLAlchemy), the outcomes;
  answer   `batch_result_json`: the answer's bytes.
The same figure to about 1 % whatever else the machine runs (timings move by 40 % here).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_vote_batch import items
from bench.common import database, under_callgrind
from feedback_api.auth.keys import Principal, Scope
from feedback_api.config import Settings
from feedback_api.feedback.schemas import FeedbackBatch, batch_result_json
from feedback_api.feedback.service import VoteIntake, vote_group
from feedback_api.interactions.service import IngestRules
from feedback_api.kit.db import create_engine, create_sessionmaker
from feedback_api.kit.fields import python_checks_needed

PARTS = ("body", "intake", "answer")


def _callgrind(*args: str) -> None:
    command = ["callgrind_control", *args, str(os.getpid())]
    subprocess.run(command, check=True, capture_output=True)


async def measured(url: str, batches: int) -> None:
    """Under callgrind: each part over `batches` batches, dumped as one profile each."""
    settings = Settings(_env_file=None, database_url=url)
    rules = IngestRules.from_settings(settings)
    engine = create_engine(settings, url)
    intake = VoteIntake(
        vote_group(engine, writers=1, default_reasons=rules.reasons),
        vote_group(engine, writers=2, default_reasons=rules.reasons),
        rules,
        create_sessionmaker(engine),
    )
    principal = Principal(Scope.INGEST, "bench")
    bodies = [json.dumps({"items": items()}).encode() for _ in range(batches + 1)]

    def body(raw: bytes) -> tuple[list[object], bool]:
        return FeedbackBatch.model_validate(json.loads(raw)).items, not python_checks_needed(raw)

    # As the server runs (app.py): start-up's objects frozen, young ones collected rarely.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    try:
        sent, checked = body(bodies[0])
        batch_result_json(await intake.submit_batch(sent, principal, core_checked=checked))
        _callgrind("--instr=on")
        _callgrind("--zero")
        parsed = [body(raw) for raw in bodies[1:]]
        _callgrind("--dump=body")
        outcomes = [await intake.submit_batch(i, principal, core_checked=c) for i, c in parsed]
        _callgrind("--dump=intake")
        for outcome in outcomes:
            batch_result_json(outcome)
        _callgrind("--dump=answer")
    finally:
        await intake.close()
        await engine.dispose()


def count(url: str, batches: int) -> dict[str, int]:
    """Instructions per item of each part: this script run again under callgrind."""
    out = under_callgrind(__file__, "--batches", str(batches), "--database-url", url)
    figures = {}
    for profile in out.glob("cg.*.*"):
        text = profile.read_text()
        lines = text.splitlines()
        # Each profile names its dump ("desc: Trigger: dump intake") and its total.
        part = next(line.split()[-1] for line in lines if line.startswith("desc: Trigger:"))
        total = next(int(line.split()[1]) for line in lines if line.startswith("summary:"))
        figures[part] = total // (batches * 1000)
    shutil.rmtree(out)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 batches")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    parser.add_argument("--measured", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measured:
        asyncio.run(measured(args.database_url, args.batches))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed: apt-get install valgrind")
    figures = count(database(args.database_url), 2 if args.quick else args.batches)
    print(f"{'per item of a 1,000-vote batch':<44}{'instructions':>14}")
    for part in PARTS:
        print(f"{part:<44}{figures[part]:>14,}")
    print(f"{'the three':<44}{sum(figures.values()):>14,}")


if __name__ == "__main__":
    main()
