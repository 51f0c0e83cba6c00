from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from feedback_api.db import SessionDep
from feedback_api.deps import IngestRulesDep
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.schemas import InteractionCreate, InteractionCreated, InteractionOut
from feedback_api.interactions.service import InteractionService
from feedback_api.security import Scope, require

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])


# async: FastAPI runs plain `def` dependencies in a thread pool, a costly hop per request.
async def get_service(session: SessionDep, rules: IngestRulesDep) -> InteractionService:
    return InteractionService(InteractionRepository(session), rules)


ServiceDep = Annotated[InteractionService, Depends(get_service)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InteractionCreated,
    responses={200: {"model": InteractionCreated, "description": "request_id already logged"}},
    summary="Log one exchange of the chat product",
    dependencies=[require(Scope.INGEST)],
)
async def log_interaction(
    payload: InteractionCreate, service: ServiceDep, response: Response
) -> InteractionCreated:
    result = await service.log(payload)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result


@router.get(
    "/{interaction_id}",
    response_model=InteractionOut,
    summary="One logged exchange",
    dependencies=[require(Scope.READ)],
)
async def get_interaction(interaction_id: uuid.UUID, service: ServiceDep) -> InteractionOut:
    return await service.get(interaction_id)
