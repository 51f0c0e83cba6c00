from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Request as HTTPRequest
from fastapi.responses import FileResponse, StreamingResponse

from feedback_api.config import SettingsDep
from feedback_api.exports.offline import OfflineExport
from feedback_api.exports.repository import (
    ExportRepository,
    Selection,
    Shape,
    refresh_exported_statistics,
)
from feedback_api.exports.schemas import (
    ExportRunOut,
    ExportRuns,
    ExportSummary,
    FinetuningExportRequest,
)
from feedback_api.exports.service import (
    ExportService,
    default_file_name,
    resolve_window,
)
from feedback_api.kit.db import ReadSessionDep, SessionMakerDep, StreamSessionDep
from feedback_api.kit.disconnect import unless_disconnected
from feedback_api.kit.fields import Timestamp
from feedback_api.kit.openapi import READ, WRITE, responses
from feedback_api.kit.time import MAX_DAYS
from feedback_api.privacy.redaction.dependencies import (
    PrincipalDep,
    QueryRedactorDep,
    choose_redactor,
)

finetuning = APIRouter(prefix="/v1/feedback/export", tags=["exports"])
exports = APIRouter(prefix="/v1/exports", tags=["exports"])

JSONL = "application/x-ndjson"
REDACT_403 = (
    "The key's scope does not allow this operation, or redact is false without the admin scope"
)


@dataclass(frozen=True)
class _Asked:
    """A fine-tuning export's body, read once: what to export, how, and the redactor (None:
    not redacted)."""

    selection: Selection
    shape: Shape
    # Any: the type lives with Presidio, which is loaded only when a redactor is first built.
    redactor: Any


async def _asked(  # async: no worker thread (see analytics.router.get_slice)
    body: FinetuningExportRequest,
    settings: SettingsDep,
    principal: PrincipalDep,
    sessionmaker: SessionMakerDep,
) -> _Asked:
    """A valid fine-tuning export's request, once the statistics of the tables it reads are
    up to date (decision 029): only then, as a refused request would cost the primary a
    connection for nothing."""
    since, until = resolve_window(body.days, body.start_date, body.end_date)
    shape = Shape(
        format=body.format,
        positive_weight=body.positive_weight or settings.export_positive_weight,
        negative_weight=(
            body.negative_weight
            if body.negative_weight is not None
            else settings.export_negative_weight
        ),
        include_negative=body.include_negative,
        use_corrections=body.use_corrections,
        label_source=body.label_source,
    )
    selection = Selection(since, until, body.model, body.intent, body.project)
    redactor = await choose_redactor(body.redact, settings, principal, name='"redact": false')
    await refresh_exported_statistics(sessionmaker)
    return _Asked(selection, shape, redactor)


# One dependency reads the body: two would each report its errors, every one twice.
Asked = Annotated[_Asked, Depends(_asked)]


@dataclass(frozen=True)
class _Offline:
    format: Literal["csv", "jsonl", "parquet"]
    start: datetime
    end: datetime


async def _offline(
    sessionmaker: SessionMakerDep,
    format: Literal["csv", "jsonl", "parquet"] = "csv",
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None,
    since: Annotated[Timestamp | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[Timestamp | None, Query(description="ISO 8601, exclusive")] = None,
) -> _Offline:
    """An offline export's file and window, once valid and its tables' statistics fresh."""
    start, end = resolve_window(days, since, until, names=("days", "since", "until"))
    await refresh_exported_statistics(sessionmaker)
    return _Offline(format, start, end)


@finetuning.post(
    "/finetuning",
    response_class=StreamingResponse,
    responses={
        200: {"content": {JSONL: {}}, "description": "The dataset, one example a line"},
        **responses(*WRITE, _403=REDACT_403),
    },
    summary="Stream a fine-tuning dataset (weighted, openai, kto, dpo, openai-dpo)",
)
async def export_finetuning(
    asked: Asked, session: StreamSessionDep, http: HTTPRequest
) -> StreamingResponse:
    """The votes of a window turned into training examples in the format asked for, as
    JSON Lines streamed straight from the database, personal data replaced by placeholders
    unless `redact` is false; the window is in the X-Export-Since and X-Export-Until
    headers, whether it was redacted in X-Export-Redacted."""
    selection, shape, redactor = asked.selection, asked.shape, asked.redactor
    name = default_file_name(selection.since, shape.format)
    service = ExportService(ExportRepository(session), redactor)
    # Its first lines are read before the answer starts (an error is then a status): a
    # client that leaves meanwhile stops the query.
    chunks = await unless_disconnected(http.receive, service.stream_jsonl(selection, shape))
    return StreamingResponse(
        chunks,
        media_type=JSONL,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Export-Since": selection.since.isoformat(),
            "X-Export-Until": selection.until.isoformat(),
            "X-Export-Redacted": "true" if redactor else "false",
        },
    )


@finetuning.post(
    "/finetuning/summary",
    response_model=ExportSummary,
    summary="What the same export would contain: counts per class and KTO weights",
    responses=responses(*WRITE, _403=REDACT_403),
)
async def export_summary(asked: Asked, session: StreamSessionDep) -> ExportSummary:
    """Counts of the examples the same body would export (positives, negatives, pairs,
    corrections, what is left out), KTO's class weights, and what redaction would replace
    (its lines are read and redacted for it, not sent: as long as the export itself)."""
    selection, shape = asked.selection, asked.shape
    service = ExportService(ExportRepository(session), asked.redactor)
    summary = await service.summary(selection, shape)
    summary.redactions = await service.count_redactions(selection, shape)
    return summary


@exports.get(
    "/interactions",
    response_class=StreamingResponse,
    summary="Interactions with their latest vote, for pandas, polars, DuckDB or a spreadsheet",
    responses=responses(*READ, _403=REDACT_403),
)
async def export_interactions(
    session: StreamSessionDep,
    redactor: QueryRedactorDep,  # first: a refused key costs the primary nothing
    asked: Annotated[_Offline, Depends(_offline)],
) -> StreamingResponse:
    """Every exchange of a window with its context and its latest vote, one row each, in
    CSV, JSON Lines or Parquet, streamed from the database; personal data in its texts,
    tools, sources and metadata replaced by placeholders unless `redact` is false."""
    format, start, end = asked.format, asked.start, asked.end
    offline = OfflineExport(ExportRepository(session), redactor)
    name = f"interactions-{start:%Y%m%d}-{end:%Y%m%d}.{format}"
    return StreamingResponse(
        offline.stream(format, start, end),
        media_type=OfflineExport.media_types[format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Export-Redacted": "true" if redactor else "false",
        },
    )


@exports.get(
    "",
    response_model=ExportRuns,
    summary="Datasets written by the weekly job",
    responses=responses(*READ),
)
async def list_runs(
    session: ReadSessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> ExportRuns:
    """The weekly export job's runs, newest first: their window, format, counts and file,
    which GET /v1/exports/{run_id}/download serves."""
    runs = await ExportService(ExportRepository(session)).runs(limit)
    return ExportRuns(items=[ExportRunOut.model_validate(run) for run in runs])


@exports.get(
    "/{run_id}/download",
    response_class=FileResponse,
    responses=responses(*READ, _404="No such run, or its file is gone"),
    summary="Download the file of an export run",
)
async def download(
    run_id: uuid.UUID, session: ReadSessionDep, settings: SettingsDep
) -> FileResponse:
    """The JSON Lines file an export run wrote, under the name it was written with."""
    service = ExportService(ExportRepository(session))
    run, path = await service.run_file(run_id, settings.exports_path)
    return FileResponse(path, media_type=JSONL, filename=run.file_name)
