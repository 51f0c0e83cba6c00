"""`feedback-api export`: the fine-tuning datasets and the offline files, written to local
files (whole or not at all)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from feedback_api.cli.redaction import REDACT_HELP, cli_redactor
from feedback_api.cli.runner import run_with_session, settings_or_exit
from feedback_api.exceptions import AppError
from feedback_api.exports import WEIGHT_MAX

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

export_app = typer.Typer(help="Export datasets to local files.", no_args_is_help=True)


def weight(value: float | None) -> float | None:
    """An export weight: a finite number from 0 to WEIGHT_MAX (click's ranges let NaN
    through, which would be written into a file as invalid JSON)."""
    if value is not None and not (math.isfinite(value) and 0 <= value <= WEIGHT_MAX):
        raise typer.BadParameter(f"{value} is not a number from 0 to {WEIGHT_MAX:g}")
    return value


def positive(value: float | None) -> float | None:
    """`weight`, above 0."""
    if weight(value) == 0:
        raise typer.BadParameter(f"{value} is not above 0")
    return value


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
        typer.Option(
            "--output", "-o", dir_okay=False, help="Default: feedback-<ISO week>-<format>.jsonl"
        ),
    ] = None,
    model: Annotated[str | None, typer.Option()] = None,
    intent: Annotated[str | None, typer.Option()] = None,
    project: Annotated[str | None, typer.Option()] = None,
    positive_weight: Annotated[
        float | None,
        typer.Option(callback=positive, help="weighted: thumbs up, above 0."),
    ] = None,
    negative_weight: Annotated[
        float | None,
        typer.Option(callback=weight, help="weighted: thumbs down, 0 or more."),
    ] = None,
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
        EXPORTED_FROM,
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
    settings = settings_or_exit()
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

    written = run_with_session(
        settings,
        work,
        statement_timeout=settings.export_statement_timeout_seconds,
        fresh_statistics=EXPORTED_FROM,
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
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False)] = None,
    redact: Annotated[bool, typer.Option(help=REDACT_HELP)] = True,
) -> None:
    """Interactions with their latest vote, for offline analysis, personal data and secrets
    replaced by placeholders (unless --no-redact)."""
    from feedback_api.exports.offline import OfflineExport
    from feedback_api.exports.repository import EXPORTED_FROM, ExportRepository
    from feedback_api.exports.service import StagedFiles, resolve_window

    if format not in OfflineExport.media_types:
        raise typer.BadParameter("use csv, jsonl or parquet", param_hint="--format")
    settings = settings_or_exit()
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

    size = run_with_session(
        settings,
        work,
        statement_timeout=settings.export_statement_timeout_seconds,
        fresh_statistics=EXPORTED_FROM,
    )
    typer.echo(f"wrote {path} ({size} bytes)")
