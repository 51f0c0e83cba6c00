"""The `feedback-api` command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from feedback_api.cli.export import export_app
from feedback_api.cli.review import review_app
from feedback_api.cli.runner import database_url, run_with_session, settings_or_exit
from feedback_api.config import get_settings
from feedback_api.exceptions import AppError

if TYPE_CHECKING:
    pass


app = typer.Typer(
    help="feedback-api: feedback on LLM answers, analytics and fine-tuning exports.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema (Alembic underneath).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (default: one per core).")
    ] = os.cpu_count() or 1,
    migrate: Annotated[
        bool, typer.Option(help="Upgrade the schema to the latest revision before serving.")
    ] = True,
    allow_open: Annotated[
        bool,
        typer.Option(help="Listen beyond this machine with no API keys (anyone may do anything)."),
    ] = False,
) -> None:
    """Run the HTTP API (on the embedded PostgreSQL unless FEEDBACK_DATABASE_URL is set)."""
    import uvicorn

    from feedback_api.kit import migrations

    settings = settings_or_exit()
    if not settings.api_keys:
        if not _is_loopback(host) and not (allow_open or settings.allow_open):
            typer.secho(
                f"refusing to listen on {host} in open mode: set FEEDBACK_API_KEYS "
                "(e.g. ingest:<key>,read:<key>,admin:<key>) or pass --allow-open",
                fg="red",
                err=True,
            )
            raise typer.Exit(2)
        typer.secho(
            "OPEN MODE: no FEEDBACK_API_KEYS set, every caller may read, write and erase.",
            fg="yellow",
            err=True,
        )
    url = database_url(settings)
    if migrate:
        migrations.upgrade(url)
    # Workers are separate processes: they find the (possibly embedded) server through this.
    os.environ["FEEDBACK_DATABASE_URL"] = url
    get_settings.cache_clear()
    shown = "localhost" if host in ("0.0.0.0", "::", "127.0.0.1") else host
    typer.echo(f"Dashboard: http://{shown}:{port}/dashboard", err=True)
    typer.echo(f"API docs:  http://{shown}:{port}/docs", err=True)
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # One /metrics for all workers: prometheus-client's multiprocess mode.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="feedback-api-metrics-")
    uvicorn.run(
        "feedback_api.app:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,  # JSON logs, configured by the app in each worker
        access_log=False,  # the app logs requests without query strings
    )


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _known_revision(revision: str) -> Iterator[None]:
    """Alembic's refusal of a revision it does not know (or cannot reach) as a usage error."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise typer.BadParameter(f"{revision}: {exc}", param_hint="REVISION") from None


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (default: to the latest revision)."""
    from feedback_api.kit import migrations

    with _known_revision(revision):
        migrations.upgrade(database_url(settings_or_exit()), revision)
    typer.echo(f"schema upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Downgrade the schema to REVISION (`base` drops every table of feedback-api)."""
    from alembic import command

    from feedback_api.kit import migrations

    with _known_revision(revision):
        command.downgrade(migrations.alembic_config(database_url(settings_or_exit())), revision)
    typer.echo(f"schema downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision the database is at, and the latest one."""
    from feedback_api.kit import migrations
    from feedback_api.kit.db import create_engine

    settings = settings_or_exit()
    url = database_url(settings)

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


app.add_typer(export_app, name="export")
app.add_typer(review_app, name="review")


@db_app.command("refresh")
def db_refresh(
    full: Annotated[
        bool, typer.Option(help="Rebuild every rollup from the tables (maintenance).")
    ] = False,
) -> None:
    """Refresh the analytics now (what the background refresher does every interval)."""
    from feedback_api.analytics.refresher import refresh_now

    settings = settings_or_exit()
    result = run_with_session(settings, lambda s: refresh_now(s, settings, full=full))
    typer.echo(f"refreshed in {result.duration_ms:.0f} ms, as of {result.as_of.isoformat()}")


report_app = typer.Typer(help="Model-performance reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("weekly")
def report_weekly(
    week: Annotated[
        str | None, typer.Option(help="ISO week, e.g. 2026-W47 (default: the current week).")
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="md, html or json.")] = "md",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Per model: volume, accuracy with interval, change vs last week, worst intents, p50/p95."""
    import asyncio

    from feedback_api.kit.db import create_engine, create_sessionmaker
    from feedback_api.reports.job import write_atomically
    from feedback_api.reports.render import ReportFormat, render
    from feedback_api.reports.service import report_service

    try:
        fmt = ReportFormat(format)
    except ValueError:
        typer.secho(f"--format must be md, html or json, not {format!r}", fg="red", err=True)
        raise typer.Exit(2) from None
    settings = settings_or_exit()
    url = database_url(settings)

    async def _build() -> str:
        engine = create_engine(settings, url)
        try:
            async with create_sessionmaker(engine)() as session:
                service = report_service(session)
                return render(await service.weekly(await service.resolve_week(week)), fmt)
        finally:
            await engine.dispose()

    try:
        text = asyncio.run(_build())
    except AppError as exc:
        typer.secho(exc.message, fg="red", err=True)
        raise typer.Exit(2) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_atomically(output, text)
        typer.echo(f"report written to {output}", err=True)


@app.command()
def top(
    url: Annotated[str, typer.Option(help="Base URL of the API.")] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None, typer.Option(envvar="FEEDBACK_API_KEY", help="A key with read access.")
    ] = None,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes.")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
) -> None:
    """Live terminal dashboard: last 7 days, accuracy by model and intent, refresh status."""
    from feedback_api.cli.top import TopError, run

    try:
        run(url, api_key, interval, once)
    except TopError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


@app.command("demo-data")
def demo_data(
    interactions: Annotated[int, typer.Option(min=1, help="How many exchanges to create.")] = 5000,
    seed: Annotated[int, typer.Option(help="Same seed, same data (and no duplicates).")] = 42,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Spread over this many days.")] = 90,
    refresh: Annotated[
        bool, typer.Option(help="Refresh the analytics afterwards so they show at once.")
    ] = True,
) -> None:
    """Fill the database with realistic synthetic traffic (through the service layer)."""
    import asyncio
    import time

    from feedback_api.analytics.refresher import refresh_now
    from feedback_api.cli import demo
    from feedback_api.kit import migrations
    from feedback_api.kit.db import create_engine, create_sessionmaker

    settings = settings_or_exit()
    url = database_url(settings)
    migrations.upgrade(url)
    started = time.perf_counter()

    # A terminal shows one line rewritten in place; a log or a pipe gets a line each.
    in_place = sys.stderr.isatty()

    def progress(done: int) -> None:
        line = f"{done:,} / {interactions:,} interactions"
        typer.echo("\r" + line if in_place else line, nl=not in_place, err=True)

    async def _load() -> demo.DemoSummary:
        engine = create_engine(settings, url)
        try:
            sessionmaker = create_sessionmaker(engine)
            summary = await demo.load(
                sessionmaker, settings, interactions, seed=seed, days=days, progress=progress
            )
            if refresh:
                async with sessionmaker() as session, session.begin():
                    await refresh_now(session, settings, full=True)
            return summary
        finally:
            await engine.dispose()

    summary = asyncio.run(_load())
    elapsed = time.perf_counter() - started
    if in_place:
        typer.echo("", err=True)
    typer.echo(
        f"{summary.interactions:,} interactions and {summary.feedback:,} votes from "
        f"{summary.first:%Y-%m-%d} to {summary.last:%Y-%m-%d} in {elapsed:.1f} s"
        f" ({summary.interactions / elapsed:,.0f} interactions/s)"
    )
