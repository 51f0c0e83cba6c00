from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from feedback_api.kit.db import ReadSessionDep
from feedback_api.kit.openapi import READ, responses
from feedback_api.reports.render import MEDIA_TYPES, ReportFormat, render
from feedback_api.reports.schemas import WeeklyReport
from feedback_api.reports.service import ReportService, report_service

router = APIRouter(prefix="/v1/reports", tags=["reports"])


async def get_service(session: ReadSessionDep) -> ReportService:
    return report_service(session)


ServiceDep = Annotated[ReportService, Depends(get_service)]

# The HTML report is whole in itself (inline CSS and SVG): it may load and run nothing, so
# a name that slipped through escaping could still do nothing.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@router.get(
    "/weekly",
    response_model=WeeklyReport,
    summary="Weekly model-performance report (JSON, Markdown or self-contained HTML)",
    responses={
        200: {
            "content": {"text/markdown": {}, "text/html": {}},
            "description": "The report in the format asked for",
        },
        **responses(*READ),
    },
)
async def weekly(
    service: ServiceDep,
    week: Annotated[
        str | None,
        Query(max_length=10, description="ISO week like 2026-W47 (default: the current week)"),
    ] = None,
    format: Annotated[ReportFormat, Query(description="json, md or html")] = ReportFormat.json,
) -> Response:
    """One ISO week of model performance against the week before: accuracy per model with
    intervals, the biggest changes, reasons and open alerts, in JSON, Markdown or HTML."""
    report = await service.weekly(await service.resolve_week(week))
    headers = {"Content-Security-Policy": REPORT_CSP} if format is ReportFormat.html else None
    return Response(render(report, format), media_type=MEDIA_TYPES[format], headers=headers)
