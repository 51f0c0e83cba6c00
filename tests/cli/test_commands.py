from __future__ import annotations

import pytest
from typer.testing import CliRunner

from feedback_api.cli.commands import app
from feedback_api.config import get_settings
from feedback_api.kit import migrations

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output and "db" in result.output
    serve_help = runner.invoke(app, ["serve", "--help"])
    assert "--host" in serve_help.output and "--workers" in serve_help.output


def test_db_current_and_upgrade(cli_env: None) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0, result.output
    assert f"current: {migrations.head_revision()}" in result.output
    assert "up to date" in result.output


def test_bad_configuration_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_DATABASE_URL", "mysql://nope")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["db", "current"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "only PostgreSQL is supported" in result.output
