"""Review benchmark: a sample rule over many logged answers, then reviewers claiming and
labelling from the queue it filled, over HTTP against the real server.

    python bench/bench_review.py [--answers 1000000] [--rate 0.1] [--reviewers 20]
                                 [--seconds 30] [--database-url URL]

Run with PYTHONPATH=src (this checkout's code).

1. --answers interactions with one vote each (common.fill, generate_series SQL), then a
   queue (one reviewer per item) and a sample rule at --rate with `since` before them all:
   the time the rules job takes to apply it (one INSERT ... SELECT over every answer, with
   each drawn item's slot), and the items it queued (about --rate x --answers).
2. `feedback-api serve` (one worker per core, the rules job off) and --reviewers reviewers,
   each on its own keep-alive connection, claiming and labelling for --seconds, with
   a random 0 to 2 x --think seconds between a reviewer's requests (people read the
   answer, each at their own pace; 0: back to back, the most the server can do): p50 and
   p95 of a claim (the 200 with the whole exchange) and of a submit (the 201), and how
   many labels a second the queue gets.
3. The same claims and submits as statements (the service's repository) without HTTP,
   back to back: what the database itself takes.
The vote path is not in this benchmark: the review code does not touch it (votes are read
by the rules job afterwards, not in the vote's statement).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.common import asyncpg_dsn, database, fill, percentile, server, settle
from feedback_api.reasons.schemas import DEFAULT_REASONS
from feedback_api.review.claims import ClaimRepository
from feedback_api.review.job import apply_rules


async def sample(url: str, answers: int, rate: float) -> tuple[str, float, int]:
    """Fill, then time the first application of a sample rule over every answer."""
    dsn = asyncpg_dsn(url)
    started = time.perf_counter()
    await fill(dsn, answers)
    print(f"filled {answers:,} answers in {time.perf_counter() - started:.0f} s", flush=True)
    await settle(dsn)
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
        started = time.perf_counter()
        async with AsyncSession(engine) as session, session.begin():
            added = await apply_rules(session)
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    await settle(dsn)
    return str(queue_id), elapsed, added


async def reviewer(
    base: str,
    queue_id: str,
    name: str,
    until: float,
    claims: list[float],
    submits: list[float],
    think: float,
) -> None:
    headers = {"X-Reviewer": name, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        # People start and read at their own pace, not in step.
        await asyncio.sleep(random.uniform(0, 2 * think))
        while time.perf_counter() < until:
            started = time.perf_counter()
            r = await client.post(f"/v1/review/queues/{queue_id}/claim")
            claims.append(time.perf_counter() - started)
            if r.status_code == 204:
                return
            assert r.status_code == 200, r.text
            lease = r.json()
            await asyncio.sleep(random.uniform(0, 2 * think))  # reading the answer
            body = json.dumps({"lease_token": lease["lease_token"], "verdict": "correct"})
            started = time.perf_counter()
            s = await client.post(
                f"/v1/review/assignments/{lease['assignment_id']}/submit", content=body
            )
            submits.append(time.perf_counter() - started)
            assert s.status_code == 201, s.text
            await asyncio.sleep(random.uniform(0, 2 * think))


async def work(base: str, queue_id: str, reviewers: int, seconds: float, think: float) -> None:
    claims: list[float] = []
    submits: list[float] = []
    until = time.perf_counter() + seconds
    await asyncio.gather(
        *(
            reviewer(base, queue_id, f"r{i}-{think}", until, claims, submits, think)
            for i in range(reviewers)
        )
    )
    what = f"HTTP (claim 200, submit 201), {think:g} s between a reviewer's requests on average"
    _report(what, claims, submits, reviewers, seconds)


async def statements(url: str, queue_id: str, reviewers: int, seconds: float) -> None:
    """The same work without HTTP: each reviewer's claim and submit as the service runs
    them (ClaimRepository), each in its transaction, on connections of their own."""
    engine = create_async_engine(url, pool_size=reviewers, max_overflow=0)
    claims: list[float] = []
    submits: list[float] = []
    until = time.perf_counter() + seconds

    async def one(name: str) -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            async with AsyncSession(engine) as session, session.begin():
                claimed = await ClaimRepository(session).claim(uuid.UUID(queue_id), name)
            claims.append(time.perf_counter() - started)
            if claimed is None:
                return
            assignment_id, token, _ = claimed
            label: dict[str, Any] = {
                "verdict": "correct",
                "reasons": [],
                "correction": None,
                "note": None,
            }
            started = time.perf_counter()
            async with AsyncSession(engine) as session, session.begin():
                stored = await ClaimRepository(session).submit(
                    assignment_id, token, name, label, DEFAULT_REASONS
                )
            submits.append(time.perf_counter() - started)
            assert stored is not None

    try:
        await asyncio.gather(*(one(f"s{i}") for i in range(reviewers)))
    finally:
        await engine.dispose()
    _report("statements", claims, submits, reviewers, seconds)


def _report(
    what: str, claims: list[float], submits: list[float], reviewers: int, seconds: float
) -> None:
    print(f"{what}, {reviewers} reviewers at once:")
    for name, values in (("claim", claims), ("submit", submits)):
        print(
            f"  {name:7s} p50 {1000 * percentile(values, 0.5):6.1f} ms   "
            f"p95 {1000 * percentile(values, 0.95):6.1f} ms   ({len(values):,})"
        )
    print(f"  labels  {len(submits) / seconds:,.0f} a second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--think",
        type=float,
        nargs="+",
        default=[1.0, 0.0],
        help="Mean seconds a reviewer takes between requests (uniform from 0 to twice it: a "
        "person reads the answer); 0: back to back, the most the server does.",
    )
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = database(args.database_url)
    queue_id, elapsed, added = asyncio.run(sample(url, args.answers, args.rate))
    print(
        f"sample rule over {args.answers:,} answers: {elapsed:.1f} s, {added:,} items queued "
        "(goal: under 60 s at 1,000,000)"
    )
    with server(
        url, env={"FEEDBACK_REFRESH_ENABLED": "false", "FEEDBACK_ACCESS_LOG": "false"}
    ) as base:
        for think in args.think:
            asyncio.run(work(base, queue_id, args.reviewers, args.seconds, think))
    asyncio.run(statements(url, queue_id, args.reviewers, args.seconds))


if __name__ == "__main__":
    main()
