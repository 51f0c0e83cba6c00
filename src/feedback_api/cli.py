"""The `feedback-api` command."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from feedback_api.config import Settings, get_settings

app = typer.Typer(
    help="feedback-api: feedback on LLM answers, analytics and fine-tuning exports.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema (Alembic underneath).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        typer.secho(f"invalid configuration: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _database_url(settings: Settings) -> str:
    from feedback_api.db import resolve_database_url
    from feedback_api.embedded import EmbeddedPostgresError

    if settings.database_url is None:
        typer.echo(f"Embedded PostgreSQL: data in {settings.data_dir}", err=True)
    try:
        return resolve_database_url(settings)
    except EmbeddedPostgresError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (default: one per core).")
    ] = os.cpu_count() or 1,
    migrate: Annotated[
        bool, typer.Option(help="Upgrade the schema to the latest revision before serving.")
    ] = True,
) -> None:
    """Run the HTTP API (on the embedded PostgreSQL unless FEEDBACK_DATABASE_URL is set)."""
    import uvicorn

    from feedback_api import migrations

    settings = _settings()
    url = _database_url(settings)
    if migrate:
        migrations.upgrade(url)
    # Workers are separate processes: they find the (possibly embedded) server through this.
    os.environ["FEEDBACK_DATABASE_URL"] = url
    get_settings.cache_clear()
    shown = "localhost" if host in ("0.0.0.0", "::", "127.0.0.1") else host
    typer.echo(f"API docs: http://{shown}:{port}/docs", err=True)
    uvicorn.run(
        "feedback_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (default: to the latest revision)."""
    from feedback_api import migrations

    migrations.upgrade(_database_url(_settings()), revision)
    typer.echo(f"schema upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Downgrade the schema to REVISION (`base` drops every table of feedback-api)."""
    from alembic import command

    from feedback_api import migrations

    command.downgrade(migrations.alembic_config(_database_url(_settings())), revision)
    typer.echo(f"schema downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision the database is at, and the latest one."""
    import asyncio

    from feedback_api import migrations
    from feedback_api.db import create_engine

    settings = _settings()
    url = _database_url(settings)

    async def _current() -> str | None:
        engine = create_engine(settings, url)
        try:
            return await migrations.current_revision(engine)
        finally:
            await engine.dispose()

    current = asyncio.run(_current())
    head = migrations.head_revision()
    state = "up to date" if current == head else "run `feedback-api db upgrade`"
    typer.echo(f"current: {current or 'none (empty database)'}\nhead:    {head}\n{state}")
