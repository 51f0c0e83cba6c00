"""Ingest benchmark: the real server against PostgreSQL's own insert+commit ceiling.

    python bench/bench_ingest.py [--quick] [--database-url URL]

Side by side in one run, on one database, each measured run starting from a settled
database (vacuumed and analyzed, bench.common.settle):
  ceiling  raw asyncpg, 32 connections, one autocommitted statement writing the same
           interaction + feedback row that POST /v1/feedback writes;
  ingest   POST /v1/feedback through `feedback-api serve` (its defaults), wrk, 32 connections,
           with the CPU time the server's processes and PostgreSQL's spent per request
           (the database's server process and its backends, when it runs on this machine;
           else every `postgres` process on the machine: run it with no other busy);
  latency  p50/p99 of POST /v1/feedback at a fixed 500 requests/s (open loop: latency counts
           from when a request was due, so a stalled server cannot hide its queue);
  batch    POST /v1/feedback/batch with 1,000 items a request, items/s, and the CPU time the
           server and PostgreSQL spent per item;
  unlogged POST /v1/feedback again with FEEDBACK_ACCESS_LOG=false (what the access log costs);
  piped    POST /v1/feedback again with the server's logs read through a pipe, as a
           container's or a service manager's log collector reads them (else: /dev/null);
  floor    the same wrk load on an app with only the vote route's shape and no database
           (bench_vote_floor.py's `bare`: a FastAPI route, one dependency, the body read, a
           fixed 201), served as `feedback-api serve` serves, with as many workers: what ratio
           to the ceiling FastAPI's own request handling leaves on this machine;
  growth   the ingest rate again with 1,000,000 rows already stored (--quick: 100,000).
  exchanges POST /v1/interactions (what a chat backend sends for every exchange), wrk, 32
           connections, each request a new request_id, with the server's CPU per request.

`--workers-sweep 1,2,3,4` adds POST /v1/feedback and the floor app at each of those numbers of
worker processes (`feedback-api serve --workers N`), each against the ceiling measured again
just before it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    Connection,
    asyncpg_dsn,
    cpu_seconds,
    database,
    fill,
    percentile,
    postmaster,
    served,
    server,
    settle,
)
from feedback_api.kit.models import new_id

BODY = {
    "query": "How do I reverse a list in Python?",
    "response": "Use reversed(xs) or xs[::-1].",
    "model": "qwen-2.5-coder-7b",
    "intent": "code",
    "project": "bench",
    "rating": 1,
}

# The analytics refresher off: these measure ingestion alone. What a refresh costs (and that
# it blocks no writer) is measured by bench_analytics.py.
QUIET = {"FEEDBACK_REFRESH_ENABLED": "false"}

RAW = """
WITH i AS (
  INSERT INTO interactions (id, request_id, query, response, model, intent, project)
  VALUES ($6::uuid, $6::uuid::text, $1, $2, $3, $4, $5) RETURNING id)
INSERT INTO feedback (id, interaction_id, is_helpful) SELECT $7, id, true FROM i
"""


async def ceiling(dsn: str, seconds: float, connections: int = 32) -> float:
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    args = (BODY["query"], BODY["response"], BODY["model"], BODY["intent"], BODY["project"])
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.monotonic() < deadline:
                # The same time-ordered ids the service generates (feedback_api.models.new_id).
                await conn.execute(RAW, *args, new_id(), new_id())
                done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    await pool.close()
    return done / elapsed


def wrk(base: str, seconds: float, connections: int = 32) -> tuple[float, int]:
    """Requests/s of POST /v1/feedback and the number of non-2xx answers."""
    rate, failures, _ = wrk_counted(base, seconds, connections)
    return rate, failures


# POST /v1/interactions: each request a request_id of its own (a request_id sent again is
# answered as stored, and would measure a read): the run's second, the thread, the count.
EXCHANGE = {key: value for key, value in BODY.items() if key != "rating"}
EXCHANGES = (
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    # `setup` runs once per thread, in wrk's main state: each thread gets a number of its own.
    "local threads = 0\nfunction setup(thread)\n  threads = threads + 1\n"
    "  thread:set('thread', threads)\nend\n"
    "local sent = 0\nlocal run = tostring(os.time())\n"
    "function request()\n  sent = sent + 1\n"
    "  local id = run .. '-' .. tostring(thread) .. '-' .. tostring(sent)\n"
    f"  local body = [[{json.dumps({**EXCHANGE, 'request_id': '@ID@'})}]]\n"
    "  return wrk.format(nil, nil, nil, (body:gsub('@ID@', id)))\nend\n"
)


def wrk_counted(
    base: str, seconds: float, connections: int = 32, *, exchanges: bool = False
) -> tuple[float, int, int]:
    """As `wrk`, and the number of requests answered; `exchanges`: POST /v1/interactions."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        EXCHANGES
        if exchanges
        else 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{json.dumps(BODY)}]]\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script),
            f"{base}/v1/interactions" if exchanges else f"{base}/v1/feedback",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script.unlink()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", out)
    failures = int(bad.group(1)) if bad else 0
    if errors:
        failures += sum(int(g) for g in errors.groups())
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rate, failures, done


async def fixed_rate(base: str, rate: float, seconds: float) -> tuple[float, float, int]:
    """p50 and p99 latency (ms) at a fixed arrival rate, and the number of non-2xx."""
    parts = urlsplit(base)
    body = json.dumps(BODY).encode()
    idle: collections.deque[Connection] = collections.deque()  # FIFO: all stay warm
    latencies: list[float] = []
    failures = 0

    async def one(due: float) -> None:
        nonlocal failures
        conn = (
            idle.popleft() if idle else Connection(parts.hostname or "127.0.0.1", parts.port or 80)
        )
        status, _ = await conn.request("POST", "/v1/feedback", body)
        latencies.append((time.monotonic() - due) * 1000)
        if not 200 <= status < 300:
            failures += 1
        idle.append(conn)

    tasks = []
    start = time.monotonic() + 0.1
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return percentile(latencies, 0.5), percentile(latencies, 0.99), failures


async def batch_rate(base: str, seconds: float, clients: int = 4, size: int = 1000) -> float:
    parts = urlsplit(base)
    items = [{**BODY, "rating": 1 if i % 4 else -1, "user_id": f"u{i}"} for i in range(size)]
    body = json.dumps({"items": items}).encode()
    done = 0
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal done
        conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
        while time.monotonic() < deadline:
            status, _ = await conn.request("POST", "/v1/feedback/batch", body)
            if status != 200:
                raise RuntimeError(f"batch answered {status}")
            done += size
        conn.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.monotonic() - started)


@contextlib.contextmanager
def floor_server(workers: int) -> Iterator[str]:
    """bench_vote_floor.py's `bare` app under uvicorn, as `feedback-api serve` runs the
    app (its default loop and HTTP parser: uvloop, httptools; no access log), with
    `workers` processes; yields its URL."""
    command = [sys.executable, "-m", "uvicorn", "bench.bench_vote_floor:bare", "--factory"]
    options = ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    with served([*command, *options], "/healthz", cwd=ROOT) as base:
        yield base


def sweep(url: str, counts: list[int], seconds: float) -> list[tuple[int, float, float, float]]:
    """(workers, the ceiling, POST /v1/feedback req/s, floor app req/s) for each number of
    workers, the ceiling measured again before each (the machine's load moves)."""
    rows = []
    dsn = asyncpg_dsn(url)
    for workers in counts:
        asyncio.run(settle(dsn))
        raw = asyncio.run(ceiling(dsn, seconds))
        asyncio.run(settle(dsn))
        with server(url, "--workers", str(workers), env=QUIET) as base:
            wrk(base, 1)
            api, _ = wrk(base, seconds)
        with floor_server(workers) as base:
            wrk(base, 1)
            floor, _ = wrk(base, seconds)
        rows.append((workers, raw, api, floor))
    return rows


async def stored(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    n = int(await conn.fetchval("SELECT count(*) FROM feedback"))
    await conn.close()
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 100k rows for growth")
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    parser.add_argument(
        "--workers-sweep",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[],
        metavar="N,N,...",
        help="also POST /v1/feedback and the floor app with each number of workers",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    seconds = 3.0 if args.quick else 10.0
    growth_rows = 100_000 if args.quick else 1_000_000
    url = database(args.database_url)
    dsn = asyncpg_dsn(url)

    # Each measured run starts from a settled database (vacuumed, analyzed): see settle.
    asyncio.run(settle(dsn))
    raw_before = asyncio.run(ceiling(dsn, seconds))
    quiet = QUIET
    # PostgreSQL's CPU: this database's server and backends where it runs here, else every
    # `postgres` process on the machine.
    server_pid = asyncio.run(postmaster(dsn))
    ours = {"parent": server_pid} if server_pid else {"command": "postgres"}
    asyncio.run(settle(dsn))
    with server(url, env=quiet) as base:
        wrk(base, 1)  # warm up: connections, pools, caches
        group = server.last_pid  # type: ignore[attr-defined]
        server_cpu, database_cpu = cpu_seconds(group=group), cpu_seconds(**ours)
        api, api_failures, answered = wrk_counted(base, seconds)
        server_cpu = (cpu_seconds(group=group) - server_cpu) / answered * 1000
        database_cpu = (cpu_seconds(**ours) - database_cpu) / answered * 1000
        p50, p99, latency_failures = asyncio.run(fixed_rate(base, 500, seconds))
        batch_cpu, batch_database = cpu_seconds(group=group), cpu_seconds(**ours)
        started = time.monotonic()
        batch = asyncio.run(batch_rate(base, seconds))
        items = batch * (time.monotonic() - started)
        batch_cpu = (cpu_seconds(group=group) - batch_cpu) / items * 1e6
        batch_database = (cpu_seconds(**ours) - batch_database) / items * 1e6
        logged_cpu, logged_database = cpu_seconds(group=group), cpu_seconds(**ours)
        logged, logged_failures, logged_answered = wrk_counted(base, seconds, exchanges=True)
        logged_cpu = (cpu_seconds(group=group) - logged_cpu) / logged_answered * 1000
        logged_database = (cpu_seconds(**ours) - logged_database) / logged_answered * 1000
    asyncio.run(settle(dsn))
    with server(url, env={**quiet, "FEEDBACK_ACCESS_LOG": "false"}) as base:
        wrk(base, 1)
        api_unlogged, unlogged_failures = wrk(base, seconds)
    asyncio.run(settle(dsn))
    with server(url, env=quiet, log_pipe=True) as base:
        wrk(base, 1)
        group = server.last_pid  # type: ignore[attr-defined]
        piped_cpu = cpu_seconds(group=group)
        api_piped, piped_failures, piped_answered = wrk_counted(base, seconds)
        piped_cpu = (cpu_seconds(group=group) - piped_cpu) / piped_answered * 1000
    # The same load on the route's shape alone, as many workers as the server's default.
    with floor_server(os.cpu_count() or 1) as base:
        wrk(base, 1)
        group = server.last_pid  # type: ignore[attr-defined]
        floor_cpu = cpu_seconds(group=group)
        floor, floor_failures, floor_answered = wrk_counted(base, seconds)
        floor_cpu = (cpu_seconds(group=group) - floor_cpu) / floor_answered * 1000
    # The ceiling moves from run to run on a shared machine: measured before and after the
    # server, and the higher of the two is the one every ratio is taken against.
    asyncio.run(settle(dsn))
    raw_after = asyncio.run(ceiling(dsn, seconds))
    raw = max(raw_before, raw_after)
    before = asyncio.run(stored(dsn))
    asyncio.run(fill(dsn, growth_rows))
    after = asyncio.run(stored(dsn))
    asyncio.run(settle(dsn))
    raw_full = asyncio.run(ceiling(dsn, seconds))
    asyncio.run(settle(dsn))
    with server(url, env=quiet) as base:
        wrk(base, 1)
        api_full, full_failures = wrk(base, seconds)
    swept = sweep(url, args.workers_sweep, seconds)

    print(f"feedback rows before growth: {before:,}; after: {after:,}")
    print(f"{'measure':<44}{'value':>14}{'ratio':>10}")
    print(f"{'raw asyncpg insert+commit, 32 conns (rows/s)':<44}{raw:>14,.0f}")
    both = f"{raw_before:,.0f} / {raw_after:,.0f}"
    print(f"{'  (before / after the server runs)':<44}{both:>14}")
    print(f"{'POST /v1/feedback, wrk 32 conns (req/s)':<44}{api:>14,.0f}{api / raw:>9.2f}x")
    print(f"{'  non-2xx responses':<44}{api_failures:>14}")
    print(f"{'  server CPU per request (ms)':<44}{server_cpu:>14.3f}")
    print(f"{'  PostgreSQL CPU per request (ms)':<44}{database_cpu:>14.3f}")
    print(
        f"{'  the same, FEEDBACK_ACCESS_LOG=false':<44}{api_unlogged:>14,.0f}"
        f"{api_unlogged / raw:>9.2f}x"
    )
    print(f"{'  non-2xx responses':<44}{unlogged_failures:>14}")
    piped = f"{'  the same, logs read through a pipe':<44}{api_piped:>14,.0f}"
    print(f"{piped}{api_piped / raw:>9.2f}x")
    print(f"{'  non-2xx responses':<44}{piped_failures:>14}")
    print(f"{'  server CPU per request (ms)':<44}{piped_cpu:>14.3f}")
    print(f"{'floor app, no database (req/s)':<44}{floor:>14,.0f}{floor / raw:>9.2f}x")
    print(f"{'  non-2xx responses':<44}{floor_failures:>14}")
    print(f"{'  server CPU per request (ms)':<44}{floor_cpu:>14.3f}")
    print(f"{'  POST /v1/feedback against the floor':<44}{'':>14}{api / floor:>9.2f}x")
    print(f"{'POST /v1/feedback at 500 req/s: p50 (ms)':<44}{p50:>14.1f}")
    print(f"{'POST /v1/feedback at 500 req/s: p99 (ms)':<44}{p99:>14.1f}")
    print(f"{'  non-2xx responses':<44}{latency_failures:>14}")
    print(f"{'POST /v1/feedback/batch (items/s)':<44}{batch:>14,.0f}")
    print(f"{'  server CPU per item (us)':<44}{batch_cpu:>14.1f}")
    print(f"{'  PostgreSQL CPU per item (us)':<44}{batch_database:>14.1f}")
    exchanges = f"{'POST /v1/interactions, wrk 32 conns (req/s)':<44}{logged:>14,.0f}"
    print(f"{exchanges}{logged / raw:>9.2f}x")
    print(f"{'  non-2xx responses':<44}{logged_failures:>14}")
    print(f"{'  server CPU per request (ms)':<44}{logged_cpu:>14.3f}")
    print(f"{'  PostgreSQL CPU per request (ms)':<44}{logged_database:>14.3f}")
    print(f"{'raw ceiling with rows stored (rows/s)':<44}{raw_full:>14,.0f}{raw_full / raw:>9.2f}x")
    print(
        f"{'POST /v1/feedback with rows stored (req/s)':<44}{api_full:>14,.0f}"
        f"{api_full / api:>9.2f}x"
    )
    print(f"{'  non-2xx responses':<44}{full_failures:>14}")
    if swept:
        print(f"\n{'workers':<10}{'ceiling':>10}{'POST /v1/feedback':>20}{'floor app':>20}")
    for workers, raw_n, api_n, floor_n in swept:
        print(
            f"{workers:<10}{raw_n:>10,.0f}{api_n:>11,.0f}{api_n / raw_n:>8.2f}x"
            f"{floor_n:>11,.0f}{floor_n / raw_n:>8.2f}x"
        )


if __name__ == "__main__":
    main()
