from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from feedback_api.config import get_settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[Path]:
    """The CLI on the test database, writing into a directory of its own."""
    monkeypatch.setenv("FEEDBACK_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
