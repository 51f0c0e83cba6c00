"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.alerts.repository import AlertRepository
from feedback_api.alerts.service import AlertQueries
from feedback_api.analytics.repository import AnalyticsRepository
from feedback_api.analytics.service import AnalyticsService
from feedback_api.kit.db import ReadSessionDep
from feedback_api.kit.driver_errors import is_database_unavailable
from feedback_api.kit.migrations import current_revision
from feedback_api.kit.openapi import KEYED, responses
from feedback_api.observability import metrics_text
from feedback_api.review.repository import QueueRepository
from feedback_api.review.service import QueueReader

router = APIRouter(tags=["health"])
# Public or behind the read scope, as FEEDBACK_METRICS_PUBLIC says: included by `create_app`.
metrics_router = APIRouter(tags=["health"])


async def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


async def schema_head_of(request: Request) -> str | None:
    head: str | None = request.state.schema_head
    return head


@router.get("/healthz", summary="The process is alive", responses=responses(422))
async def healthz() -> dict[str, str]:
    """Answers as long as the process serves requests, whatever the database does: for a
    liveness probe, which restarts a process that stopped answering."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers and its schema is at the head revision",
    responses=responses(
        422,
        _503="Not ready: the database does not answer, or its schema "
        "is not at this release's head revision; the body says which",
    ),
)
async def readyz(
    engine: Annotated[AsyncEngine, Depends(engine_of)],
    head: Annotated[str | None, Depends(schema_head_of)],
) -> Any:
    """For a readiness probe: traffic should come here only once the database answers
    and its schema is at the revision this release expects."""
    try:
        current = await asyncio.wait_for(current_revision(engine), timeout=5)
    except Exception as exc:
        if not (is_database_unavailable(exc) or isinstance(exc, TimeoutError)):
            raise
        return JSONResponse(
            {"status": "unavailable", "detail": "the database does not answer"}, 503
        )
    if current != head:
        return JSONResponse(
            {
                "status": "migrations_pending",
                "detail": f"schema is at {current}, expected {head}: run `feedback-api db upgrade`",
            },
            503,
        )
    return {"status": "ready", "schema": current}


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses=responses(*KEYED, 422),
)
async def metrics(session: ReadSessionDep) -> Response:
    """Request counts and latencies, pool use, analytics lag and open alerts, in the
    Prometheus text format; public, or behind the read scope (FEEDBACK_METRICS_PUBLIC)."""
    from_db = CollectorRegistry()
    gauge = Gauge(
        "feedback_api_analytics_lag_seconds",
        "Seconds since the analytics were last refreshed",
        registry=from_db,
    )
    # Read from the database at each scrape, like the lag: the same figure on every replica,
    # whichever of them ran the evaluation.
    open_alerts = Gauge("feedback_api_alerts_open", "Regression alerts open now", registry=from_db)
    pending = Gauge(
        "feedback_api_review_pending_items",
        "Items of an open review queue that nobody has labelled or holds",
        ["queue"],
        registry=from_db,
    )
    try:
        as_of = await AnalyticsService(AnalyticsRepository(session)).as_of()
        if as_of is not None:
            gauge.set((datetime.now(UTC) - as_of).total_seconds())
        open_alerts.set(await AlertQueries(AlertRepository(session)).open_count())
        for queue in await QueueReader(QueueRepository(session)).list():
            if not queue.closed:
                pending.labels(queue=queue.name).set(queue.progress.items["pending"])
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
    body, content_type = metrics_text(from_db)
    return Response(body, media_type=content_type)
