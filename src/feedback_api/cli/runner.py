"""What every command that touches the database does: read the settings (a clear error when
they are wrong), find the database (the embedded one when none is configured), and run its
work in one committed transaction with the errors a person can act on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import typer

from feedback_api.config import Settings, get_settings
from feedback_api.exceptions import AppError
from feedback_api.kit.driver_errors import is_database_unavailable

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        typer.secho(f"invalid configuration: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def database_url(settings: Settings) -> str:
    from feedback_api.kit.db import resolve_database_url
    from feedback_api.kit.embedded import EmbeddedPostgresError

    if settings.database_url is None:
        typer.echo(f"Embedded PostgreSQL: data in {settings.data_dir}", err=True)
    try:
        return resolve_database_url(settings)
    except EmbeddedPostgresError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None


def run_with_session(
    settings: Settings,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    statement_timeout: float | None = None,
    fresh_statistics: Sequence[Table] = (),
) -> T:
    """Run `work` in one committed transaction on the configured (or embedded) database,
    each statement limited to `statement_timeout` seconds (default: the request limit);
    first, in a transaction of its own, the statistics of `fresh_statistics` brought up to
    date where they plan for none of a table's rows (kit.statistics)."""
    from feedback_api.kit.db import create_engine, create_sessionmaker
    from feedback_api.kit.statistics import refresh_stale_apart

    url = database_url(settings)

    async def run() -> T:
        engine = create_engine(settings, url, statement_timeout=statement_timeout)
        sessionmaker = create_sessionmaker(engine)
        try:
            if fresh_statistics:
                await refresh_stale_apart(sessionmaker, fresh_statistics)
            async with sessionmaker() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AppError as exc:
        typer.secho(exc.message, fg="red", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        if is_database_unavailable(exc):
            typer.secho(f"the database is unavailable: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        raise
