from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import Response

from feedback_api.auth.keys import Principal, Scope, require
from feedback_api.dependencies import IngestRulesDep
from feedback_api.exceptions import AppError
from feedback_api.idempotency.http import IdempotencyKeyHeader, refuse_on_batch, run_once
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.schemas import (
    FeedbackTokenOut,
    InteractionBatch,
    InteractionBatchResult,
    InteractionCreate,
    InteractionCreated,
    InteractionId,
    InteractionOut,
)
from feedback_api.interactions.service import InteractionService
from feedback_api.kit.db import SessionDep
from feedback_api.kit.fields import RequestId
from feedback_api.kit.openapi import KEYED, READ, WRITE, responses

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])


# async: FastAPI runs plain `def` dependencies in a thread pool, a costly hop per request.
async def get_service(session: SessionDep, rules: IngestRulesDep) -> InteractionService:
    return InteractionService(InteractionRepository(session), rules)


ServiceDep = Annotated[InteractionService, Depends(get_service)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InteractionCreated,
    responses={
        200: {
            "model": InteractionCreated,
            "description": "The same exchange is stored under this request_id already",
        },
        **responses(
            *WRITE,
            _409="This request_id names a different exchange; the answer names the fields "
            "that differ",
        ),
    },
    summary="Log one exchange of the chat product",
    description="Stores a question, its answer and what the chat backend knows of them, "
    "and returns the interaction's id and a feedback token for the browser's vote. The "
    "request_id is the exchange's idempotency key: sent again, the exchange is answered as "
    "stored (200); a different exchange under it is a 409 naming the fields that differ.",
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


@router.post(
    "/batch",
    response_model=InteractionBatchResult,
    summary="Log up to 1,000 exchanges in one round trip; one result per item",
    dependencies=[require(Scope.INGEST)],
    responses=responses(*WRITE),
)
async def log_batch(payload: InteractionBatch, service: ServiceDep, request: Request) -> Response:
    """Each item is a body of POST /v1/interactions, validated on its own; the valid ones are
    written by one statement and committed together. An item's request_id is its idempotency
    key: sent again (a retry after a timeout), the exchange is `200` already stored."""
    refuse_on_batch(request.headers)
    results: list[dict[str, Any]] = []
    for index, outcome in enumerate(await service.log_batch(payload.items)):
        if isinstance(outcome, AppError):
            results.append(
                {"index": index, "status": outcome.status_code, "error": outcome.message}
            )
        else:
            code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
            results.append({"index": index, "status": code, "interaction": outcome})
    result = InteractionBatchResult(
        created=sum(r["status"] == status.HTTP_201_CREATED for r in results),
        existing=sum(r["status"] == status.HTTP_200_OK for r in results),
        failed=sum(r["status"] >= status.HTTP_400_BAD_REQUEST for r in results),
        results=results,
    )
    return Response(result.model_dump_json(), media_type="application/json")


@router.get(
    "",
    response_model=InteractionOut,
    summary="Look a logged exchange up by the chat backend's request_id",
    description="The exchange logged under the request_id the chat backend gave it, "
    "with every context field; 404 when none was logged under it.",
    dependencies=[require(Scope.READ)],
    responses=responses(*READ, _404="No exchange was logged under this request_id"),
)
async def find_interaction(
    request_id: Annotated[
        RequestId, Query(description="The request_id the exchange was logged with.")
    ],
    service: ServiceDep,
) -> InteractionOut:
    return await service.find(request_id)


@router.get(
    "/{interaction_id}",
    response_model=InteractionOut,
    summary="One logged exchange, by the id this API gave it",
    description="The exchange with every context field, by the id POST /v1/interactions "
    "returned. A chat backend that knows only its own request_id uses "
    "GET /v1/interactions?request_id= instead.",
    dependencies=[require(Scope.READ)],
    responses=responses(*READ, _404="No interaction has this id"),
)
async def get_interaction(interaction_id: InteractionId, service: ServiceDep) -> InteractionOut:
    return await service.get(interaction_id)


@router.post(
    "/{request_id:path}/token",  # `:path`: a request_id may hold a slash (sent as %2F)
    response_model=FeedbackTokenOut,
    responses=responses(
        *KEYED,
        422,
        503,
        _404="request_id of no logged interaction",
        _409="The server has no FEEDBACK_SECRET_KEY: it issues no tokens",
    ),
    summary="A feedback token for a logged interaction (e.g. one sent as an OpenTelemetry span)",
    dependencies=[require(Scope.INGEST)],
)
async def issue_feedback_token(
    request_id: Annotated[RequestId, Path()], service: ServiceDep
) -> FeedbackTokenOut:
    """Its votes count as the vote of the user the interaction was logged with (or of its
    one anonymous voter), whatever user_id the vote names."""
    return await service.token(request_id)
