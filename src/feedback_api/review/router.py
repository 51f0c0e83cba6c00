"""The review API: queues, adding answers, rules, claims and labels, items, agreement."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from feedback_api.auth.keys import Scope, require
from feedback_api.auth.reviewers import ReviewerDep
from feedback_api.dependencies import IngestRulesDep
from feedback_api.exceptions import ErrorBody
from feedback_api.kit.db import ReadSessionDep, SessionDep
from feedback_api.kit.fields import SearchText
from feedback_api.review.claims import ClaimRepository
from feedback_api.review.repository import QueueRepository, QueueWriter
from feedback_api.review.rule_service import RuleService
from feedback_api.review.rules import RuleReader, RuleRepository
from feedback_api.review.schemas import (
    Agreement,
    Claim,
    ItemDetail,
    ItemPage,
    ItemsAdd,
    ItemsAdded,
    LabelHistory,
    LabelIn,
    LabelOut,
    Lease,
    LeaseIn,
    QueueCreate,
    QueueList,
    QueueOut,
    QueueUpdate,
    RuleCreate,
    RuleList,
    RuleOut,
    Status,
    SubmitIn,
)
from feedback_api.review.service import QueueReader, QueueService

router = APIRouter(prefix="/v1/review", tags=["review"])

READ = [require(Scope.READ)]
READ_OR_REVIEW = [require(Scope.READ, Scope.REVIEW)]
ADMIN = [require(Scope.ADMIN)]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The lease is not current, or it was used"}
}


async def get_reader(session: ReadSessionDep) -> QueueReader:
    return QueueReader(QueueRepository(session))


async def get_service(session: SessionDep, rules: IngestRulesDep) -> QueueService:
    return QueueService(QueueWriter(session), ClaimRepository(session), rules.reasons)


async def get_rules(session: SessionDep) -> RuleService:
    return RuleService(RuleRepository(session), QueueWriter(session))


async def get_rule_reader(session: ReadSessionDep) -> RuleService:
    return RuleService(RuleReader(session), QueueRepository(session))


ReaderDep = Annotated[QueueReader, Depends(get_reader)]
RulesDep = Annotated[RuleService, Depends(get_rules)]
RuleReaderDep = Annotated[RuleService, Depends(get_rule_reader)]
ServiceDep = Annotated[QueueService, Depends(get_service)]


@router.post(
    "/queues",
    status_code=status.HTTP_201_CREATED,
    response_model=QueueOut,
    responses={409: {"model": ErrorBody, "description": "The name is taken"}},
    summary="Create a review queue",
    dependencies=ADMIN,
)
async def create_queue(payload: QueueCreate, service: ServiceDep) -> QueueOut:
    return await service.create(payload)


@router.get(
    "/queues",
    response_model=QueueList,
    summary="Every review queue with its progress",
    dependencies=READ_OR_REVIEW,
)
async def list_queues(reader: ReaderDep) -> QueueList:
    return QueueList(queues=await reader.list())


@router.get(
    "/queues/{queue_id}",
    response_model=QueueOut,
    summary="A review queue with its progress",
    dependencies=READ_OR_REVIEW,
)
async def get_queue(queue_id: uuid.UUID, reader: ReaderDep) -> QueueOut:
    return await reader.get(queue_id)


@router.patch(
    "/queues/{queue_id}",
    response_model=QueueOut,
    summary="Change a queue's instructions or lease, or close it",
    dependencies=ADMIN,
)
async def update_queue(queue_id: uuid.UUID, payload: QueueUpdate, service: ServiceDep) -> QueueOut:
    return await service.update(queue_id, payload)


@router.post(
    "/queues/{queue_id}/items",
    response_model=ItemsAdded,
    summary="Add answers by request_id, or those with a vote that matches a filter",
    dependencies=ADMIN,
)
async def add_items(queue_id: uuid.UUID, payload: ItemsAdd, service: ServiceDep) -> ItemsAdded:
    """An answer is in a queue at most once: adding it again counts it as already_queued."""
    return await service.add(queue_id, payload)


@router.post(
    "/queues/{queue_id}/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    responses={409: {"model": ErrorBody, "description": "Another sample rule draws from them"}},
    summary="Add a random sample rule (sample_rate) or a trigger on votes (on_vote)",
    dependencies=ADMIN,
)
async def create_rule(queue_id: uuid.UUID, payload: RuleCreate, rules: RulesDep) -> RuleOut:
    """Answers join within one refresh interval of being logged (a `since` in the past
    backfills). A sampled item keeps the rule and its inclusion probability; a trigger's
    items have none: they are no random sample."""
    return await rules.create(queue_id, payload)


@router.get(
    "/queues/{queue_id}/rules",
    response_model=RuleList,
    summary="A queue's rules, stopped ones too",
    dependencies=READ_OR_REVIEW,
)
async def list_rules(queue_id: uuid.UUID, rules: RuleReaderDep) -> RuleList:
    return RuleList(rules=await rules.list(queue_id))


@router.delete(
    "/queues/{queue_id}/rules/{rule_id}",
    response_model=RuleOut,
    summary="Stop a rule: no new matches; its items stay",
    dependencies=ADMIN,
)
async def stop_rule(queue_id: uuid.UUID, rule_id: uuid.UUID, rules: RulesDep) -> RuleOut:
    return await rules.stop(queue_id, rule_id)


@router.get(
    "/queues/{queue_id}/items",
    response_model=ItemPage,
    summary="A queue's items, newest first",
    dependencies=READ,
)
async def list_items(
    queue_id: uuid.UUID,
    reader: ReaderDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: SearchText | None = None,
) -> ItemPage:
    return await reader.items(queue_id, status, limit, cursor)


@router.get(
    "/queues/{queue_id}/agreement",
    response_model=Agreement,
    summary="How far the reviewers agree, with each other and with the users' votes",
    dependencies=READ_OR_REVIEW,
)
async def agreement(queue_id: uuid.UUID, reader: ReaderDep) -> Agreement:
    """Krippendorff's alpha (nominal) over the items with 2 or more labels, with its 95 %
    bootstrap interval; percent agreement; each pair's Cohen's kappa; each reviewer's
    agreement with the consensus; the users' majority thumb against the consensus."""
    return await reader.agreement(queue_id)


@router.post(
    "/queues/{queue_id}/claim",
    response_model=Claim,
    responses={204: {"description": "Nothing is left for this reviewer"}},
    summary="Claim the next item to label (a lease of lease_seconds)",
)
async def claim(queue_id: uuid.UUID, service: ServiceDep, reviewer: ReviewerDep) -> Response:
    """`votes` and `labels` are left out while the queue is blind."""
    claimed = await service.claim(queue_id, reviewer)
    if claimed is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    body, blind = claimed
    hidden = {"votes", "labels"} if blind else set()
    return Response(body.model_dump_json(exclude=hidden), media_type="application/json")


@router.post(
    "/assignments/{assignment_id}/submit",
    status_code=status.HTTP_201_CREATED,
    response_model=LabelOut,
    responses=CONFLICT,
    summary="Label the claimed item",
)
async def submit(
    assignment_id: uuid.UUID, payload: SubmitIn, service: ServiceDep, reviewer: ReviewerDep
) -> LabelOut:
    return await service.submit(assignment_id, payload, reviewer)


@router.post(
    "/assignments/{assignment_id}/release",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=CONFLICT,
    summary="Give the claimed item back",
)
async def release(
    assignment_id: uuid.UUID, payload: LeaseIn, service: ServiceDep, reviewer: ReviewerDep
) -> Response:
    await service.release(assignment_id, payload.lease_token, reviewer)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/assignments/{assignment_id}/decline",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=CONFLICT,
    summary="Skip the claimed item: it is never handed to this reviewer again",
)
async def decline(
    assignment_id: uuid.UUID, payload: LeaseIn, service: ServiceDep, reviewer: ReviewerDep
) -> Response:
    await service.decline(assignment_id, payload.lease_token, reviewer)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/assignments/{assignment_id}/heartbeat",
    response_model=Lease,
    responses=CONFLICT,
    summary="Keep the claim: the lease runs lease_seconds from now",
)
async def heartbeat(
    assignment_id: uuid.UUID, payload: LeaseIn, service: ServiceDep, reviewer: ReviewerDep
) -> Lease:
    return await service.heartbeat(assignment_id, payload.lease_token, reviewer)


@router.put(
    "/labels/{label_id}",
    response_model=LabelOut,
    summary="Change a label (its reviewer, or an admin); the old version is kept",
)
async def edit_label(
    label_id: uuid.UUID, payload: LabelIn, service: ServiceDep, reviewer: ReviewerDep
) -> LabelOut:
    return await service.edit_label(label_id, payload, reviewer)


@router.get(
    "/labels/{label_id}/history",
    response_model=LabelHistory,
    summary="Every version of a label, oldest first",
    dependencies=READ_OR_REVIEW,
)
async def label_history(label_id: uuid.UUID, reader: ReaderDep) -> LabelHistory:
    return await reader.label_history(label_id)


@router.get(
    "/items/{item_id}",
    response_model=ItemDetail,
    summary="An item, every label, its consensus and how it was reached",
    dependencies=READ,
)
async def get_item(item_id: uuid.UUID, reader: ReaderDep) -> ItemDetail:
    return await reader.item(item_id)


@router.post(
    "/items/{item_id}/adjudicate",
    response_model=ItemDetail,
    summary="Decide an item its reviewers disagree on",
    dependencies=ADMIN,
)
async def adjudicate(
    item_id: uuid.UUID, payload: LabelIn, service: ServiceDep, reviewer: ReviewerDep
) -> ItemDetail:
    return await service.adjudicate(item_id, payload, reviewer)
