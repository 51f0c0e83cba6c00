"""Refresh benchmark: what an ordinary refresh tick costs as the tables grow.

    python bench/bench_refresh.py [--rows 1000000 ...] [--load-seconds 60] [--database-url URL]
    python bench/bench_refresh.py --filled URL [--load-seconds 60]

Run with PYTHONPATH=src (this checkout's code) or another checkout's src/ to compare.

For each size in --rows (interactions with one vote each, added by generate_series SQL, not
the API, spread evenly over the 90 days before the fill in time order: common.TIMELINE_FILL;
then one full refresh and a VACUUM ANALYZE), measured in one run on one database:
  idle       an ordinary tick with no write since the previous one (median of 7); with
             votes all along the 90 days, the windows' starts pass votes at every tick
  new 1,000  a tick after 1,000 votes that bring new answers (cast now, answers of today),
             written by the service's own vote statement in groups of 100 (median of 3)
  old 1,000  a tick after 1,000 votes on answers of random days among the 90 (the daily
             rollup of every such day is recomputed; median of 3; sizes up to OLD_UP_TO)
  full       a full rebuild, for scale
With --load-seconds, at the largest size: the as_of lag (now - as_of, sampled every 0.5 s)
while 200 votes a second arrive and the refresher ticks every --interval seconds.

--filled names a database filled before with TIMELINE_FILL (by this benchmark or a copy of
one; at head): its rows are measured as they are, without a new fill. A fill of 10,000,000
rows takes longer than the measurement; a copy (CREATE DATABASE ... TEMPLATE) is quicker.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bench.common import asyncpg_dsn, autovacuum_back, database, fill, planned_empty
from feedback_api.analytics.models import RefreshState
from feedback_api.analytics.refresher import refresh_now
from feedback_api.config import Settings, normalize_database_url
from feedback_api.feedback.repository import VoteEntry, submit_votes
from feedback_api.kit import migrations
from feedback_api.kit.db import create_engine

GROUP = 100  # votes per statement, as group commit writes them under load
# Votes on old answers recompute each touched day whole: measured up to this size only.
OLD_UP_TO = 1_000_000
_serial = 0


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url, statement_timeout_seconds=3600)


async def tick(engine: AsyncEngine, settings: Settings, *, full: bool = False) -> float:
    """One refresh in its own transaction, as the refresher runs it; wall ms with commit."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    started = time.perf_counter()
    async with sessionmaker() as session, session.begin():
        await refresh_now(session, settings, full=full)
    return (time.perf_counter() - started) * 1000


def new_answers(count: int, rng: random.Random) -> list[VoteEntry]:
    global _serial
    entries = []
    for _ in range(count):
        _serial += 1
        interaction = {
            "request_id": f"bench-{_serial}-{rng.random()}",
            "query": f"question {rng.randint(0, 4999)}",
            "response": "answer",
            "model": f"model-{rng.randint(0, 4)}",
            "intent": f"intent-{rng.randint(0, 6)}",
            "project": f"project-{rng.randint(0, 2)}",
        }
        vote = {"is_helpful": rng.random() < 0.7, "user_id": f"user-{rng.randint(0, 10000)}"}
        entries.append(VoteEntry(vote, interaction=interaction))
    return entries


def old_answers(count: int, rows: int, rng: random.Random) -> list[VoteEntry]:
    # fill-N lies at a random time of the 90 days before the fill (common.TIMELINE_FILL).
    return [
        VoteEntry(
            {"is_helpful": rng.random() < 0.5, "user_id": f"late-{rng.randint(0, 10**9)}"},
            request_id=f"fill-{rng.randint(1, rows)}",
        )
        for _ in range(count)
    ]


async def write(engine: AsyncEngine, entries: list[VoteEntry]) -> None:
    for i in range(0, len(entries), GROUP):
        async with engine.begin() as conn:
            await submit_votes(conn.execute, entries[i : i + GROUP])


async def measure(engine: AsyncEngine, settings: Settings, rows: int) -> dict[str, Any]:
    rng = random.Random(rows)
    figures: dict[str, Any] = {"rows": rows}
    figures["full_ms"] = round(await tick(engine, settings, full=True))
    # As autovacuum would after a bulk load: the rebuilt rollups' rows get their hint bits
    # and the planner its statistics, so the ticks below measure the steady state.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    await tick(engine, settings)
    idle = [await tick(engine, settings) for _ in range(7)]
    figures["idle_ms"] = round(statistics.median(idle), 1)
    kinds: list[tuple[str, Callable[[], list[VoteEntry]]]] = [
        ("new_1000_ms", lambda: new_answers(1000, rng))
    ]
    if rows <= OLD_UP_TO:
        kinds.append(("old_1000_ms", lambda: old_answers(1000, rows, rng)))
    for name, entries in kinds:
        times = []
        for _ in range(3):
            await write(engine, entries())
            times.append(await tick(engine, settings))
        figures[name] = round(statistics.median(times))
    return figures


async def lag_under_load(
    engine: AsyncEngine, settings: Settings, seconds: float, interval: float, rate: int
) -> dict[str, Any]:
    """Votes at `rate` a second (groups every 0.1 s) while ticks run every `interval` s."""
    rng = random.Random(200)
    stop = time.monotonic() + seconds
    ticks: list[float] = []
    lags: list[float] = []
    written = 0

    async def writer() -> None:
        nonlocal written
        per_group = max(1, rate // 10)
        next_at = time.monotonic()
        while time.monotonic() < stop:
            async with engine.begin() as conn:
                await submit_votes(conn.execute, new_answers(per_group, rng))
            written += per_group
            next_at += 0.1
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def refresher() -> None:
        while time.monotonic() < stop:
            started = time.monotonic()
            ticks.append(await tick(engine, settings))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def sampler() -> None:
        while time.monotonic() < stop:
            async with engine.connect() as conn:
                lag = await conn.scalar(
                    select(
                        func.extract("epoch", func.clock_timestamp() - RefreshState.refreshed_at)
                    )
                )
            assert lag is not None  # the row a refresh writes; measure() ran refreshes first
            lags.append(float(lag))
            await asyncio.sleep(0.5)

    await asyncio.gather(writer(), refresher(), sampler())
    return {
        "votes_per_s": round(written / seconds),
        "interval_s": interval,
        "ticks": len(ticks),
        "tick_p50_ms": round(statistics.median(ticks)),
        "tick_max_ms": round(max(ticks)),
        "lag_p50_s": round(statistics.median(lags), 2),
        "lag_max_s": round(max(lags), 2),
    }


async def run(
    url: str, sizes: list[int], load_seconds: float, interval: float, *, filled: bool = False
) -> None:
    settings = settings_for(url)
    engine = create_engine(settings, url)
    try:
        have = 0
        if filled:
            async with engine.connect() as conn:
                # The fill's own rows (fill-1 ... fill-N), whatever earlier runs added.
                count = text("SELECT count(*) FROM interactions WHERE request_id LIKE 'fill-%'")
                have = int(await conn.scalar(count) or 0)
            print(f"measuring a database filled before: {have:,} rows", flush=True)
            print(await measure(engine, settings, have), flush=True)
        for rows in sorted(sizes):
            started = time.perf_counter()
            await fill(asyncpg_dsn(url), rows - have, start=have + 1, timeline=True)
            have = rows
            print(f"filled {rows:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
            print(await measure(engine, settings, rows), flush=True)
        if load_seconds:
            print(await lag_under_load(engine, settings, load_seconds, interval, 200), flush=True)
        async with engine.connect() as conn:
            for table in ("vote_hours", "member_last_casts", "member_hours", "query_windows"):
                if await conn.scalar(text(f"SELECT to_regclass('{table}')")) is None:
                    continue  # a checkout before the incremental refresh
                count = await conn.scalar(text(f"SELECT count(*) FROM {table}"))
                print(f"{table}: {count:,} rows")
    finally:
        await engine.dispose()


async def stale(url: str, rows: int) -> None:
    """A full refresh of `rows` exchanges whose tables were analyzed while empty (the rows
    deleted, then analyzed, as autovacuum does) and filled right after, before any ANALYZE."""
    settings = settings_for(url)
    engine = create_engine(settings, url)
    dsn = asyncpg_dsn(url)
    try:
        planned = await planned_empty(dsn, rows)
        print(f"{rows:,} exchanges written, statistics planning for {planned:.0f}", flush=True)
        print(f"full refresh: {await tick(engine, settings, full=True):.0f} ms", flush=True)
    finally:
        await autovacuum_back(dsn)
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="default: 1,000,000")
    parser.add_argument("--load-seconds", type=float, default=0)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    parser.add_argument("--filled", help="a database filled before: measure only")
    parser.add_argument(
        "--stale",
        type=int,
        metavar="ROWS",
        help="only: a full refresh of ROWS exchanges written after the tables were analyzed"
        " empty (their rows deleted: use a database of its own)",
    )
    args = parser.parse_args()
    if args.stale:
        asyncio.run(stale(database(args.database_url), args.stale))
        return
    if args.filled and (args.rows or args.database_url):
        parser.error("--filled measures the database as it is: no --rows or --database-url")
    if args.filled:
        url = normalize_database_url(args.filled)
        migrations.upgrade(url)
    else:
        url = database(args.database_url)
    sizes = [] if args.filled else args.rows or [1_000_000]
    asyncio.run(run(url, sizes, args.load_seconds, args.interval, filled=bool(args.filled)))


if __name__ == "__main__":
    main()
