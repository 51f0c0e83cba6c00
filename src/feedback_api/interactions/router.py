from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import Response

from feedback_api.auth.keys import Principal, Scope, require
from feedback_api.dependencies import IngestRulesDep
from feedback_api.idempotency.http import IdempotencyKeyHeader, run_once
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.schemas import (
    FeedbackTokenOut,
    InteractionCreate,
    InteractionCreated,
    InteractionOut,
)
from feedback_api.interactions.service import InteractionService
from feedback_api.kit.db import SessionDep

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
)
async def log_interaction(
    payload: InteractionCreate,
    service: ServiceDep,
    session: SessionDep,
    principal: Annotated[Principal, require(Scope.INGEST)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    async def log() -> tuple[int, InteractionCreated]:
        result = await service.log(payload)
        return (status.HTTP_201_CREATED if result.created else status.HTTP_200_OK), result

    request = "POST /v1/interactions " + payload.model_dump_json()
    return await run_once(session, principal.name, idempotency_key, request, log)


@router.get(
    "/{interaction_id}",
    response_model=InteractionOut,
    summary="One logged exchange",
    dependencies=[require(Scope.READ)],
)
async def get_interaction(interaction_id: uuid.UUID, service: ServiceDep) -> InteractionOut:
    return await service.get(interaction_id)


@router.post(
    "/{request_id}/token",
    response_model=FeedbackTokenOut,
    responses={
        404: {"description": "request_id of no logged interaction"},
        409: {"description": "The server has no FEEDBACK_SECRET_KEY: it issues no tokens"},
    },
    summary="A feedback token for a logged interaction (e.g. one sent as an OpenTelemetry span)",
    dependencies=[require(Scope.INGEST)],
)
async def issue_feedback_token(
    request_id: Annotated[str, Path(min_length=1, max_length=128)], service: ServiceDep
) -> FeedbackTokenOut:
    """Its votes count as the vote of the user the interaction was logged with (or of its
    one anonymous voter), whatever user_id the vote names."""
    return await service.token(request_id)
