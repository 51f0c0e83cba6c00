from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from feedback_api.alerts.repository import AlertRepository
from feedback_api.alerts.schemas import AlertList, StatusFilter
from feedback_api.alerts.service import AlertQueries
from feedback_api.config import SettingsDep
from feedback_api.kit.db import ReadSessionDep
from feedback_api.kit.openapi import READ, responses

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


async def get_queries(session: ReadSessionDep) -> AlertQueries:
    return AlertQueries(AlertRepository(session))


QueriesDep = Annotated[AlertQueries, Depends(get_queries)]


@router.get(
    "",
    response_model=AlertList,
    summary="Regression alerts, newest first",
    responses=responses(*READ),
)
async def list_alerts(
    queries: QueriesDep,
    settings: SettingsDep,
    status: Annotated[
        StatusFilter, Query(description="open (default), resolved or all.")
    ] = StatusFilter.open,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertList:
    """Models whose recent accuracy fell significantly below their baseline, open or
    resolved, with the windows the comparison used."""
    return AlertList(
        items=await queries.alerts(status, limit),
        recent_days=settings.alert_recent_days,
        baseline_days=settings.alert_baseline_days,
    )
