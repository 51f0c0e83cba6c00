from __future__ import annotations

import pytest

from feedback_api.config import Settings, normalize_database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/x", "postgresql+asyncpg://u:p@db:5432/x"),
        ("postgres://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("postgresql+asyncpg://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("postgresql+psycopg://u@db/x", "postgresql+asyncpg://u@db/x"),
        (
            "postgresql://u@/x?host=/var/run/postgresql",
            "postgresql+asyncpg://u@/x?host=/var/run/postgresql",
        ),
    ],
)
def test_database_urls_are_normalized_to_asyncpg(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize("bad", ["mysql://u@db/x", "db.example.com:5432"])
def test_other_databases_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_database_url(bad)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_DATABASE_URL", "postgres://u@db/x")
    monkeypatch.setenv("FEEDBACK_CORS_ORIGINS", "https://chat.example.com, http://localhost:3000")
    monkeypatch.setenv("FEEDBACK_MAX_BODY_BYTES", "2048")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "postgresql+asyncpg://u@db/x"
    assert s.cors_origins == ["https://chat.example.com", "http://localhost:3000"]
    assert s.max_body_bytes == 2048


def test_defaults() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.max_body_bytes == 1024 * 1024
    assert s.refresh_interval_seconds == 30


async def test_unix_socket_urls_connect(database_url: str) -> None:
    """The embedded server listens on a socket: `?host=/dir` URLs must reach it."""
    if "host=/" not in database_url:
        pytest.fail("the test database is expected on a Unix socket here")  # pragma: no cover
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    plain = database_url.replace("postgresql+asyncpg://", "postgresql://")
    engine = create_async_engine(normalize_database_url(plain))
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1
    await engine.dispose()
