"""Export benchmark: every streamed dataset against PostgreSQL's own COPY of its query.

    python bench/bench_export.py [--quick] [--database-url URL [--no-fill]]
                                 [--formats weighted,csv,...] [--reviewed 0.01]
                                 [--popular 20000] [--twins 20000]
    python bench/bench_export.py --stale ROWS [--limit 300] [--database-url URL]

On one database with 1,000,000 votes in the window (--quick: 100,000), one vote per
exchange, a share of the answers reviewed (--reviewed, default 1 %: one review queue, each
item decided, 70 % correct, one in ten waiting for adjudication), for each fine-tuning
format (weighted, openai, kto, dpo, openai-dpo; label_source both, the default) and each
offline file (csv, jsonl, parquet), side by side in one run:
  copy     COPY (<the export's own query, compiled>) TO STDOUT, read by asyncpg: PostgreSQL
           writing the same rows with no application in between (with the planner settings
           the export uses);
  export   the export through `feedback-api serve` over HTTP, read to the end: the time to
           its first line, its rate, and the ratio to COPY (after a warm-up: every worker
           loads its redactor on its first export);
  memory   the growth of the server's resident memory (all its processes) during it;
  CPU      the server's CPU time (all its processes) per row: what the export costs the
           application, less sensitive to the machine's load than the rates.
The server redacts (its default: the requests do not turn redaction off).

--popular N adds one prompt answered N times, each answer with one vote in the window: a
pair export must read such a prompt's answers once, not once per vote. --twins N adds one
question asked N times and answered the same way each time (one example of N votes): an
SFT export must read that example's votes once, not once per vote.

--stale ROWS measures only how long each export of ROWS votes takes when the tables'
statistics say they are empty (analyzed while empty, then filled: common.planned_empty, made
again before each export), up to --limit seconds each.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import asyncpg_dsn, autovacuum_back, database, fill, planned_empty, server
from feedback_api.exports.repository import (
    FORMATS,
    PAIRED,
    Selection,
    Shape,
    interactions_query,
    lines_query,
)

try:
    from feedback_api.exports.offline import OFFLINE_COLUMNS
except ImportError:  # code from before exports.offline, measured by this script (PYTHONPATH)
    from feedback_api.exports.service import OFFLINE_COLUMNS  # type: ignore[attr-defined,no-redef]

OFFLINE = ("csv", "jsonl", "parquet")

# A queue with a share ($1) of the answers, each item decided by one reviewer (or waiting).
REVIEWED_FILL = """
WITH queue AS (
  INSERT INTO review_queues (id, name, reviewers_per_item, lease_seconds, blind)
  VALUES (gen_random_uuid(), 'bench', 1, 900, true) RETURNING id),
picked AS (
  SELECT id, random() AS r FROM interactions WHERE random() < $1)
INSERT INTO review_items (id, queue_id, interaction_id, source, state, labels, correct,
                          incorrect, verdict, consensus, decided_at)
SELECT gen_random_uuid(), queue.id, picked.id, 'manual',
       CASE WHEN r < 0.1 THEN 'needs_adjudication' ELSE 'done' END, 1,
       (r >= 0.1 AND r < 0.73)::int, (r >= 0.73)::int,
       CASE WHEN r < 0.1 THEN NULL WHEN r < 0.73 THEN 'correct' ELSE 'incorrect' END,
       CASE WHEN r < 0.1 THEN NULL ELSE 'unanimous' END, CASE WHEN r >= 0.1 THEN now() END
FROM picked, queue
"""


async def review(dsn: str, share: float) -> int:
    """Put `share` of the answers in a review queue, decided; how many."""
    conn = await asyncpg.connect(dsn)
    await conn.execute(REVIEWED_FILL, share)
    await conn.execute("VACUUM ANALYZE review_items")
    count = int(await conn.fetchval("SELECT count(*) FROM review_items"))
    await conn.close()
    return count


# One question answered $1 times (distinct answers), each with one vote in the window.
POPULAR_FILL = """
WITH i AS (
  INSERT INTO interactions (id, request_id, query, response, model, intent, project, created_at)
  SELECT gen_random_uuid(), 'popular-' || $2::int || '-' || g, 'the popular question',
         'popular answer ' || (g % $2::int),
         'model-0', 'intent-0', 'project-0', now() - (g % 90) * interval '1 day'
  FROM generate_series(1, $1::bigint) AS g RETURNING id, created_at)
INSERT INTO feedback (id, interaction_id, is_helpful, stars, user_id, created_at)
SELECT gen_random_uuid(), id, random() < 0.7, 1 + (random() * 4)::int,
       'user-' || (random() * 10000)::int, created_at
FROM i
"""


async def popular(dsn: str, exchanges: int, answers: int) -> None:
    """One question asked `exchanges` times, each with one vote, answered in `answers` ways."""
    conn = await asyncpg.connect(dsn)
    await conn.execute(POPULAR_FILL, exchanges, answers)
    await conn.execute("VACUUM ANALYZE interactions, feedback")
    await conn.close()


async def counted(dsn: str) -> tuple[int, int]:
    """The votes and the reviewed answers of a database filled before."""
    conn = await asyncpg.connect(dsn)
    votes = int(await conn.fetchval("SELECT count(*) FROM feedback"))
    reviewed = int(await conn.fetchval("SELECT count(*) FROM review_items"))
    await conn.close()
    return votes, reviewed


def query_of(kind: str, since: datetime, until: datetime) -> tuple[str, list[str]]:
    """The SQL an export of `kind` streams, and the settings it runs with."""
    if kind in OFFLINE:
        stmt: Any = interactions_query(since, until, OFFLINE_COLUMNS)
        settings = []
    else:
        stmt = lines_query(Selection(since, until), Shape(format=kind), with_ids=False)  # type: ignore[arg-type]
    # SQLAlchemy leaves its dialects' constructors untyped.
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if kind not in OFFLINE:
        # Streamed rows run without hash or merge joins (`ExportRepository._planner_off`);
        # pairs are streamed since migration 0019, grouped with the defaults before it; the
        # SFT-like lines' look-backs (migration 0022) without bitmap scans or sorts too.
        streamed = kind not in PAIRED or "first_of_prompt" in sql
        settings = ["enable_hashjoin", "enable_mergejoin"] if streamed else []
        if "twin_before" in sql:
            settings += ["enable_bitmapscan", "enable_sort"]
    return sql, settings


async def copy_rate(dsn: str, kind: str, since: datetime, until: datetime) -> tuple[float, int]:
    """Rows/s of COPY (the export's query) TO STDOUT, and the rows."""
    sql, settings = query_of(kind, since, until)
    conn = await asyncpg.connect(dsn)
    for name in settings:
        await conn.execute(f"SET {name} = off")
    lines = 0

    async def sink(chunk: bytes) -> None:
        nonlocal lines
        lines += chunk.count(b"\n")

    started = time.perf_counter()
    await conn.copy_from_query(sql, output=sink)
    elapsed = time.perf_counter() - started
    await conn.close()
    return lines / elapsed, lines


async def warm_up(base: str, requests: int = 8) -> None:
    """Small exports (the last day's votes) side by side, so that every worker of the server
    has loaded its redactor (on the first rows it redacts, seconds) before anything is
    timed."""
    body = {"days": 1, "format": "kto"}
    url, close = "/v1/feedback/export/finetuning", {"Connection": "close"}
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        sent = [client.post(url, json=body, headers=close) for _ in range(requests)]
        for response in await asyncio.gather(*sent):
            response.raise_for_status()


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) so far of the server (all its processes)."""
    try:
        parent = psutil.Process(pid)
        times = [p.cpu_times() for p in [parent, *parent.children(recursive=True)]]
    except psutil.NoSuchProcess:
        return 0.0
    return sum(t.user + t.system for t in times)


def server_rss(pid: int) -> int:
    try:
        parent = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def export_request(base: str, kind: str, days: int) -> dict[str, Any]:
    """httpx's arguments for an export of `kind` (a fine-tuning format or an offline file)."""
    if kind in OFFLINE:
        return {
            "method": "GET",
            "url": f"{base}/v1/exports/interactions",
            "params": {"format": kind, "days": days},
        }
    return {
        "method": "POST",
        "url": f"{base}/v1/feedback/export/finetuning",
        "json": {"days": days, "format": kind},
    }


def export_rate(base: str, kind: str, days: int) -> tuple[float, float, int, int, float]:
    """(seconds to the first line, rows/s, rows received, peak RSS growth in bytes, the
    server's CPU seconds) of one export over HTTP. Rows: lines, or for Parquet the rows of
    the file."""
    pid = server.last_pid  # type: ignore[attr-defined]
    baseline = server_rss(pid)
    cpu = server_cpu(pid)
    peak = baseline
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server_rss(pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    request = export_request(base, kind, days)
    lines, first = 0, float("nan")
    parquet = bytearray() if kind == "parquet" else None
    started = time.perf_counter()
    with httpx.stream(**request, timeout=3600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():  # as received: the first line when it arrives
            if first != first and (b"\n" in chunk or parquet is not None):
                first = time.perf_counter() - started
            if parquet is not None:
                parquet += chunk
            else:
                lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    cpu = server_cpu(pid) - cpu
    stop.set()
    watcher.join()
    if parquet is not None:
        import io

        import pyarrow.parquet as pq

        lines = pq.ParquetFile(io.BytesIO(bytes(parquet))).metadata.num_rows
    return first, lines / elapsed, lines, peak - baseline, cpu


def timed_export(base: str, kind: str, days: int, limit: float) -> str:
    """The seconds to the first line and to the end of one export over HTTP, as text; "> limit"
    where it did not end within `limit` seconds."""
    started = time.perf_counter()
    first = float("nan")
    try:
        with httpx.stream(**export_request(base, kind, days), timeout=limit) as response:
            response.raise_for_status()
            for _chunk in response.iter_bytes():
                if first != first:
                    first = time.perf_counter() - started
                if time.perf_counter() - started > limit:
                    raise httpx.ReadTimeout("the export's limit")
    except httpx.TimeoutException:
        return f"{first:.2f} / > {limit:.0f}"
    return f"{first:.2f} / {time.perf_counter() - started:.2f}"


async def cancel_queries(dsn: str) -> None:
    """Stop what an export left behind in PostgreSQL (a client that timed out)."""
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE state = 'active'"
        " AND datname = current_database() AND pid <> pg_backend_pid()"
    )
    await conn.close()


def stale(url: str, rows: int, kinds: list[str], reviewed: float, limit: float) -> None:
    """Each export of `rows` votes whose tables were analyzed while empty and filled right
    after (common.planned_empty, the state made again before each)."""
    dsn = asyncpg_dsn(url)
    print(f"{'export':<12}{'first line / whole, s':>24}")
    try:
        with server(url, env={"FEEDBACK_REFRESH_ENABLED": "false"}) as base:
            asyncio.run(warm_up(base))
            for kind in kinds:
                planned = asyncio.run(planned_empty(dsn, rows))
                share = asyncio.run(review(dsn, reviewed)) if reviewed else 0
                timed = timed_export(base, kind, 100, limit)
                asyncio.run(cancel_queries(dsn))
                print(f"{kind:<12}{timed:>24}   (planned for {planned:.0f}, {share} reviewed)")
    finally:
        asyncio.run(autovacuum_back(dsn))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 votes")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    parser.add_argument("--formats", default=",".join((*FORMATS, *OFFLINE)), help="comma-separated")
    parser.add_argument("--reviewed", type=float, default=0.01, help="share of answers reviewed")
    parser.add_argument(
        "--popular", type=int, default=0, help="one more prompt answered this many times"
    )
    parser.add_argument(
        "--twins", type=int, default=0, help="one more answer logged this many times"
    )
    parser.add_argument(
        "--no-fill",
        action="store_true",
        help="with --database-url: measure its rows as they are (filled by an earlier run)",
    )
    parser.add_argument(
        "--stale",
        type=int,
        metavar="ROWS",
        help="only: each export of ROWS votes written after the tables were analyzed empty"
        " (every exchange deleted: use a database of its own)",
    )
    parser.add_argument(
        "--limit", type=float, default=300, help="with --stale: seconds an export may take"
    )
    args = parser.parse_args()
    if args.no_fill and not args.database_url:
        parser.error("--no-fill needs --database-url (a database filled before)")
    kinds = args.formats.split(",")
    if args.stale:
        stale(database(args.database_url), args.stale, kinds, args.reviewed, args.limit)
        return
    rows = 100_000 if args.quick else 1_000_000
    url = database(args.database_url)
    dsn = asyncpg_dsn(url)
    if args.no_fill:
        rows, reviewed = asyncio.run(counted(dsn))
    else:
        asyncio.run(fill(dsn, rows))
        if args.popular:
            asyncio.run(popular(dsn, args.popular, args.popular))
            rows += args.popular
        if args.twins:
            asyncio.run(popular(dsn, args.twins, 1))
            rows += args.twins
        reviewed = asyncio.run(review(dsn, args.reviewed)) if args.reviewed else 0
    days = 100  # the fill spreads its votes over 90 days: all of them are in the window
    print(f"votes in the window: {rows:,}; answers in a review queue: {reviewed:,}", flush=True)
    header = (
        f"{'export':<12}{'rows':>10}{'first line s':>14}{'rows/s':>10}{'COPY rows/s':>13}"
        f"{'ratio':>8}{'RSS growth MB':>15}{'server CPU us/row':>19}"
    )
    print(header)
    with server(url, env={"FEEDBACK_REFRESH_ENABLED": "false"}) as base:
        asyncio.run(warm_up(base))
        for kind in kinds:
            until = datetime.now(UTC) + timedelta(minutes=5)
            copy, _ = asyncio.run(copy_rate(dsn, kind, until - timedelta(days=days), until))
            first, ours, exported, growth, cpu = export_rate(base, kind, days)
            print(
                f"{kind:<12}{exported:>10,}{first:>14.2f}{ours:>10,.0f}{copy:>13,.0f}"
                f"{ours / copy:>7.2f}x{growth / 2**20:>15.1f}{cpu / exported * 1e6:>19.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
