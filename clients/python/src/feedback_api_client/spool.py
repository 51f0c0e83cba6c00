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
from typing import IO

FILE_NAME = "feedback-api-client.sqlite3"
LOCK_NAME = "feedback-api-client.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    request_id TEXT,
    alone INTEGER NOT NULL,
    body BLOB NOT NULL
)
"""


# (seq, kind, key, request_id, alone, body): one item as written.
Row = tuple[int | None, str, str, str | None, bool, bytes]


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
    """One client per directory: two on one spool would both send its items (which the
    server's idempotency absorbs, but the work would be done twice), so a second one is
    refused (SpoolInUse) while the first holds the directory's lock."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._claim = _claim(self.path.parent / LOCK_NAME)
        # Inserts and deletes share one connection behind a lock: a caller waits for the
        # worker's delete by a lock hand-off, not by SQLite's busy handler, which sleeps in
        # steps of up to 100 ms while another connection holds the database.
        self._db = _connect(self.path)
        self._db.execute(_SCHEMA)
        # Checkpoints (which fsync) on a connection of their own: in WAL mode they run
        # beside the writes, holding nobody's lock.
        self._checkpoints = _connect(self.path)
        self._lock = threading.Lock()

    def add_many(self, items: Iterable[Row]) -> None:
        """Write (seq, kind, key, request_id, alone, body) items in one transaction. The seqs
        are the client's own, counted on from the largest it found: one writer per spool."""
        rows = [(*head, int(alone), body) for *head, alone, body in items]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO items (seq, kind, key, request_id, alone, body) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def items(self) -> Iterator[SpooledItem]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, key, request_id, alone, body FROM items ORDER BY seq"
            ).fetchall()
        for seq, kind, key, request_id, alone, body in rows:
            yield SpooledItem(seq, kind, key, request_id, bool(alone), bytes(body))

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget items the server has answered for (one transaction), then checkpoint."""
        rows = [(seq,) for seq in seqs]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM items WHERE seq = ?", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self._checkpoints.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._checkpoints.close()
            if self._claim is not None:
                self._claim.close()  # and with it the lock


def _claim(path: Path) -> IO[bytes] | None:
    """An exclusive lock on the spool for this client (POSIX; elsewhere none is taken)."""
    try:
        import fcntl
    except ImportError:
        return None
    handle = path.open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise SpoolInUse(
            f"the spool {path.parent} is in use by another client; give each process a "
            "spool_dir of its own"
        ) from None
    return handle


class SpoolInUse(RuntimeError):
    """Raised when a client is created on a spool another live client holds."""
