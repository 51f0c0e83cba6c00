"""Analytics benchmark: reads that do not grow with the table, and what a refresh costs.

    python bench/bench_analytics.py [--quick] [--database-url URL]

Side by side in one run, on one database, at 10,000 and at 1,000,000 feedback rows
(--quick: 10,000 and 100,000):
  accuracy   p50 of GET /v1/feedback/accuracy over HTTP (real server, keep-alive client),
             against PostgreSQL computing the same figures from the tables (what a design
             without rollups pays on every read);
  stats      p50 of GET /v1/feedback/stats?days=90, same comparison;
  refresh    POST /v1/admin/refresh?full=true, and the worst latency of reads and writes
             issued while it runs (it must block neither).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Connection, asyncpg_dsn, database, fill, percentile, server

RAW_ACCURACY = """
SELECT i.model, i.intent, i.project, count(*), count(*) FILTER (WHERE f.is_helpful)
FROM feedback f JOIN interactions i ON i.id = f.interaction_id
GROUP BY i.model, i.intent, i.project
"""
RAW_STATS = """
SELECT count(*), count(*) FILTER (WHERE f.is_helpful), count(DISTINCT f.user_id),
       count(DISTINCT i.session_id), avg(i.memory_used), avg(i.response_time_ms)
FROM feedback f JOIN interactions i ON i.id = f.interaction_id
WHERE f.created_at >= now() - interval '90 days'
"""


async def http_p50(base: str, path: str, n: int) -> float:
    parts = urlsplit(base)
    conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        status, _ = await conn.request("GET", path)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    conn.close()
    return percentile(times, 0.5)


async def sql_p50(dsn: str, sql: str, n: int) -> float:
    conn = await asyncpg.connect(dsn)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await conn.fetch(sql)
        times.append((time.perf_counter() - started) * 1000)
    await conn.close()
    return percentile(times, 0.5)


async def refresh_under_load(base: str) -> tuple[float, float, float]:
    """Refresh time (ms), and the worst read and write latency (ms) seen meanwhile."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    done = asyncio.Event()
    worst = {"read": 0.0, "write": 0.0}
    body = json.dumps(
        {"query": "during refresh", "response": "a", "model": "model-1", "rating": 1}
    ).encode()

    async def load(kind: str) -> None:
        conn = Connection(host, port)
        while not done.is_set():
            started = time.perf_counter()
            if kind == "read":
                status, _ = await conn.request("GET", "/v1/feedback/accuracy?group_by=model")
            else:
                status, _ = await conn.request("POST", "/v1/feedback", body)
            assert 200 <= status < 300, status
            worst[kind] = max(worst[kind], (time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)
        conn.close()

    loaders = [asyncio.create_task(load(k)) for k in ("read", "write")]
    await asyncio.sleep(0.2)
    conn = Connection(host, port)
    started = time.perf_counter()
    status, payload = await conn.request("POST", "/v1/admin/refresh?full=true")
    elapsed = (time.perf_counter() - started) * 1000
    assert status == 200, payload
    conn.close()
    done.set()
    await asyncio.gather(*loaders)
    return elapsed, worst["read"], worst["write"]


def measure(url: str, dsn: str, n: int) -> dict[str, float]:
    with server(url, env={"FEEDBACK_REFRESH_ENABLED": "false"}) as base:
        refresh, worst_read, worst_write = asyncio.run(refresh_under_load(base))
        figures = {
            "refresh_ms": refresh,
            "worst_read_ms": worst_read,
            "worst_write_ms": worst_write,
            "accuracy_ms": asyncio.run(http_p50(base, "/v1/feedback/accuracy", n)),
            "stats_ms": asyncio.run(http_p50(base, "/v1/feedback/stats?days=90", n)),
        }
    figures["raw_accuracy_ms"] = asyncio.run(sql_p50(dsn, RAW_ACCURACY, max(3, n // 50)))
    figures["raw_stats_ms"] = asyncio.run(sql_p50(dsn, RAW_STATS, max(3, n // 50)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    args = parser.parse_args()
    large = 100_000 if args.quick else 1_000_000
    n = 200 if args.quick else 500
    url = database(args.database_url)
    dsn = asyncpg_dsn(url)

    asyncio.run(fill(dsn, 10_000))
    small = measure(url, dsn, n)
    asyncio.run(fill_more(dsn, 10_000, large))
    big = measure(url, dsn, n)

    print(f"{'measure':<46}{'10,000 rows':>14}{f'{large:,} rows':>16}{'growth':>9}")
    rows = [
        ("GET /v1/feedback/accuracy p50 (ms)", "accuracy_ms"),
        ("  PostgreSQL from the tables (ms)", "raw_accuracy_ms"),
        ("GET /v1/feedback/stats?days=90 p50 (ms)", "stats_ms"),
        ("  PostgreSQL from the tables (ms)", "raw_stats_ms"),
        ("POST /v1/admin/refresh?full=true (ms)", "refresh_ms"),
        ("  worst read latency during it (ms)", "worst_read_ms"),
        ("  worst write latency during it (ms)", "worst_write_ms"),
    ]
    for label, key in rows:
        print(f"{label:<46}{small[key]:>14.1f}{big[key]:>16.1f}{big[key] / small[key]:>8.2f}x")
    for label, key, raw in (("accuracy", "accuracy_ms", "raw_accuracy_ms"),
                            ("stats", "stats_ms", "raw_stats_ms")):  # fmt: skip
        print(f"{label} at {large:,} rows: {big[raw] / big[key]:.0f}x faster than the rescan")


async def fill_more(dsn: str, have: int, want: int) -> None:
    conn = await asyncpg.connect(dsn)
    current = int(await conn.fetchval("SELECT count(*) FROM feedback"))
    await conn.close()
    if current < want:
        await fill(dsn, want - current, start=have + 1)


if __name__ == "__main__":
    main()
