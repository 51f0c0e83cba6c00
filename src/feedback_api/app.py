"""The application factory: typed lifespan state, middlewares, routers, error handlers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from feedback_api import __version__
from feedback_api.alerts.job import webhook_delivery
from feedback_api.alerts.router import router as alerts_router
from feedback_api.analytics import router as analytics
from feedback_api.analytics.refresher import refresher
from feedback_api.apidocs.router import router as apidocs_router
from feedback_api.auth.keys import Scope, require
from feedback_api.browser.router import router as browser_router
from feedback_api.config import Settings, get_settings
from feedback_api.dashboard.router import router as dashboard_router
from feedback_api.exception_handlers import install_error_handlers
from feedback_api.exports import router as exports
from feedback_api.exports.job import weekly_export
from feedback_api.feedback import router as feedback
from feedback_api.feedback.service import VOTE_GROUP_GROWS_FOR, VoteIntake, vote_group
from feedback_api.health import router as health
from feedback_api.idempotency.job import idempotency_cleanup
from feedback_api.interactions.router import router as interactions_router
from feedback_api.interactions.service import IngestRules
from feedback_api.kit.db import (
    autocommit,
    create_engine,
    create_sessionmaker,
    resolve_database_url,
)
from feedback_api.kit.jobs import PeriodicJob
from feedback_api.kit.migrations import head_revision
from feedback_api.kit.query_parameters import UnknownQueryParameters
from feedback_api.middlewares import RequestContext, UnhandledErrors
from feedback_api.observability import AccessLog, configure_logging
from feedback_api.privacy.redaction.dependencies import load_redactor
from feedback_api.privacy.router import router as privacy_router
from feedback_api.reasons.router import router as reasons_router
from feedback_api.reports.job import build_report_job
from feedback_api.reports.router import router as reports_router
from feedback_api.review.estimated.router import router as estimated_router
from feedback_api.review.job import review_rules
from feedback_api.review.router import router as review_router
from feedback_api.traces.router import router as traces_router
from feedback_api.traces.service import RejectedSpansLog

logger = logging.getLogger(__name__)

NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
OPENAPI_URL = "/openapi.json"


class State(TypedDict):
    """What the lifespan opens, as each request sees it: `request.state`, read by the
    dependencies in `kit.db`, `config`, `dependencies` and `health.router`, and by the
    request middleware (the pools' gauge)."""

    settings: Settings
    ingest_rules: IngestRules
    engine: AsyncEngine
    read_engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]
    statement_engine: AsyncEngine
    statement_sessionmaker: async_sessionmaker[AsyncSession]
    stream_sessionmaker: async_sessionmaker[AsyncSession]
    vote_intake: VoteIntake
    schema_head: str | None
    rejected_spans: RejectedSpansLog


def build_jobs(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> list[PeriodicJob]:
    """The background jobs of this app (each leader-elected across replicas)."""
    jobs = []
    if settings.refresh_enabled:
        jobs.append(refresher(sessionmaker, settings))
        # Review queues' sample rules and triggers, at the same interval.
        jobs.append(review_rules(sessionmaker, settings))
    if settings.export_schedule_enabled:
        jobs.append(weekly_export(sessionmaker, settings))
    if settings.report_schedule_enabled:
        jobs.append(build_report_job(sessionmaker, settings))
    jobs.append(idempotency_cleanup(sessionmaker, settings.idempotency_ttl_hours))
    if settings.alert_webhook_url is not None:
        jobs.append(webhook_delivery(sessionmaker, settings))
    return jobs


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        # Whatever starts is stopped again, in reverse order, also when a later step fails.
        async with AsyncExitStack() as opened:
            # Starting the embedded server blocks for a second or two: keep the loop free.
            # Exports redact by default: the redactor (Presidio's engines, seconds and about
            # 50 MB) is built meanwhile, so no user's first export after a start waits for it.
            url, _ = await asyncio.gather(
                asyncio.to_thread(resolve_database_url, settings),
                load_redactor(settings.redaction),
            )
            engine = create_engine(settings, url)
            opened.push_async_callback(engine.dispose)
            read_engine = create_engine(settings, settings.read_database_url or url, pre_ping=False)
            opened.push_async_callback(read_engine.dispose)
            # Writes of one statement each (review claims and submits): autocommit, no
            # pre-ping (kit.db); a pool of its own, as the pre-ping is the pool's.
            statement_engine = create_engine(settings, url, pre_ping=False)
            opened.push_async_callback(statement_engine.dispose)
            # Streamed exports and background jobs: limits of their own (config.py).
            stream_engine = create_engine(
                settings,
                settings.read_database_url or url,
                pre_ping=False,
                statement_timeout=settings.export_statement_timeout_seconds,
            )
            opened.push_async_callback(stream_engine.dispose)
            job_engine = create_engine(
                settings, url, statement_timeout=settings.job_statement_timeout_seconds
            )
            opened.push_async_callback(job_engine.dispose)
            rules = IngestRules.from_settings(settings)
            # Group commit: single votes have one writer per process, batches two (measured
            # both ways: docs/benchmarks/ingest.md). Larger groups cost PostgreSQL less per vote;
            # batches are large groups by themselves and gain from running side by side.
            sessionmaker = create_sessionmaker(engine)
            intake = VoteIntake(
                # Single votes: the writer lets the loop turn while more votes come in
                # (up to 4 turns), then under load waits 1 ms or so for as many votes as
                # its previous group held: larger groups (decisions/030).
                vote_group(
                    engine,
                    writers=1,
                    default_reasons=rules.reasons,
                    gather_turns=4,
                    grow_for=VOTE_GROUP_GROWS_FOR,
                ),
                vote_group(engine, writers=2, default_reasons=rules.reasons),
                rules,
                sessionmaker,
            )
            opened.push_async_callback(intake.close)
            state = State(
                settings=settings,
                ingest_rules=rules,
                engine=engine,
                read_engine=read_engine,
                sessionmaker=sessionmaker,
                read_sessionmaker=create_sessionmaker(autocommit(read_engine)),
                statement_engine=statement_engine,
                statement_sessionmaker=create_sessionmaker(autocommit(statement_engine)),
                stream_sessionmaker=create_sessionmaker(stream_engine),
                vote_intake=intake,
                schema_head=head_revision(),
                rejected_spans=RejectedSpansLog(),
            )
            if not settings.api_keys:
                logger.warning(
                    "OPEN MODE: no FEEDBACK_API_KEYS configured; every caller may read, write "
                    "and erase. Fine on a laptop, never on a network."
                )
            for job in build_jobs(settings, create_sessionmaker(job_engine)):
                job.start()
                opened.push_async_callback(job.stop)
            yield state

    app = FastAPI(
        title="feedback-api",
        version=__version__,
        summary="Feedback on LLM answers, turned into analytics and fine-tuning data.",
        lifespan=lifespan,
        # Served by apidocs_router from an installed package: no CDN, so offline too.
        docs_url=None,
        redoc_url=None,
        # Served from after the vote routes (below): not the first route every vote is
        # matched against.
        openapi_url=None,
        # Off unless asked for: otherwise FastAPI looks up the global OpenTelemetry
        # providers on every request (environment variables included), configured or not.
        telemetry=None if settings.fastapi_telemetry else NO_TELEMETRY,
    )
    install_error_handlers(app)
    # Each `add_middleware` wraps the ones added before it: the answer to unhandled errors
    # innermost, then the check of query parameter names, CORS, and the request id, access
    # log and body limit outermost.
    app.add_middleware(UnhandledErrors)
    app.add_middleware(UnknownQueryParameters, api=app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["*"],
        )
    app.add_middleware(
        RequestContext,
        access_log=AccessLog() if settings.access_log else None,
        max_body_bytes=settings.max_body_bytes,
    )

    read, admin = [require(Scope.READ)], [require(Scope.ADMIN)]
    # Route matching tries routes in order: the vote routes, the busiest, come first.
    feedback.add_vote_routes(app.router)
    # FastAPI's own /openapi.json route, added by its `setup` once the URL is set: after
    # the vote routes, which route matching then tries first (docs/benchmarks/ingest.md).
    app.openapi_url = OPENAPI_URL
    app.setup()
    app.include_router(health.router)
    app.include_router(health.metrics_router, dependencies=[] if settings.metrics_public else read)
    app.include_router(interactions_router)
    app.include_router(traces_router)
    # Before the feedback router: /v1/feedback/accuracy must not be taken for a feedback id.
    app.include_router(analytics.feedback_analytics, dependencies=read)
    app.include_router(analytics.metrics, dependencies=read)
    app.include_router(estimated_router, dependencies=read)
    app.include_router(analytics.admin, dependencies=admin)
    app.include_router(exports.finetuning, dependencies=read)
    app.include_router(exports.exports, dependencies=read)
    app.include_router(feedback.router)
    app.include_router(privacy_router)
    app.include_router(reasons_router)
    app.include_router(reports_router, dependencies=read)
    app.include_router(alerts_router, dependencies=read)
    app.include_router(review_router)  # each route says which scope it needs
    app.include_router(dashboard_router)  # the page is public; its data needs the read scope
    app.include_router(browser_router)  # feedback.js, public: votes need a token or a key
    app.include_router(apidocs_router)  # /docs and /redoc, public like /openapi.json
    return app


def serve_app() -> FastAPI:
    """The factory `feedback-api serve` gives uvicorn: JSON logs, then the app."""
    configure_logging()
    settings = get_settings()
    app = create_app(settings)
    # The redactor now (the lifespan then finds it built): it lasts as long as the process,
    # so it belongs with what the collector is told to leave alone below. Imported here:
    # Presidio takes seconds to import, which other users of this module need not wait.
    from feedback_api.privacy.redaction.redactor import redactor_for

    redactor_for(settings.redaction)
    # What start-up built (modules, classes, the app, its schemas) lives as long as the
    # process: out of the collector's sight, so a full collection does not walk it again
    # and again; and young objects collected every 10,000 allocations instead of 700, as
    # a request allocates hundreds (collections took 4 % of a vote's instructions).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    return app
