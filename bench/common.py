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

from feedback_api import migrations
from feedback_api.config import normalize_database_url

ROOT = Path(__file__).resolve().parent.parent


def database(url: str | None) -> str:
    """The given URL, or a fresh embedded PostgreSQL in a temporary directory; migrated."""
    if url:
        url = normalize_database_url(url)
    else:
        from feedback_api.embedded import start_embedded

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
def server(url: str, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`feedback-api serve` with its defaults (plus `args`) in a child process; yields its URL."""
    port = free_port()
    environment = {**os.environ, "FEEDBACK_DATABASE_URL": url, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedback_api", "serve", "--port", str(port), "--no-migrate", *args],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1) as r:
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
