"""weighted's first lines benchmark: the time to the first line of the weighted export
whatever the window holds of the three kinds of first line (an intent, a project, reasons).

    python bench/bench_first_lines.py [--rows 1000000] [--database-url URL]
                                      [--previous CHECKOUT] [--rounds 2]

On one database with --rows votes in a 100-day window (common.FILL with no intent and no
project: the votes of one fill statement share an instant on each of 90 days, so an hour of
the window holds about rows/90 votes: the densest hours for the rollups to point into), 1 %
of the answers in a review queue, a full refresh, then the four cases in turn, each written
through the server's batch route (so the change log names them) on top of the one before:
  absent    no vote with an intent, a project or reasons anywhere;
  before    1,000 votes with all three cast 120 days ago, before the window;
  rare      10 more in the window (1 in 100,000 at 1,000,000 votes), each in one of the
            fill's instants (an hour with rows/90 votes), spread over the window;
  present   100,000 more with all three (one in ten votes), spread over the window.
Each case is measured with its votes only in the change log (`logged`), then after an
ordinary refresh (`kept`): the time to the export's first line over HTTP, for this checkout's
server and (--previous) the server of another checkout's src/, alternated --rounds times,
and the first line's question and kinds (it must have every kind the window has).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_export import review
from bench.bench_refresh import settings_for, tick
from bench.common import FILL, asyncpg_dsn, database, server
from feedback_api.kit.db import create_engine

PLAIN_FILL = FILL.replace("'intent-' || (g % 7), 'project-' || (g % 3)", "NULL, NULL")
DAYS = 100
KINDS = {"intent": "code", "project": "p", "reasons": ["incorrect"]}


async def fill(dsn: str, rows: int) -> None:
    conn = await asyncpg.connect(dsn)
    for low in range(1, rows + 1, 100_000):
        await conn.execute(PLAIN_FILL, low, min(rows, low + 99_999))
    await conn.execute("VACUUM ANALYZE interactions")
    await conn.execute("VACUUM ANALYZE feedback")
    await conn.close()


async def instants(dsn: str, count: int) -> list[str]:
    """`count` cast times spread evenly over the window's votes (in their order), each 1 ms
    after a vote's: in an hour as full as the fill's hours are."""
    conn = await asyncpg.connect(dsn)
    total = await conn.fetchval("SELECT count(*) FROM feedback")
    rows = await conn.fetch(
        "SELECT at FROM (SELECT created_at + interval '1 millisecond' AS at,"
        " row_number() OVER (ORDER BY created_at, id) AS n FROM feedback) AS v"
        " WHERE n % $1 = $1 / 2 ORDER BY n",
        total // count,
    )
    await conn.close()
    return [r["at"].isoformat() for r in rows][:count]


def votes(prefix: str, times: list[str]) -> Iterator[dict[str, Any]]:
    for n, at in enumerate(times):
        yield {
            "query": f"{prefix} question {n}",
            "response": f"{prefix} answer {n}",
            "model": "model-0",
            "rating": -1,
            "user_id": f"{prefix}-{n}",
            "created_at": at,
            **KINDS,
        }


def write(base: str, items: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    with httpx.Client(base_url=base, timeout=600) as client:
        for item in [*items, None]:
            if item is not None:
                batch.append(item)
            if len(batch) == 1000 or (item is None and batch):
                r = client.post("/v1/feedback/batch", json={"items": batch})
                r.raise_for_status()
                batch = []


def refresh(url: str, *, full: bool = False) -> float:
    """A refresh as the refresher runs it (with no statement limit: a full one at 1,000,000
    votes on a loaded machine outlasts the API's); its ms."""
    settings = settings_for(url)

    async def run() -> float:
        engine = create_engine(settings, url)
        try:
            return await tick(engine, settings, full=full)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def first_line(base: str) -> tuple[float, str]:
    """Seconds to the export's first line, and that line's question with the kinds it has
    (the response is closed then: the rest of the file is not read)."""
    started, first, head = time.perf_counter(), float("nan"), b""
    body = {"days": DAYS, "format": "weighted"}
    with httpx.stream(
        "POST", f"{base}/v1/feedback/export/finetuning", json=body, timeout=600
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            head += chunk
            if b"\n" in head:
                first = time.perf_counter() - started
                break
    line = json.loads(head.split(b"\n")[0])
    kinds = [k for k in KINDS if line["metadata"].get(k)]
    return first, f"{line['messages'][-2]['content']} {kinds}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    parser.add_argument("--previous", type=Path, help="another checkout to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    url = database(args.database_url)
    dsn = asyncpg_dsn(url)
    started = time.perf_counter()
    asyncio.run(fill(dsn, args.rows))
    reviewed = asyncio.run(review(dsn, 0.01))
    print(f"votes: {args.rows:,}; reviewed answers: {reviewed:,}; ", end="")
    env = {"FEEDBACK_REFRESH_ENABLED": "false"}
    codes = {"new": env}
    if args.previous:
        codes["previous"] = {**env, "PYTHONPATH": str(args.previous.resolve() / "src")}
    with contextlib.ExitStack() as stack:
        bases = {
            name: stack.enter_context(
                server(url, env=e, ready="/readyz" if name == "new" else "/healthz")
            )
            for name, e in codes.items()
        }
        new = bases["new"]
        refresh(url, full=True)
        for base in bases.values():
            first_line(base)  # each server's first export pays for its imports
        print(f"filled and refreshed in {time.perf_counter() - started:.0f} s")
        before = (datetime.now(UTC) - timedelta(days=DAYS + 20)).isoformat()
        cases = {
            "absent": [],
            "before": list(votes("before", [before] * 1000)),
            "rare": list(votes("rare", asyncio.run(instants(dsn, 10)))),
            "present": list(votes("present", asyncio.run(instants(dsn, 100_000)))),
        }
        print(f"{'case':<9}{'refresh':<9}{'code':<10}{'first line s':>24}  first line, its kinds")
        for case, items in cases.items():
            write(new, iter(items))
            for state in ("logged", "kept"):
                if state == "kept":
                    refresh(url)
                runs: dict[str, list[tuple[float, str]]] = {name: [] for name in bases}
                for _ in range(args.rounds):  # the codes alternated
                    for name, base in bases.items():
                        runs[name].append(first_line(base))
                for name, measured in runs.items():
                    times = ", ".join(f"{t:.2f}" for t, _ in measured)
                    print(
                        f"{case:<9}{state:<9}{name:<10}{times:>24}  {measured[-1][1]}", flush=True
                    )


if __name__ == "__main__":
    main()
