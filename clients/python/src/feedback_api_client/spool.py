"""The on-disk spool: every queued item, until the server has answered for it.

SQLite from the standard library, in WAL mode: an item is written (committed) before the
call that queued it returns, so a process that crashes or restarts loses nothing it had
queued; the next client on the same directory sends it. `synchronous=NORMAL`: a commit
survives the process crashing, and only an operating-system crash or a power cut may lose
the last commits (FULL would pay an fsync per queued item).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "feedback-api-client.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    request_id TEXT,
    alone INTEGER NOT NULL,
    body BLOB NOT NULL
)
"""


@dataclass(frozen=True)
class SpooledItem:
    seq: int
    kind: str
    key: str
    request_id: str | None
    alone: bool
    body: bytes


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit (isolation_level=None): each INSERT is its own committed transaction.
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    # No checkpoint inside a caller's INSERT (it would fsync there); the worker runs them.
    connection.execute("PRAGMA wal_autocheckpoint=0")
    return connection


class Spool:
    """One directory per process: two clients on one spool would both send its items (which
    the server's idempotency absorbs, but the work is done twice)."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Callers insert through one connection, the worker deletes through the other: a
        # worker's delete or checkpoint never holds the lock a caller's insert needs.
        self._writer = _connect(self.path)
        self._writer.execute(_SCHEMA)
        self._reader = _connect(self.path)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    def add(self, kind: str, key: str, request_id: str | None, alone: bool, body: bytes) -> int:
        with self._write_lock:
            cursor = self._writer.execute(
                "INSERT INTO items (kind, key, request_id, alone, body) VALUES (?, ?, ?, ?, ?)",
                (kind, key, request_id, int(alone), body),
            )
        seq = cursor.lastrowid
        assert seq is not None
        return seq

    def items(self) -> Iterator[SpooledItem]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT seq, kind, key, request_id, alone, body FROM items ORDER BY seq"
            ).fetchall()
        for seq, kind, key, request_id, alone, body in rows:
            yield SpooledItem(seq, kind, key, request_id, bool(alone), bytes(body))

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget items the server has answered for, then checkpoint (off the callers' path)."""
        rows = [(seq,) for seq in seqs]
        if not rows:
            return
        with self._read_lock:
            self._reader.execute("BEGIN IMMEDIATE")
            try:
                self._reader.executemany("DELETE FROM items WHERE seq = ?", rows)
            except BaseException:
                self._reader.execute("ROLLBACK")
                raise
            self._reader.execute("COMMIT")
            self._reader.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._writer.close()
            self._reader.close()
