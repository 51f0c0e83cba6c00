"""The application factory: lifespan (engine), middleware, routers, error handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Gauge
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as ASGIScope

from feedback_api import __version__
from feedback_api.analytics import router as analytics
from feedback_api.analytics.refresher import refresher
from feedback_api.analytics.repository import AnalyticsRepository
from feedback_api.auth.keys import Scope, require
from feedback_api.config import Settings, get_settings
from feedback_api.dashboard.router import router as dashboard_router
from feedback_api.exception_handlers import install_error_handlers
from feedback_api.exceptions import COMMON_RESPONSES
from feedback_api.exports import router as exports
from feedback_api.exports.job import weekly_export
from feedback_api.feedback.hot_path import IngestHotPath
from feedback_api.feedback.router import ingest as ingest_router
from feedback_api.feedback.router import router as feedback_router
from feedback_api.feedback.service import VoteIntake, vote_group
from feedback_api.idempotency.job import idempotency_cleanup
from feedback_api.interactions.router import router as interactions_router
from feedback_api.interactions.service import IngestRules
from feedback_api.kit.db import (
    create_engine,
    create_raw_pool,
    create_sessionmaker,
    resolve_database_url,
)
from feedback_api.kit.driver_errors import is_database_unavailable
from feedback_api.kit.jobs import PeriodicJob
from feedback_api.kit.migrations import current_revision, head_revision
from feedback_api.middlewares import BodySizeLimit, RequestContext
from feedback_api.observability import AccessLog, configure_logging, metrics_text
from feedback_api.privacy.router import router as privacy_router
from feedback_api.reports.job import build_report_job
from feedback_api.reports.router import router as reports_router

logger = logging.getLogger(__name__)


def build_jobs(app: FastAPI) -> list[PeriodicJob]:
    """The background jobs of this app (each leader-elected across replicas)."""
    settings: Settings = app.state.settings
    jobs = []
    if settings.refresh_enabled:
        jobs.append(refresher(app.state.sessionmaker, settings))
    if settings.export_schedule_enabled:
        jobs.append(weekly_export(app.state.sessionmaker, settings))
    if settings.report_schedule_enabled:
        jobs.append(build_report_job(app))
    jobs.append(idempotency_cleanup(app.state.sessionmaker, settings.idempotency_ttl_hours))
    return jobs


class FeedbackAPI(FastAPI):
    """FastAPI inside the layers every request passes: request id, access log, body limit.

    Starlette puts `add_middleware` layers inside its own error handling, and FastAPI adds two
    layers of its own around them. Wrapping the whole app instead puts the request id, the
    access log, the body limit and CORS on every answer, a 500 included, and lets the vote hot
    path (IngestHotPath) answer before FastAPI's machinery starts: that machinery cost about 4%
    of a vote's instructions (docs/benchmarks.md).
    """

    def __init__(self, *, layers: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._served = layers(super().__call__)

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # as Starlette sets it: the layers read the app's state
        await self._served(scope, receive, send)


def request_layers(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """The layers around the app, innermost first: the vote hot path, CORS, body limit, ids."""

    def wrap(app: ASGIApp) -> ASGIApp:
        app = IngestHotPath(app)
        if settings.cors_origins:
            app = CORSMiddleware(
                app,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=["*"],
            )
        app = BodySizeLimit(app, max_bytes=settings.max_body_bytes)
        # Outermost: every answer has a request id and an access log line.
        return RequestContext(app, access_log=AccessLog() if settings.access_log else None)

    return wrap


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Starting the embedded server blocks for a second or two: keep the loop free.
        url = await asyncio.to_thread(resolve_database_url, settings)
        engine = create_engine(settings, url)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        read_engine = (
            create_engine(settings, settings.read_database_url)
            if settings.read_database_url
            else engine
        )
        app.state.read_engine = read_engine
        app.state.read_sessionmaker = create_sessionmaker(read_engine)
        # Group commit: single votes have one writer per process, on a connection of its
        # own; groups form while it commits, and the other processes' writers overlap with
        # it. Measured with wrk on two cores, two writers per process gave 15% fewer votes a
        # second: smaller groups cost PostgreSQL more per vote. Batches are large groups by
        # themselves and have two writers, so that two run side by side (docs/benchmarks.md).
        raw_pool = app.state.raw_pool = await create_raw_pool(settings, url, max_size=3)
        timeout = settings.pool_timeout_seconds
        app.state.vote_intake = VoteIntake(
            vote_group(raw_pool, acquire_timeout=timeout, writers=1),
            vote_group(raw_pool, acquire_timeout=timeout, writers=2),
            app.state.ingest_rules,
        )
        app.state.schema_head = head_revision()
        if not settings.api_keys:
            logger.warning(
                "OPEN MODE: no FEEDBACK_API_KEYS configured; every caller may read, write and "
                "erase. Fine on a laptop, never on a network."
            )
        jobs = build_jobs(app)
        for job in jobs:
            job.start()
        try:
            yield
        finally:
            for job in jobs:
                await job.stop()
            await app.state.vote_intake.close()
            await raw_pool.close()
            await engine.dispose()
            if read_engine is not engine:
                await read_engine.dispose()

    app = FeedbackAPI(
        layers=request_layers(settings),
        title="feedback-api",
        version=__version__,
        summary="Feedback on LLM answers, turned into analytics and fine-tuning data.",
        lifespan=lifespan,
        responses=COMMON_RESPONSES,
    )
    app.state.settings = settings
    app.state.ingest_rules = IngestRules.from_settings(settings)
    install_error_handlers(app)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        dependencies=[] if settings.metrics_public else [require(Scope.READ)],
    )
    async def metrics() -> Response:
        lag = CollectorRegistry()
        gauge = Gauge(
            "feedback_api_analytics_lag_seconds",
            "Seconds since the analytics were last refreshed",
            registry=lag,
        )
        try:
            async with app.state.read_sessionmaker() as session:
                as_of = await AnalyticsRepository(session).refresh_state()
            if as_of is not None:
                gauge.set((datetime.now(UTC) - as_of.refreshed_at).total_seconds())
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
        body, content_type = metrics_text(lag)
        return Response(body, media_type=content_type)

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="The database answers and its schema is at the head revision",
        responses={503: {"description": "Not ready; the body says why"}},
    )
    async def readyz() -> Any:
        head = app.state.schema_head
        try:
            current = await asyncio.wait_for(current_revision(app.state.engine), timeout=5)
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
                    "detail": f"schema is at {current}, expected {head}: "
                    "run `feedback-api db upgrade`",
                },
                503,
            )
        return {"status": "ready", "schema": current}

    app.include_router(ingest_router)  # first: the hot path, matched before anything else
    app.include_router(interactions_router)
    # Before the feedback router: /v1/feedback/accuracy must not be taken for a feedback id.
    read, admin = [require(Scope.READ)], [require(Scope.ADMIN)]
    app.include_router(analytics.feedback_analytics, dependencies=read)
    app.include_router(analytics.metrics, dependencies=read)
    app.include_router(analytics.admin, dependencies=admin)
    app.include_router(exports.finetuning, dependencies=read)
    app.include_router(exports.exports, dependencies=read)
    app.include_router(feedback_router)
    app.include_router(privacy_router)
    app.include_router(reports_router, dependencies=read)
    app.include_router(dashboard_router)  # the page is public; its data needs the read scope
    return app


def serve_app() -> FastAPI:
    """The factory `feedback-api serve` gives uvicorn: JSON logs, then the app."""
    configure_logging()
    return create_app()
