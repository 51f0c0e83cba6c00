"""The `feedback-api` command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from feedback_api.cli.redaction import REDACT_HELP, cli_redactor
from feedback_api.cli.review import review_app
from feedback_api.config import Settings, get_settings
from feedback_api.exceptions import AppError
from feedback_api.kit.driver_errors import is_database_unavailable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

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
    from feedback_api.kit.db import resolve_database_url
    from feedback_api.kit.embedded import EmbeddedPostgresError

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
    allow_open: Annotated[
        bool,
        typer.Option(help="Listen beyond this machine with no API keys (anyone may do anything)."),
    ] = False,
) -> None:
    """Run the HTTP API (on the embedded PostgreSQL unless FEEDBACK_DATABASE_URL is set)."""
    import uvicorn

    from feedback_api.kit import migrations

    settings = _settings()
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
    url = _database_url(settings)
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


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (default: to the latest revision)."""
    from feedback_api.kit import migrations

    migrations.upgrade(_database_url(_settings()), revision)
    typer.echo(f"schema upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Downgrade the schema to REVISION (`base` drops every table of feedback-api)."""
    from alembic import command

    from feedback_api.kit import migrations

    command.downgrade(migrations.alembic_config(_database_url(_settings())), revision)
    typer.echo(f"schema downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision the database is at, and the latest one."""
    from feedback_api.kit import migrations
    from feedback_api.kit.db import create_engine

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


export_app = typer.Typer(help="Export datasets to local files.", no_args_is_help=True)
app.add_typer(export_app, name="export")
# Its commands import this module's helpers when they run, not when it loads.
app.add_typer(review_app, name="review")


def _run_with_session(
    settings: Settings,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    statement_timeout: float | None = None,
) -> T:
    """Run `work` in one committed transaction on the configured (or embedded) database,
    each statement limited to `statement_timeout` seconds (default: the request limit)."""
    from feedback_api.kit.db import create_engine, create_sessionmaker

    url = _database_url(settings)

    async def run() -> T:
        engine = create_engine(settings, url, statement_timeout=statement_timeout)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
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


@db_app.command("refresh")
def db_refresh(
    full: Annotated[
        bool, typer.Option(help="Rebuild every rollup from the tables (maintenance).")
    ] = False,
) -> None:
    """Refresh the analytics now (what the background refresher does every interval)."""
    from feedback_api.analytics.refresher import refresh_now

    settings = _settings()
    result = _run_with_session(settings, lambda s: refresh_now(s, settings, full=full))
    typer.echo(f"refreshed in {result.duration_ms:.0f} ms, as of {result.as_of.isoformat()}")


# Where a weight lives in these files, TRL's SFTTrainer does not look (README, formats).
SFT_TRAINER_WARNING = (
    "warning: TRL's SFTTrainer ignores a line's `weight` and an assistant message's "
    "`weight: 0`: fed this file, it trains on the voted-down answers at full strength. Give it "
    "a trainer that reads the weights, or use --format kto or dpo to train on the preference."
)


@export_app.command("finetuning")
def export_finetuning(
    days: Annotated[int | None, typer.Option(min=1, help="Votes of the last N days.")] = None,
    start_date: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First day (inclusive).")
    ] = None,
    end_date: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day (inclusive).")
    ] = None,
    week: Annotated[str | None, typer.Option(help="An ISO week instead, e.g. 2026-W47.")] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="weighted, openai, kto, dpo or openai-dpo.")
    ] = "weighted",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Default: feedback-<ISO week>-<format>.jsonl"),
    ] = None,
    model: Annotated[str | None, typer.Option()] = None,
    intent: Annotated[str | None, typer.Option()] = None,
    project: Annotated[str | None, typer.Option()] = None,
    positive_weight: Annotated[float | None, typer.Option(help="weighted: thumbs up.")] = None,
    negative_weight: Annotated[float | None, typer.Option(help="weighted: thumbs down.")] = None,
    include_negative: Annotated[
        bool, typer.Option(help="openai: keep thumbs-down answers with weight 0.")
    ] = False,
    test_fraction: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="Share of sessions (or users) held out.")
    ] = 0.0,
    split_by: Annotated[str, typer.Option(help="session or user.")] = "session",
    manifest: Annotated[bool, typer.Option(help="Write FILE.manifest.json beside it.")] = True,
    use_corrections: Annotated[
        bool, typer.Option(help="Turn users' corrections into examples of their own.")
    ] = True,
    label_source: Annotated[
        str,
        typer.Option(
            help="What labels an answer: votes, reviews (its review consensus) or both "
            "(the consensus where there is one, else the votes)."
        ),
    ] = "both",
    redact: Annotated[bool, typer.Option(help=REDACT_HELP)] = True,
) -> None:
    """Write a fine-tuning dataset from the feedback (default: the last 7 days, weighted),
    personal data and secrets replaced by placeholders (unless --no-redact)."""
    from rich.progress import Progress

    from feedback_api.exports.repository import (
        FORMATS,
        LABEL_SOURCES,
        ExportRepository,
        Selection,
        Shape,
    )
    from feedback_api.exports.service import (
        ExportService,
        default_file_name,
        iso_week_window,
        resolve_window,
    )

    if format not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    if split_by not in ("session", "user"):
        raise typer.BadParameter("use session or user", param_hint="--split-by")
    if label_source not in LABEL_SOURCES:
        raise typer.BadParameter(
            f"use one of {', '.join(LABEL_SOURCES)}", param_hint="--label-source"
        )
    settings = _settings()
    try:
        if week:
            since, until = iso_week_window(week)
        else:
            since, until = resolve_window(
                days,
                start_date.date() if start_date else None,
                end_date.date() if end_date else None,
            )
    except AppError as exc:
        raise typer.BadParameter(exc.message) from None
    shape = Shape(
        format=format,  # type: ignore[arg-type]
        positive_weight=positive_weight or settings.export_positive_weight,
        negative_weight=(
            negative_weight if negative_weight is not None else settings.export_negative_weight
        ),
        include_negative=include_negative,
        split_by=split_by,  # type: ignore[arg-type]
        use_corrections=use_corrections,
        label_source=label_source,  # type: ignore[arg-type]
    )
    if format == "weighted" or (format == "openai" and include_negative):
        typer.echo(SFT_TRAINER_WARNING, err=True)
    selection = Selection(since, until, model, intent, project)
    path = output or Path(default_file_name(since, format))

    async def work(session: AsyncSession) -> Any:
        service = ExportService(ExportRepository(session), await cli_redactor(settings, redact))
        summary = await service.summary(selection, shape)
        with Progress(transient=True) as bar:
            task = bar.add_task("exporting", total=summary.examples or None)
            return await service.write(
                selection, shape, path, test_fraction=test_fraction, manifest=manifest,
                progress=lambda n: bar.advance(task, n),
            )  # fmt: skip

    written = _run_with_session(
        settings, work, statement_timeout=settings.export_statement_timeout_seconds
    )
    s = written.summary
    typer.echo(f"window: {s.since.isoformat()} .. {s.until.isoformat()}")
    for f in written.files:
        typer.echo(f"wrote {f.path} ({f.examples} examples, {f.size} bytes, sha256 {f.sha256})")
    if written.manifest:
        typer.echo(f"manifest: {written.manifest}")
    typer.echo(
        f"examples: {sum(f.examples for f in written.files)}  positives: {s.positives}  "
        f"negatives: {s.negatives}  pairs: {s.pairs}  corrections: {s.corrections}  "
        f"ties left out: {s.skipped_ties}  empty left out: {s.skipped_empty}"
    )
    typer.echo(
        f"labels ({s.label_source}): from votes: {s.from_votes}  from reviews: "
        f"{s.from_reviews}  disputed left out: {s.skipped_disagreement}"
    )
    if s.desirable_weight is not None:
        typer.echo(
            f"KTO: desirable_weight={s.desirable_weight} undesirable_weight={s.undesirable_weight}"
        )
    if s.redactions is not None:
        kinds = ", ".join(f"{k} {n}" for k, n in s.redactions.by_type.items()) or "none"
        typer.echo(f"redacted: {s.redactions.examples} examples ({kinds})")


@export_app.command("interactions")
def export_interactions(
    format: Annotated[str, typer.Option("--format", "-f", help="csv, jsonl or parquet.")] = "csv",
    days: Annotated[int | None, typer.Option(min=1)] = None,
    since: Annotated[datetime | None, typer.Option(help="ISO 8601, inclusive.")] = None,
    until: Annotated[datetime | None, typer.Option(help="ISO 8601, exclusive.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    redact: Annotated[bool, typer.Option(help=REDACT_HELP)] = True,
) -> None:
    """Interactions with their latest vote, for offline analysis, personal data and secrets
    replaced by placeholders (unless --no-redact)."""
    from feedback_api.exports.repository import ExportRepository
    from feedback_api.exports.service import OfflineExport, StagedFiles, resolve_window

    if format not in OfflineExport.media_types:
        raise typer.BadParameter("use csv, jsonl or parquet", param_hint="--format")
    settings = _settings()
    try:
        start, end = resolve_window(days, since, until, names=("--days", "--since", "--until"))
    except AppError as exc:
        raise typer.BadParameter(exc.message) from None
    path = output or Path(f"interactions-{start:%Y%m%d}-{end:%Y%m%d}.{format}")

    async def work(session: AsyncSession) -> int:
        size = 0
        with StagedFiles([path]) as (handle,):  # renamed into place when whole
            offline = OfflineExport(ExportRepository(session), await cli_redactor(settings, redact))
            async for chunk in offline.stream(format, start, end):
                handle.write(chunk)
                size += len(chunk)
        return size

    size = _run_with_session(
        settings, work, statement_timeout=settings.export_statement_timeout_seconds
    )
    typer.echo(f"wrote {path} ({size} bytes)")


report_app = typer.Typer(help="Model-performance reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("weekly")
def report_weekly(
    week: Annotated[
        str | None, typer.Option(help="ISO week, e.g. 2026-W47 (default: the current week).")
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="md, html or json.")] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Per model: volume, accuracy with interval, change vs last week, worst intents, p50/p95."""
    import asyncio

    from feedback_api.exceptions import AppError
    from feedback_api.kit.db import create_engine, create_sessionmaker
    from feedback_api.reports.job import write_atomically
    from feedback_api.reports.render import ReportFormat, render
    from feedback_api.reports.service import report_service

    try:
        fmt = ReportFormat(format)
    except ValueError:
        typer.secho(f"--format must be md, html or json, not {format!r}", fg="red", err=True)
        raise typer.Exit(2) from None
    settings = _settings()
    url = _database_url(settings)

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

    settings = _settings()
    url = _database_url(settings)
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
