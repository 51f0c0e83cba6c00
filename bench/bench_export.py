"""Export benchmark: the streamed fine-tuning dataset against PostgreSQL's own COPY.

    python bench/bench_export.py [--quick] [--database-url URL]

Side by side in one run, on one database with 1,000,000 votes (--quick: 100,000):
  copy     COPY (<the export's own query, compiled>) TO STDOUT: PostgreSQL writing the very
           same JSON lines with no application in between, read by asyncpg;
  export   POST /v1/feedback/export/finetuning through `feedback-api serve`, the body read
           to the end over HTTP;
  memory   growth of the server's resident memory (all its processes) during the export.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import asyncpg_dsn, database, fill, server
from feedback_api.exports.repository import Selection, Shape, lines_query

FORMAT = "weighted"


async def copy_rate(dsn: str, since: datetime, until: datetime) -> tuple[float, int]:
    stmt = lines_query(Selection(since, until), Shape(format=FORMAT), with_ids=False)
    sql = str(
        stmt.with_only_columns(stmt.selected_columns[0]).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
    )
    conn = await asyncpg.connect(dsn)
    received = 0
    lines = 0

    async def sink(chunk: bytes) -> None:
        nonlocal received, lines
        received += len(chunk)
        lines += chunk.count(b"\n")

    started = time.perf_counter()
    await conn.copy_from_query(sql, output=sink)
    elapsed = time.perf_counter() - started
    await conn.close()
    return lines / elapsed, lines


def server_rss(pid: int) -> int:
    try:
        parent = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def export_rate(base: str, days: int) -> tuple[float, int, int]:
    """Examples/s over HTTP, examples received, and the server's peak RSS growth (bytes)."""
    pid = server.last_pid  # type: ignore[attr-defined]
    baseline = server_rss(pid)
    peak = baseline
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server_rss(pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    lines = 0
    started = time.perf_counter()
    with httpx.stream(
        "POST", f"{base}/v1/feedback/export/finetuning",
        json={"days": days, "format": FORMAT}, timeout=600,
    ) as response:  # fmt: skip
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 16):
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    stop.set()
    watcher.join()
    return lines / elapsed, lines, peak - baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 votes")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    url = database(args.database_url)
    dsn = asyncpg_dsn(url)
    asyncio.run(fill(dsn, rows))
    days = 100
    until = datetime.now(UTC) + timedelta(minutes=5)
    since = until - timedelta(days=days)

    copy, copied = asyncio.run(copy_rate(dsn, since, until))
    with server(url, env={"FEEDBACK_REFRESH_ENABLED": "false"}) as base:
        ours, exported, growth = export_rate(base, days)
    print(f"votes stored: {rows:,}; examples exported: {exported:,} (COPY: {copied:,})")
    print(f"{'measure':<52}{'value':>14}")
    print(f"{'COPY (same query) TO STDOUT (examples/s)':<52}{copy:>14,.0f}")
    print(f"{'POST /v1/feedback/export/finetuning (examples/s)':<52}{ours:>14,.0f}")
    print(f"{'ratio':<52}{ours / copy:>13.2f}x")
    print(f"{'server memory growth during the export (MB)':<52}{growth / 2**20:>14.1f}")


if __name__ == "__main__":
    main()
