"""Estimated-accuracy benchmark: GET /v1/metrics/estimated-accuracy over many answers with a
reviewed random sample, over HTTP against the real server.

    python bench/bench_estimate.py [--answers 1000000] [--rate 0.01] [--requests 15]
                                   [--statement-timeout 900] [--database-url URL [--filled]]

Run with PYTHONPATH=src (this checkout's code).

1. --answers interactions with one vote each (common.fill: spread over the last 90 days),
   a queue and a sample rule at --rate over all of them, applied by the rules job (about
   --rate x --answers items), and every sampled item given a verdict (SQL: a reviewer's
   submit is bench_review.py's subject, not this one's).
2. `feedback-api serve` (the background jobs off, the statement timeout raised to
   --statement-timeout so that a slow request is measured rather than cut at the default
   30 s), a refresh (`POST /v1/admin/refresh`, full on a new database: the estimate sums
   the refresher's answer_hours and daily_metrics), then --requests sequential requests
   for the figures per model over a window holding every answer: p50 and p95 (goal: p50
   <= 200 ms at 1,000,000 answers and 10,000 reviewed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.common import asyncpg_dsn, database, fill, percentile, server, settle
from feedback_api.review.job import apply_rules


async def prepare(url: str, answers: int, rate: float) -> int:
    """Fill, sample, and decide every sampled item; the number reviewed."""
    dsn = asyncpg_dsn(url)
    started = time.perf_counter()
    await fill(dsn, answers, timeline=True)
    print(f"filled {answers:,} answers in {time.perf_counter() - started:.0f} s", flush=True)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            queue_id = await conn.scalar(
                text(
                    "INSERT INTO review_queues (id, name, reviewers_per_item, lease_seconds, blind)"
                    " VALUES (gen_random_uuid(), 'bench', 1, 900, true) RETURNING id"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO review_rules (id, queue_id, kind, sample_rate, since, hash_key)"
                    " VALUES (gen_random_uuid(), :q, 'sample', :rate, now() - interval '1 year',"
                    " md5(random()::text))"
                ),
                {"q": queue_id, "rate": rate},
            )
        async with AsyncSession(engine) as session, session.begin():
            await apply_rules(session)
        async with engine.begin() as conn:
            reviewed = await conn.execute(
                text(
                    "UPDATE review_items SET state = 'done', labels = 1, consensus = 'unanimous',"
                    " verdict = CASE WHEN random() < 0.8 THEN 'correct' ELSE 'incorrect' END,"
                    " decided_at = now()"
                )
            )
    finally:
        await engine.dispose()
    await settle(dsn)
    return int(reviewed.rowcount)


async def measure(base: str, requests: int, full: bool) -> list[float]:
    since = (datetime.now(UTC) - timedelta(days=91)).isoformat()
    took = []
    async with httpx.AsyncClient(base_url=base, timeout=None) as client:
        started = time.perf_counter()
        r = await client.post("/v1/admin/refresh", params={"full": str(full).lower()})
        assert r.status_code == 200, r.text
        print(f"refresh (full={full}) in {time.perf_counter() - started:.1f} s", flush=True)
        for _ in range(requests + 1):
            started = time.perf_counter()
            r = await client.get(
                "/v1/metrics/estimated-accuracy", params={"since": since, "group_by": "model"}
            )
            took.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text
        body = r.json()
    for item in body["items"]:
        print(
            f"  {item['model']}: answers {item['answers']:,}, reviewed {item['reviewed']:,}, "
            f"estimated {item['estimated_accuracy']}, voted {item['voted_accuracy']}"
        )
    return took[1:]  # the first warms the server's caches


async def reviewed_so_far(url: str) -> int:
    """The decided items of a database an earlier run filled (--filled)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            done = await conn.scalar(
                text("SELECT count(*) FROM review_items WHERE verdict IS NOT NULL")
            )
    finally:
        await engine.dispose()
    return int(done or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--statement-timeout", type=float, default=900.0, help="seconds")
    parser.add_argument("--database-url")
    parser.add_argument(
        "--filled", action="store_true", help="the database was filled by an earlier run"
    )
    args = parser.parse_args()
    url = database(args.database_url)
    if args.filled:
        reviewed = asyncio.run(reviewed_so_far(url))
    else:
        reviewed = asyncio.run(prepare(url, args.answers, args.rate))
    print(f"{reviewed:,} reviewed answers", flush=True)
    env = {
        "FEEDBACK_REFRESH_ENABLED": "false",
        "FEEDBACK_ACCESS_LOG": "false",
        "FEEDBACK_STATEMENT_TIMEOUT_SECONDS": str(args.statement_timeout),
    }
    with server(url, env=env) as base:
        took = asyncio.run(measure(base, args.requests, full=not args.filled))
    print(
        f"GET /v1/metrics/estimated-accuracy, {args.answers:,} answers, {reviewed:,} reviewed: "
        f"p50 {1000 * percentile(took, 0.5):.0f} ms, p95 {1000 * percentile(took, 0.95):.0f} ms "
        "(goal: p50 <= 200 ms)"
    )


if __name__ == "__main__":
    main()
