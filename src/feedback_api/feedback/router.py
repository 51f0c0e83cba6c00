from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from feedback_api.auth.keys import Principal, Scope, require
from feedback_api.auth.tokens import authorize_vote
from feedback_api.dependencies import IngestRulesDep, VoteIntakeDep
from feedback_api.feedback.http import VOTE_OPENAPI, read_vote
from feedback_api.feedback.listing import FeedbackFilter
from feedback_api.feedback.schemas import (
    BatchResult,
    FeedbackBatch,
    FeedbackOut,
    FeedbackPage,
    FeedbackUpdate,
    batch_result_json,
    feedback_json,
)
from feedback_api.feedback.service import FeedbackService, feedback_service
from feedback_api.idempotency.http import refuse_on_batch, run_once
from feedback_api.kit.db import SessionDep
from feedback_api.kit.fields import (
    Identifier,
    RequestId,
    SearchQuery,
    SearchText,
    Timestamp,
    python_checks_needed,
)
from feedback_api.kit.openapi import READ, WRITE, responses


# async: FastAPI runs plain `def` dependencies in a thread pool, a costly hop per request.
async def get_service(session: SessionDep, rules: IngestRulesDep) -> FeedbackService:
    return feedback_service(session, rules)


ServiceDep = Annotated[FeedbackService, Depends(get_service)]

NOT_FOUND = responses(*READ, _404="No vote has this id")

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])

# POST /v1/feedback and its alias: the same operation, documented alike.
SUBMIT: dict[str, Any] = {
    "status_code": status.HTTP_201_CREATED,
    "response_model": FeedbackOut,
    "responses": {
        200: {"model": FeedbackOut, "description": "Replaced this user's earlier vote"},
        **responses(*WRITE, _404="request_id of no logged interaction"),
    },
    "description": "A user's thumb on one answer, with optional stars, reasons, comment and "
    "correction: by request_id of a logged exchange, or with the exchange itself. A user's "
    "second vote on an exchange replaces the first (200). Answered once committed; "
    "without an API key, a feedback token authorizes a vote on its own exchange.",
    "openapi_extra": VOTE_OPENAPI,
    "methods": ["POST"],
    "tags": ["feedback"],
}


def add_vote_routes(app_router: APIRouter) -> None:
    """The write routes (POST /v1/feedback, its batch, and the alias /feedback for chat
    frontends written against the first version of this API), added to the app's own router
    before every other route: they are the busiest, and route matching tries routes in
    order. Added as the app's routes, not in a router of their own: FastAPI matches a
    request to an included router's route twice (the router, then its route), 58,000
    instructions a vote (docs/benchmarks/ingest.md, "Votes at a million a week")."""
    app_router.add_api_route(
        "/v1/feedback",
        submit_feedback,
        summary="Submit a vote (thumb, optional stars and comment)",
        **SUBMIT,
    )
    app_router.add_api_route(
        "/v1/feedback/batch",
        submit_batch,
        methods=["POST"],
        tags=["feedback"],
        response_model=BatchResult,
        summary="Submit up to 1,000 votes in one round trip; one result per item",
        description="Each item is a body of POST /v1/feedback in either shape, validated and "
        "answered on its own (201, 200, 401, 403, 404 or 422 in `results`); the valid ones "
        "are committed together.",
        responses=responses(*WRITE),
    )
    app_router.add_api_route(
        "/feedback",
        submit_feedback,
        summary="Submit a vote: an alias of POST /v1/feedback, for clients that post to /feedback",
        **SUBMIT,
    )


async def submit_feedback(request: Request, intake: VoteIntakeDep) -> Response:
    """Answered once the vote is committed.

    Without an Idempotency-Key the vote is committed together with the votes of concurrent
    requests (group commit); with one, in a transaction of its own that also claims the key.
    """
    # The body and headers read here, once (feedback/http.py): declared as parameters they
    # cost more than the rest of the route; VOTE_OPENAPI documents them as if declared.
    vote = await read_vote(request)
    payload, principal = vote.payload, vote.principal
    rules = intake.rules
    grant = authorize_vote(
        rules.token_secret, principal, vote.token or payload.feedback_token, payload.request_id
    )
    if vote.idempotency_key is None:
        view, created = await intake.submit(payload, grant)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(feedback_json(view), status_code=code, media_type="application/json")
    caller = principal.name if principal else "token"
    fingerprint = "POST /v1/feedback " + payload.model_dump_json()
    async with intake.sessions.begin() as session:
        service = feedback_service(session, rules)

        async def vote_once() -> tuple[int, FeedbackOut]:
            return vote_answer(*await service.submit(payload, grant))

        return await run_once(session, caller, vote.idempotency_key, fingerprint, vote_once)


def vote_answer(feedback: FeedbackOut, created: bool) -> tuple[int, FeedbackOut]:
    return (status.HTTP_201_CREATED if created else status.HTTP_200_OK), feedback


async def submit_batch(
    request: Request,
    payload: FeedbackBatch,
    intake: VoteIntakeDep,
    principal: Annotated[Principal, require(Scope.INGEST)],
) -> Response:
    refuse_on_batch(request.headers)
    # The body as read already: whether its items' texts may be checked in pydantic's core.
    core_checked = not python_checks_needed(await request.body())
    outcomes = await intake.submit_batch(payload.items, principal, core_checked=core_checked)
    # Serialized once here, from the votes' answers as the statement returned them, instead
    # of validated into 1,000 models first or re-validated item by item by FastAPI.
    return Response(batch_result_json(outcomes), media_type="application/json")


@router.get(
    "",
    response_model=FeedbackPage,
    summary="List feedback, newest first",
    description="Votes with their exchange, a page at a time (pass `next_cursor` back as "
    "`cursor`), filtered by model, intent, project, user, thumb, reason, time, the chat "
    "backend's request_id, or words of the exchange or the vote (`q`).",
    dependencies=[require(Scope.READ)],
    responses=responses(400, *READ),
)
async def list_feedback(
    service: ServiceDep,
    model: SearchText | None = None,
    intent: SearchText | None = None,
    project: SearchText | None = None,
    user_id: Identifier | None = None,  # as stored: surrounding spaces stripped
    is_helpful: bool | None = None,
    reason: Annotated[SearchText | None, Query(description="Votes that carry this reason.")] = None,
    since: Annotated[Timestamp | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[Timestamp | None, Query(description="ISO 8601, exclusive")] = None,
    q: Annotated[
        SearchQuery | None,
        Query(
            description="Word search over the exchange (question and answer) and over the "
            "vote (comment and correction): each word must start a word of one of the two "
            "(any order and case; words of 1-2 characters match whole words). Up to 200 "
            "characters.",
        ),
    ] = None,
    request_id: Annotated[
        RequestId | None, Query(description="The votes on the exchange logged with this id.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[SearchText | None, Query()] = None,
) -> FeedbackPage:
    where = FeedbackFilter(
        model, intent, project, user_id, is_helpful, since, until, reason=reason, q=q,
        request_id=request_id,
    )  # fmt: skip
    return await service.list(where, limit, cursor)


@router.get(
    "/{feedback_id}",
    response_model=FeedbackOut,
    responses=NOT_FOUND,
    summary="One vote with its exchange",
    description="The vote by the id POST /v1/feedback returned, with the exchange it is on.",
    dependencies=[require(Scope.READ)],
)
async def get_feedback(feedback_id: uuid.UUID, service: ServiceDep) -> FeedbackOut:
    return await service.get(feedback_id)


@router.put(
    "/{feedback_id}",
    response_model=FeedbackOut,
    responses={**NOT_FOUND, **responses(413)},
    summary="Change a vote",
    description="Fields left out stay as they are; null clears stars, comment, reasons and "
    "correction. The thumb can change, not be cleared.",
    dependencies=[require(Scope.INGEST)],
)
async def update_feedback(
    feedback_id: uuid.UUID, payload: FeedbackUpdate, service: ServiceDep
) -> FeedbackOut:
    return await service.update(feedback_id, payload)


@router.delete(
    "/{feedback_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
    summary="Delete a vote",
    description="Removes the vote for good; the exchange it was on stays logged.",
    dependencies=[require(Scope.INGEST)],
)
async def delete_feedback(feedback_id: uuid.UUID, service: ServiceDep) -> Response:
    await service.delete(feedback_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
