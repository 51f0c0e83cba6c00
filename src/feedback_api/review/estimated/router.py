from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from feedback_api.kit.db import ReadSessionDep
from feedback_api.kit.fields import SearchText, Timestamp
from feedback_api.kit.openapi import READ, responses
from feedback_api.review.estimated.repository import EstimateRepository
from feedback_api.review.estimated.schemas import EstimatedAccuracy
from feedback_api.review.estimated.service import EstimateService

router = APIRouter(prefix="/v1/metrics", tags=["analytics"])


async def get_service(session: ReadSessionDep) -> EstimateService:
    return EstimateService(EstimateRepository(session))


ServiceDep = Annotated[EstimateService, Depends(get_service)]
Label = Annotated[SearchText | None, Query(max_length=200)]


@router.get(
    "/estimated-accuracy",
    response_model=EstimatedAccuracy,
    response_model_exclude_unset=True,
    summary="Accuracy over every answer: votes, the reviewed random sample, and PPI++",
    responses=responses(*READ, _404="The review queue does not exist"),
)
async def estimated_accuracy(
    service: ServiceDep,
    model: Label = None,
    intent: Label = None,
    project: Label = None,
    since: Annotated[
        Timestamp | None, Query(description="Answers logged from (default: until - 30 days).")
    ] = None,
    until: Annotated[
        Timestamp | None, Query(description="Answers logged before (default: now).")
    ] = None,
    group_by: Annotated[
        str, Query(max_length=40, description="model (default), intent or project.")
    ] = "model",
    queue: Annotated[
        uuid.UUID | None,
        Query(description="One queue's random sample (default: every queue's)."),
    ] = None,
) -> EstimatedAccuracy:
    """Per group, the share of correct answers among the answers a random-sample rule
    covered in the window, estimated by prediction-powered inference (PPI++): the
    reviewed sample's verdicts, corrected and sharpened by the users' thumbs on every
    answer; beside it, the voted accuracy and the reviewed sample's own mean."""
    return await service.estimated_accuracy(
        model=model,
        intent=intent,
        project=project,
        since=since,
        until=until,
        group_by=group_by,
        queue_id=queue,
    )
