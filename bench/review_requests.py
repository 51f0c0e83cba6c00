"""What one claim and one submit cost the database: the round trips each request makes to
PostgreSQL (every query the driver sends: pings, BEGIN, statements, COMMIT), the time of each
as the driver saw it, and the size of the claim's answer.

    PYTHONPATH=src python bench/review_requests.py [--answers 100000] [--rate 0.1]
                                                   [--rounds 300] [--database-url URL]

The app runs in this process (its real lifespan, engines and routes, no HTTP server) and one
reviewer claims and submits --rounds times, one request at a time, on a queue filled as
bench_review.py fills it (a sample rule at --rate over --answers answers, one reviewer per
item, blind). asyncpg's query logger, added to every connection the app's pools open, sees
each query; counts are per request, deterministic; times are medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import Engine, event
from sqlalchemy.pool import Pool

from bench.bench_review import sample
from bench.common import database
from feedback_api.app import create_app
from feedback_api.config import Settings

SEEN: list[tuple[str, float]] = []


def _logged(record: Any) -> None:
    SEEN.append((" ".join(record.query.split()), record.elapsed))


@event.listens_for(Pool, "connect")
def _watch(dbapi_connection: Any, _record: Any) -> None:
    # Pings, BEGIN, COMMIT and ROLLBACK: the queries asyncpg sends by themselves.
    dbapi_connection.driver_connection.add_query_logger(_logged)


@event.listens_for(Engine, "before_cursor_execute")
def _started(conn: Any, _cursor: Any, _sql: str, *_: Any) -> None:
    conn.info["started"] = time.perf_counter()


@event.listens_for(Engine, "after_cursor_execute")
def _executed(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
    # The statements SQLAlchemy runs (asyncpg's prepared statements, which it does not log).
    SEEN.append((" ".join(sql.split()), time.perf_counter() - conn.info.pop("started")))


def kind(query: str) -> str:
    """A short name for a query: BEGIN, COMMIT, ROLLBACK, the ping (`;`), or its first words."""
    words = query.split()
    if query == ";":
        return "ping ;"
    if words and words[0] in ("BEGIN", "COMMIT", "ROLLBACK"):
        return words[0]
    if query.startswith("WITH"):
        ctes = [
            w
            for w, n, o in zip(words, words[1:], words[2:], strict=False)
            if n == "AS" and o[0] == "("
        ]
        return "WITH " + ", ".join(ctes)
    return " ".join(words[:6])


async def measure(url: str, queue_id: str, rounds: int) -> None:
    settings = Settings(database_url=url, refresh_enabled=False, _env_file=None)
    app = create_app(settings)
    per: dict[str, list[list[tuple[str, float]]]] = defaultdict(list)
    sizes: list[int] = []
    async with app.router.lifespan_context(app) as lifespan_state:
        state = dict(lifespan_state or {})

        async def served(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, "state": dict(state)}, receive, send)

        headers = {"X-Reviewer": "counted"}
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            for i in range(rounds + 20):  # the first 20 warm the pools and statement caches
                del SEEN[:]
                r = await client.post(f"/v1/review/queues/{queue_id}/claim", headers=headers)
                assert r.status_code == 200, r.text
                claimed, lease = list(SEEN), r.json()
                body = {"lease_token": lease["lease_token"], "verdict": "correct"}
                del SEEN[:]
                s = await client.post(
                    f"/v1/review/assignments/{lease['assignment_id']}/submit",
                    json=body,
                    headers=headers,
                )
                assert s.status_code == 201, s.text
                if i >= 20:
                    per["claim"].append(claimed)
                    per["submit"].append(list(SEEN))
                    sizes.append(len(r.content))
    for name, requests in per.items():
        counts = Counter(len(queries) for queries in requests)
        print(f"{name}: {dict(counts)} round trips per request (count: requests)")
        times: dict[str, list[float]] = defaultdict(list)
        for queries in requests:
            for query, elapsed in queries:
                times[kind(query)].append(elapsed)
        for what, values in times.items():
            print(
                f"  {len(values) / len(requests):4.2f} x {1000 * statistics.median(values):6.3f} ms"
                f"  {what[:110]}"
            )
        total = [sum(e for _, e in queries) for queries in requests]
        print(f"  all its queries: {1000 * statistics.median(total):.3f} ms median")
    print(f"claim answer: {statistics.median(sizes):,.0f} bytes median")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = database(args.database_url)
    queue_id, _, added = asyncio.run(sample(url, args.answers, args.rate))
    print(f"queue of {added:,} items from {args.answers:,} answers")
    asyncio.run(measure(url, queue_id, args.rounds))


if __name__ == "__main__":
    main()
