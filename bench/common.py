"""Shared pieces of the benchmarks: a database, the real server, a tiny HTTP load client.

Everything runs on this machine, against loopback only, and stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from feedback_api.config import normalize_database_url
from feedback_api.kit import migrations

ROOT = Path(__file__).resolve().parent.parent

# Synthetic history generated inside PostgreSQL: 5 models, 7 intents, 3 projects, 90 days,
# 5,000 distinct questions, 10,000 users, one vote per interaction, 70 % thumbs up.
FILL = """
WITH i AS (
  INSERT INTO interactions (id, request_id, query, response, model, intent, project, created_at)
  SELECT gen_random_uuid(), 'fill-' || g, 'question ' || (g % 5000), 'answer ' || g,
         'model-' || (g % 5), 'intent-' || (g % 7), 'project-' || (g % 3),
         now() - (g % 90) * interval '1 day'
  FROM generate_series($1::bigint, $2::bigint) AS g RETURNING id, created_at)
INSERT INTO feedback (id, interaction_id, is_helpful, stars, user_id, created_at)
SELECT gen_random_uuid(), id, random() < 0.7, 1 + (random() * 4)::int,
       'user-' || (random() * 10000)::int, created_at
FROM i
"""


def database(url: str | None) -> str:
    """The given URL, or a fresh embedded PostgreSQL in a temporary directory; migrated."""
    if url:
        url = normalize_database_url(url)
    else:
        from feedback_api.kit.embedded import start_embedded

        url = start_embedded(Path(tempfile.mkdtemp(prefix="fb-bench-")), cleanup="delete")
    migrations.upgrade(url)
    return url


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    url: str,
    *args: str,
    env: dict[str, str] | None = None,
    ready: str = "/readyz",
    log_pipe: bool = False,
) -> Iterator[str]:
    """`feedback-api serve` with its defaults (plus `args`) in a child process; yields its URL
    once `ready` answers 200 (`/healthz` for an older checkout, whose head is not the
    database's). `log_pipe`: see `served`."""
    command = [sys.executable, "-m", "feedback_api", "serve", "--no-migrate", *args]
    env = {"FEEDBACK_DATABASE_URL": url, **(env or {})}
    with served(command, ready, env=env, log_pipe=log_pipe) as base:
        yield base


@contextlib.contextmanager
def served(
    command: list[str],
    ready: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log_pipe: bool = False,
) -> Iterator[str]:
    """`command` plus `--port PORT` in a child process (its own process group, stopped
    after; in `cwd`, default this one), once GET `ready` answers 200; yields its URL. Its
    stderr (the logs) goes to /dev/null, or with `log_pipe` to a pipe that a `cat` reads,
    as a container's or a service manager's log collector reads it: each write to a pipe
    wakes its reader."""
    port = free_port()
    reader = (
        subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        if log_pipe
        else None
    )
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=reader.stdin if reader is not None else subprocess.DEVNULL,
        start_new_session=True,
    )
    if reader is not None and reader.stdin is not None:
        reader.stdin.close()  # the server holds the pipe's only writing end now
    base = f"http://127.0.0.1:{port}"
    server.last_pid = proc.pid  # type: ignore[attr-defined]  # for memory measurements
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}{ready}", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        if reader is not None:
            reader.wait(10)  # the pipe closed with the server's processes


def cpu_seconds(
    *, group: int | None = None, command: str | None = None, parent: int | None = None
) -> float:
    """CPU time (user + system) so far of the processes in process group `group`, of those
    whose command is `command`, or of process `parent` and its children (Linux /proc):
    where a benchmark's time went."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # After the name: state, ppid, pgrp, ..., utime and stime are fields 14 and 15.
        ours = parent is not None and parent in (int(fields[1]), int(stat.parent.name))
        if ours or (group is not None and int(fields[2]) == group) or name == command:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def postmaster(dsn: str) -> int | None:
    """The process id of the PostgreSQL server behind `dsn`, when it runs on this machine
    (the parent of a backend): its CPU and its backends' are that database's own, whatever
    other servers the machine runs."""
    conn = await asyncpg.connect(dsn)
    try:
        return _parent_of(int(await conn.fetchval("SELECT pg_backend_pid()")))
    finally:
        await conn.close()


def _parent_of(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # not a process of this machine
        return None
    return int(text[text.rindex(")") + 2 :].split()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Connection:
    """A keep-alive HTTP/1.1 connection with almost no client-side cost per request."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        try:
            return await self._request(method, path, body)
        except (ConnectionError, IndexError, asyncio.IncompleteReadError):
            # The server closed an idle keep-alive connection before reading the request.
            self.close()
            self.writer = None
            return await self._request(method, path, body)

    async def _request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def settle(dsn: str) -> None:
    """Before each measured run: the tables vacuumed and analyzed.

    Otherwise a run pays for the one before it: after 100,000 inserts into a small table,
    autovacuum starts during the next run, whichever it is. (No CHECKPOINT: right after one,
    every page's first change writes a full page image to the WAL, which costs the
    one-row-per-commit ceiling far more than grouped writes, and would flatter the ratio.)
    """
    conn = await asyncpg.connect(dsn)
    await conn.execute("VACUUM ANALYZE interactions, feedback")
    await conn.close()


# FILL with the times of real traffic: the rows of one call spread evenly over the 90 days
# before it, in the order of their numbers (the newest last), so that an hour holds an hour's
# rows and a day's rows lie together in the table, as they do when traffic arrives over time.
TIMELINE_FILL = FILL.replace(
    "now() - (g % 90) * interval '1 day'",
    "$3::timestamptz - ($5::bigint - g) * (interval '90 days' / ($5::bigint - $4::bigint + 1))",
)


async def fill(dsn: str, rows: int, *, start: int = 1, timeline: bool = False) -> None:
    """Add `rows` interactions, each with one vote, numbered from `start`: on the same time
    of day of the 90 days (FILL), or spread over them in order (`timeline`, TIMELINE_FILL)."""
    conn = await asyncpg.connect(dsn)
    chunk = 100_000
    last = start + rows - 1
    origin = await conn.fetchval("SELECT now()")
    for low in range(start, last + 1, chunk):
        high = min(last, low + chunk - 1)
        if timeline:
            await conn.execute(TIMELINE_FILL, low, high, origin, start, last)
        else:
            await conn.execute(FILL, low, high)
    await conn.execute("VACUUM ANALYZE interactions")
    await conn.execute("VACUUM ANALYZE feedback")
    await conn.close()


def under_callgrind(script: str, *args: str) -> Path:
    """`script --measured ARGS` run under callgrind with instrumentation off until the script
    turns it on (`callgrind_control`); returns the folder of its profiles (`cg.PID.N`)."""
    out = Path(tempfile.mkdtemp(prefix="callgrind-"))
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}/cg.%p",
            sys.executable,
            script,
            "--measured",
            *args,
        ],
        check=True,
        capture_output=True,
    )
    return out


# The votes and exchanges deleted, and what refers to them (the change log, review queues
# with their items, slots and labels).
EMPTIED = ("DELETE FROM feedback", "DELETE FROM interactions")
STALE_STATEMENTS = ("DELETE FROM review_queues", "DELETE FROM analytics_changes", *EMPTIED)


async def planned_empty(dsn: str, rows: int) -> float:
    """`rows` exchanges with a vote each (TIMELINE_FILL) in tables whose statistics say they
    are empty: every exchange and vote deleted (STALE_STATEMENTS), 500 written and analyzed,
    deleted and the empty tables analyzed (as autovacuum does after a large delete), then
    `rows` written.
    Autovacuum is kept off the two tables until `autovacuum_back`. What the statistics plan
    for afterwards (0.0)."""
    conn = await asyncpg.connect(dsn)
    for table in ("interactions", "feedback"):
        await conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    for statement in STALE_STATEMENTS:
        await conn.execute(statement)
    await conn.close()
    await fill(dsn, 500, timeline=True)  # analyzed with rows, then emptied and analyzed
    conn = await asyncpg.connect(dsn)
    for statement in (*EMPTIED, "ANALYZE interactions", "ANALYZE feedback"):
        await conn.execute(statement)
    await conn.execute(TIMELINE_FILL, 1, rows, await conn.fetchval("SELECT now()"), 1, rows)
    planned = float(
        await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'interactions'")
    )
    await conn.close()
    return planned


async def autovacuum_back(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    for table in ("interactions", "feedback"):
        await conn.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
    await conn.close()
