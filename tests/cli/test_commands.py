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


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["export", "finetuning", "--days", "1", "-o", "."], "is a directory"),
        (["export", "interactions", "--days", "1", "-o", "."], "is a directory"),
        (["report", "weekly", "-o", "."], "is a directory"),
        (["export", "finetuning", "--positive-weight", "nan"], "nan is not a number from 0"),
        (["export", "finetuning", "--positive-weight", "0"], "is not above 0"),
        (["export", "finetuning", "--negative-weight", "-5"], "is not a number from 0"),
        (["review", "queues", "--create", "x", "--instructions", "/nonexistent.md"], "not exist"),
        (["review", "queues", "--create", "x", "--instructions", "."], "is a directory"),
        (["db", "upgrade", "nosuchrev"], "Can't locate revision"),
        (["db", "downgrade", "nosuchrev"], "Can't locate revision"),
        (["serve", "--port", "99999"], "65535"),
    ],
)
def test_a_wrong_argument_is_a_usage_error_not_a_traceback(
    cli_env: None, args: list[str], said: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split()), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
