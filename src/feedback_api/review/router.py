"""The review API: queues, adding answers, rules, claims and labels, items, agreement."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from feedback_api.auth.keys import Principal, Scope, require
from feedback_api.auth.reviewers import ReviewerDep
from feedback_api.dependencies import IngestRulesDep
from feedback_api.kit.db import ReadSessionDep, SessionDep, StatementSessionDep
from feedback_api.kit.fields import SearchText
from feedback_api.kit.openapi import KEYED, READ, WRITE, responses
from feedback_api.reasons.repository import ReasonSetReader
from feedback_api.reasons.service import ReasonSets
from feedback_api.review.claims import ClaimRepository
from feedback_api.review.labels import LabelRepository
from feedback_api.review.leases import LeaseService
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

READER = [require(Scope.READ)]
READ_OR_REVIEW = [require(Scope.READ, Scope.REVIEW)]
ADMIN = [require(Scope.ADMIN)]

NO_QUEUE = "No review queue has this id"
# The lease routes: the assignment is someone else's (403), unknown (404), or its lease is
# not current (409).
LEASE = responses(
    *WRITE,
    _403="The API key's scope does not allow this operation, or the assignment is another "
    "reviewer's",
    _404="No review assignment has this id",
    _409="The lease is not current: it ran out, was released, declined or submitted, or "
    "the lease_token is not this assignment's",
)


async def get_reader(session: ReadSessionDep) -> QueueReader:
    return QueueReader(QueueRepository(session))


async def get_service(session: SessionDep, rules: IngestRulesDep) -> QueueService:
    return QueueService(QueueWriter(session), LabelRepository(session), rules.reasons)


async def get_leases(session: StatementSessionDep, rules: IngestRulesDep) -> LeaseService:
    """Each lease route writes with one statement: a session in autocommit (kit.db)."""
    return LeaseService(ClaimRepository(session), QueueRepository(session), rules.reasons)


async def get_rules(session: SessionDep, rules: IngestRulesDep) -> RuleService:
    label_sets = ReasonSets(ReasonSetReader(session), rules.reasons)
    return RuleService(RuleRepository(session), QueueWriter(session), label_sets)


async def get_rule_reader(session: ReadSessionDep, rules: IngestRulesDep) -> RuleService:
    label_sets = ReasonSets(ReasonSetReader(session), rules.reasons)
    return RuleService(RuleReader(session), QueueRepository(session), label_sets)


ReaderDep = Annotated[QueueReader, Depends(get_reader)]
RulesDep = Annotated[RuleService, Depends(get_rules)]
RuleReaderDep = Annotated[RuleService, Depends(get_rule_reader)]
ServiceDep = Annotated[QueueService, Depends(get_service)]
LeasesDep = Annotated[LeaseService, Depends(get_leases)]


@router.post(
    "/queues",
    status_code=status.HTTP_201_CREATED,
    response_model=QueueOut,
    responses=responses(*WRITE, _409="A review queue has this name already"),
    summary="Create a review queue",
    description="Creates an empty queue of answers for people to label: its name, "
    "instructions for the reviewers, the lease a claim holds, how many labels an item needs "
    "and whether reviewers see the votes (blind). Answers join by POST .../items or rules.",
    dependencies=ADMIN,
)
async def create_queue(payload: QueueCreate, service: ServiceDep) -> QueueOut:
    return await service.create(payload)


@router.get(
    "/queues",
    response_model=QueueList,
    summary="Every review queue with its progress",
    description="Every queue, each with its settings and progress: how many of its items "
    "are pending, in review, done or awaiting adjudication, and each reviewer's labels.",
    responses=responses(*READ),
    dependencies=READ_OR_REVIEW,
)
async def list_queues(reader: ReaderDep) -> QueueList:
    return QueueList(queues=await reader.list())


@router.get(
    "/queues/{queue_id}",
    response_model=QueueOut,
    summary="A review queue with its progress",
    description="One queue by the id its creation returned, with its settings and its "
    "progress: items by status and each reviewer's labels.",
    responses=responses(*READ, _404=NO_QUEUE),
    dependencies=READ_OR_REVIEW,
)
async def get_queue(queue_id: uuid.UUID, reader: ReaderDep) -> QueueOut:
    return await reader.get(queue_id)


@router.patch(
    "/queues/{queue_id}",
    response_model=QueueOut,
    summary="Change a queue's instructions or lease, or close it",
    description="Fields left out stay as they are. A closed queue hands out no more "
    "claims; its items and labels stay readable.",
    responses=responses(*WRITE, _404=NO_QUEUE),
    dependencies=ADMIN,
)
async def update_queue(queue_id: uuid.UUID, payload: QueueUpdate, service: ServiceDep) -> QueueOut:
    return await service.update(queue_id, payload)


@router.post(
    "/queues/{queue_id}/items",
    response_model=ItemsAdded,
    summary="Add answers by request_id, or those with a vote that matches a filter",
    responses=responses(*WRITE, _404=NO_QUEUE),
    dependencies=ADMIN,
)
async def add_items(queue_id: uuid.UUID, payload: ItemsAdd, service: ServiceDep) -> ItemsAdded:
    """An answer is in a queue at most once: adding it again counts it as already_queued."""
    return await service.add(queue_id, payload)


@router.post(
    "/queues/{queue_id}/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    responses=responses(
        *WRITE, _404=NO_QUEUE, _409="Another sample rule of this queue draws from these answers"
    ),
    summary="Add a random sample rule (sample_rate) or a trigger on votes (on_vote)",
    dependencies=ADMIN,
)
async def create_rule(queue_id: uuid.UUID, payload: RuleCreate, rules: RulesDep) -> RuleOut:
    """Answers join within one refresh interval of being logged (a `since` in the past
    backfills). A sampled item keeps the rule and its inclusion probability; a trigger's
    items have none: they are no random sample. A trigger's `reason` is a label of its
    project's label set (without a project: of the default set or any project's), else 422."""
    return await rules.create(queue_id, payload)


@router.get(
    "/queues/{queue_id}/rules",
    response_model=RuleList,
    summary="A queue's rules, stopped ones too",
    description="The sample rules and vote triggers that add answers to this queue, "
    "newest first, with the stopped ones and when they stopped.",
    responses=responses(*READ, _404=NO_QUEUE),
    dependencies=READ_OR_REVIEW,
)
async def list_rules(queue_id: uuid.UUID, rules: RuleReaderDep) -> RuleList:
    return RuleList(rules=await rules.list(queue_id))


@router.delete(
    "/queues/{queue_id}/rules/{rule_id}",
    response_model=RuleOut,
    summary="Stop a rule: no new matches; its items stay",
    description="The rule adds no more answers from now on; the items it added stay in the "
    "queue with their inclusion probability. Answers the rule as stopped.",
    responses=responses(*KEYED, 422, 503, _404="The queue has no rule with this id"),
    dependencies=ADMIN,
)
async def stop_rule(queue_id: uuid.UUID, rule_id: uuid.UUID, rules: RulesDep) -> RuleOut:
    return await rules.stop(queue_id, rule_id)


@router.get(
    "/queues/{queue_id}/items",
    response_model=ItemPage,
    summary="A queue's items, newest first",
    description="The queue's items a page at a time (pass `next_cursor` back as `cursor`), "
    "optionally only those with one status, each with its source and label count.",
    responses=responses(400, *READ, _404=NO_QUEUE),
    dependencies=READER,
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
    responses=responses(*READ, _404=NO_QUEUE),
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
    responses={
        204: {
            "description": "Nothing is left for this reviewer (others may still give "
            "answers back or need this reviewer's label later: look again)"
        },
        **responses(
            *KEYED,
            422,
            503,
            _404=NO_QUEUE,
            _409="The queue is closed: it hands out nothing until it is reopened",
            _422="No valid X-Reviewer header without API keys, or a query parameter this "
            "operation does not take",
        ),
    },
    summary="Claim the next item to label (a lease of lease_seconds)",
)
async def claim(queue_id: uuid.UUID, service: LeasesDep, reviewer: ReviewerDep) -> Response:
    """Hands the reviewer the next item they have not labelled or declined, with its
    exchange, the label set and the queue's instructions, and a lease_token for the lease
    routes. `votes` and `labels` are left out while the queue is blind."""
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
    summary="Label the claimed item",
    description="Stores the reviewer's verdict and reasons for the item the assignment holds, with "
    "the claim's lease_token; the assignment is then used up. Reasons must be of the "
    "project's label set.",
    responses=LEASE,
)
async def submit(
    assignment_id: uuid.UUID, payload: SubmitIn, service: LeasesDep, reviewer: ReviewerDep
) -> LabelOut:
    return await service.submit(assignment_id, payload, reviewer)


@router.post(
    "/assignments/{assignment_id}/release",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Give the claimed item back",
    description="Ends the lease early: the item goes back to the queue for anyone, this reviewer "
    "included, to claim.",
    responses=LEASE,
)
async def release(
    assignment_id: uuid.UUID, payload: LeaseIn, service: LeasesDep, reviewer: ReviewerDep
) -> Response:
    await service.release(assignment_id, payload.lease_token, reviewer)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/assignments/{assignment_id}/decline",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Skip the claimed item: it is never handed to this reviewer again",
    description="Ends the lease and records the decline: the item goes back to the queue for the "
    "other reviewers.",
    responses=LEASE,
)
async def decline(
    assignment_id: uuid.UUID, payload: LeaseIn, service: LeasesDep, reviewer: ReviewerDep
) -> Response:
    await service.decline(assignment_id, payload.lease_token, reviewer)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/assignments/{assignment_id}/heartbeat",
    response_model=Lease,
    summary="Keep the claim: the lease runs lease_seconds from now",
    description="Extends a current lease so a long review is not handed to someone else; "
    "answers with the new leased_until.",
    responses=LEASE,
)
async def heartbeat(
    assignment_id: uuid.UUID, payload: LeaseIn, service: LeasesDep, reviewer: ReviewerDep
) -> Lease:
    return await service.heartbeat(assignment_id, payload.lease_token, reviewer)


@router.put(
    "/labels/{label_id}",
    response_model=LabelOut,
    summary="Change a label (its reviewer, or an admin); the old version is kept",
    description="Replaces the label's verdict and reasons; the version it replaces stays in "
    "its history. Only the label's reviewer or an admin may change it.",
    responses=responses(
        *WRITE,
        _403="The API key's scope does not allow this operation, or the label is another "
        "reviewer's",
        _404="No review label has this id",
    ),
)
async def edit_label(
    label_id: uuid.UUID, payload: LabelIn, service: ServiceDep, reviewer: ReviewerDep
) -> LabelOut:
    return await service.edit_label(label_id, payload, reviewer)


@router.get(
    "/labels/{label_id}/history",
    response_model=LabelHistory,
    summary="Every version of a label, oldest first",
    description="Each version of the label with who wrote it and when, the current one last. "
    "A review key reads its own labels' history only.",
    responses=responses(
        *READ,
        _403="A review key asking for another reviewer's label",
        _404="No review label has this id",
    ),
)
async def label_history(
    label_id: uuid.UUID,
    reader: ReaderDep,
    principal: Annotated[Principal, require(Scope.READ, Scope.REVIEW)],
) -> LabelHistory:
    # A reviewer sees no one else's labels (blind queues): their own, as they wrote them.
    own = principal.reviewer if principal.scope is Scope.REVIEW else None
    return await reader.label_history(label_id, only_by=own)


@router.get(
    "/items/{item_id}",
    response_model=ItemDetail,
    summary="An item, every label, its consensus and how it was reached",
    description="One review item with the exchange it is of, every label on it, and its "
    "consensus: the verdict, the method that reached it and the reasons most labels share.",
    responses=responses(*READ, _404="No review item has this id"),
    dependencies=READER,
)
async def get_item(item_id: uuid.UUID, reader: ReaderDep) -> ItemDetail:
    return await reader.item(item_id)


@router.post(
    "/items/{item_id}/adjudicate",
    response_model=ItemDetail,
    summary="Decide an item its reviewers disagree on",
    description="An admin's label settles the item's verdict (status done); adjudicating "
    "again changes that label, keeping the old version. Only an item its reviewers "
    "disagree on, or one already decided, can be adjudicated.",
    responses=responses(
        *WRITE,
        _404="No review item has this id",
        _409="The item is still collecting labels: its reviewers have not disagreed yet",
    ),
    dependencies=ADMIN,
)
async def adjudicate(
    item_id: uuid.UUID, payload: LabelIn, service: ServiceDep, reviewer: ReviewerDep
) -> ItemDetail:
    return await service.adjudicate(item_id, payload, reviewer)
