from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from feedback_api.analytics.buckets import Slice
from feedback_api.analytics.refresher import refresh_now
from feedback_api.analytics.repository import AnalyticsRepository
from feedback_api.analytics.schemas import (
    AccuracyReport,
    Basis,
    Comparison,
    DailyMetrics,
    Dimension,
    FeedbackStats,
    GroupedDailyMetrics,
    ReasonMetrics,
    RefreshResult,
    TopQueries,
)
from feedback_api.analytics.service import AnalyticsService
from feedback_api.analytics.state import Clock, database_clock
from feedback_api.config import SettingsDep
from feedback_api.exceptions import InvalidInput
from feedback_api.kit.db import ReadSessionDep, SessionDep
from feedback_api.kit.fields import SearchText, Timestamp
from feedback_api.kit.openapi import KEYED, READ, responses
from feedback_api.kit.time import MAX_DAYS
from feedback_api.review.estimated.router import ServiceDep as EstimateServiceDep
from feedback_api.review.estimated.schemas import EstimatedComparison

feedback_analytics = APIRouter(prefix="/v1/feedback", tags=["analytics"])
metrics = APIRouter(prefix="/v1/metrics", tags=["analytics"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])


async def get_service(session: ReadSessionDep) -> AnalyticsService:
    return AnalyticsService(AnalyticsRepository(session))


ServiceDep = Annotated[AnalyticsService, Depends(get_service)]
Label = Annotated[SearchText | None, Query(max_length=200)]


async def get_clock() -> Clock:
    """The refresh's clock: the database's (a test may hand the route another)."""
    return database_clock


ClockDep = Annotated[Clock, Depends(get_clock)]


# async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop per request
# for three assignments (docs/decisions/004-read-sessions.md).
async def get_slice(model: Label = None, intent: Label = None, project: Label = None) -> Slice:
    return Slice(model, intent, project)


SliceDep = Annotated[Slice, Depends(get_slice)]


@feedback_analytics.get(
    "/accuracy",
    response_model=AccuracyReport,
    response_model_exclude_unset=True,
    summary="Accuracy per model x intent x project, with 95 % Wilson intervals",
    responses=responses(*READ),
)
async def accuracy(
    service: ServiceDep,
    where: SliceDep,
    group_by: Annotated[
        SearchText | None,
        Query(description="Comma list of model, intent, project (default: all three)."),
    ] = None,
    min_total: Annotated[
        int, Query(ge=0, le=2**31, description="Hide groups with fewer votes.")
    ] = 0,
) -> Response:
    """The share of up-votes of every group of votes, as of the last analytics refresh,
    grouped by the dimensions asked for and filtered by model, intent and project."""
    report = await service.accuracy(where, group_by, min_total)
    # Serialized here, not re-validated by FastAPI item by item: the hottest analytics read.
    # exclude_unset leaves out the dimensions that were not grouped by.
    return Response(report.model_dump_json(exclude_unset=True), media_type="application/json")


@feedback_analytics.get(
    "/stats",
    response_model=FeedbackStats,
    summary="Feedback statistics",
    responses=responses(*READ),
)
async def stats(
    service: ServiceDep,
    where: SliceDep,
    days: Annotated[
        int | None,
        Query(ge=1, le=MAX_DAYS, description="Last N days (7, 30, 90 are precomputed)."),
    ] = None,
    since: Annotated[Timestamp | None, Query(description="ISO 8601, inclusive.")] = None,
    until: Annotated[Timestamp | None, Query(description="ISO 8601, exclusive.")] = None,
) -> FeedbackStats:
    """Votes, up-votes, accuracy, stars and comments over a window (the last N days, or
    since/until), for a model, intent or project or for all."""
    return await service.stats(where, days, since, until)


@metrics.get(
    "/daily",
    response_model=DailyMetrics | GroupedDailyMetrics,
    response_model_exclude_unset=True,
    summary="Daily metrics (UTC days), overall or a series per model, intent or project",
    responses=responses(*READ),
)
async def daily(
    service: ServiceDep,
    where: SliceDep,
    since: Annotated[date | None, Query(description="First day (default: 29 days ago).")] = None,
    until: Annotated[
        date | None, Query(description="Last day, inclusive (default: today).")
    ] = None,
    group_by: Annotated[
        Dimension | None,
        Query(description="model, intent or project: a series per value (`series`)."),
    ] = None,
) -> DailyMetrics | GroupedDailyMetrics:
    """Questions, votes and accuracy of each UTC day from since to until (inclusive), as
    of the last analytics refresh: for charts and spreadsheets."""
    if group_by is None:
        return await service.daily(where, since, until)
    return await service.daily_by(where, since, until, group_by)


@metrics.get(
    "/reasons",
    response_model=ReasonMetrics,
    summary="Why votes were cast: up- and down-votes per reason and model",
    responses=responses(*READ),
)
async def reasons(
    service: ServiceDep,
    where: SliceDep,
    days: Annotated[
        int | None, Query(ge=1, le=MAX_DAYS, description="The last N UTC days, today included.")
    ] = None,
    since: Annotated[
        date | None, Query(description="First UTC day (default: 29 days ago).")
    ] = None,
    until: Annotated[
        date | None, Query(description="Last UTC day, inclusive (default: today).")
    ] = None,
) -> ReasonMetrics:
    """How often each reason was given with an up- or a down-vote, per model, over a
    window of UTC days of the answers voted on (as /v1/metrics/daily counts votes)."""
    return await service.reasons(where, days, since, until)


@metrics.get(
    "/top-queries",
    response_model=TopQueries,
    summary="The most frequent questions",
    responses=responses(*READ),
)
async def top_queries(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
) -> TopQueries:
    """The questions asked most often over the last N days, with how often each was asked,
    as of the last analytics refresh."""
    return await service.top_queries(days, limit)


@metrics.get(
    "/compare",
    response_model=Comparison | EstimatedComparison,
    responses=responses(
        *READ,
        _404="A model has no votes in the slice (basis=votes), or no reviewed answer of a "
        "random sample in the window and slice (basis=estimated)",
    ),
    summary="Two models' accuracy and whether the difference is significant",
)
async def compare(
    service: ServiceDep,
    estimates: EstimateServiceDep,
    model_a: Annotated[SearchText, Query(min_length=1, max_length=200)],
    model_b: Annotated[SearchText, Query(min_length=1, max_length=200)],
    intent: Label = None,
    project: Label = None,
    basis: Annotated[
        Basis,
        Query(
            description="votes (default): the voted accuracies, as of the last refresh; "
            "estimated: the PPI++ estimates over a window (docs/review.md)."
        ),
    ] = Basis.votes,
    since: Annotated[
        Timestamp | None,
        Query(description="basis=estimated: answers logged from (default: until - 30 days)."),
    ] = None,
    until: Annotated[
        Timestamp | None,
        Query(description="basis=estimated: answers logged before (default: now)."),
    ] = None,
) -> Comparison | EstimatedComparison:
    """The accuracy of two models on the same slice, their difference, and whether it is
    significant (95 % interval of the difference, z and p), so a switch of models rests on
    more than noise. With basis=estimated, the accuracy over every answer a random sample
    covered, not only the voted ones."""
    if basis is Basis.estimated:
        return await estimates.compare(
            model_a, model_b, intent=intent, project=project, since=since, until=until
        )
    if since is not None or until is not None:
        raise InvalidInput("since and until apply to basis=estimated only")
    return await service.compare(model_a, model_b, intent, project)


@admin.post(
    "/refresh",
    response_model=RefreshResult,
    summary="Refresh the analytics now",
    responses=responses(*KEYED, 422, 503),
)
async def refresh(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    full: Annotated[
        bool, Query(description="Rebuild every rollup from the tables (maintenance).")
    ] = False,
) -> RefreshResult:
    """Applies what changed since the last refresh to the rollups and the accuracy view
    now, instead of at the background job's next tick; `full` rebuilds them all."""
    return await refresh_now(session, settings, full=full, clock=clock)
