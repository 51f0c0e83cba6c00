"""The review API's bodies and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from feedback_api.interactions.schemas import InteractionOut
from feedback_api.kit.fields import (
    Comment,
    Label,
    LongText,
    RequestId,
    SearchQuery,
    StoredInstant,
    Timestamp,
    storable_text,
)
from feedback_api.reasons.schemas import ReasonText, VoteReasons

Verdict = Literal["correct", "incorrect"]
Status = Literal["pending", "in_review", "done", "needs_adjudication"]
QueueName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(storable_text),
]
Instructions = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(storable_text)]
LeaseSeconds = Annotated[int, Field(ge=30, le=86_400)]
MAX_REQUEST_IDS = 1_000
MAX_FILTER_LIMIT = 10_000


class QueueCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: QueueName = Field(description="Unique; 1-200 characters.")
    instructions: Instructions = Field(
        default="", description="Markdown for the reviewers, up to 20,000 characters."
    )
    reviewers_per_item: int = Field(default=1, ge=1, le=5)
    lease_seconds: LeaseSeconds = Field(
        default=900, description="How long a claim holds its item (30-86,400 seconds)."
    )
    blind: bool = Field(
        default=True,
        description="Hide the users' votes and the other reviewers' labels from a reviewer "
        "until they have labelled the item.",
    )
    project: Label | None = Field(
        default=None, description="Whose reason labels apply (else the default set)."
    )


class QueueUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instructions: Instructions | None = None
    lease_seconds: LeaseSeconds | None = None
    closed: bool | None = Field(default=None, description="A closed queue hands nothing out.")


class QueueProgress(BaseModel):
    items: dict[Status, int] = Field(description="Items by status.")
    labels: dict[str, int] = Field(description="Labels per reviewer.")


class QueueOut(BaseModel):
    id: uuid.UUID
    name: str
    instructions: str
    reviewers_per_item: int
    lease_seconds: int
    blind: bool
    project: str | None
    closed: bool
    created_at: datetime
    progress: QueueProgress


class QueueList(BaseModel):
    queues: list[QueueOut]


class ItemFilter(BaseModel):
    """The filters of GET /v1/feedback: answers with a vote that matches."""

    model_config = ConfigDict(extra="forbid")

    model: Label | None = None
    intent: Label | None = None
    project: Label | None = None
    is_helpful: bool | None = None
    reason: ReasonText | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None
    q: SearchQuery | None = None  # as GET /v1/feedback?q= reads it


class ItemsAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_ids: list[RequestId] | None = Field(
        default=None, max_length=MAX_REQUEST_IDS, description="Up to 1,000 logged request_ids."
    )
    filter: ItemFilter | None = Field(
        default=None, description="Answers with a vote that matches (newest votes first)."
    )
    limit: int = Field(default=100, ge=1, le=MAX_FILTER_LIMIT)

    @model_validator(mode="after")
    def _one_way(self) -> ItemsAdd:
        if (self.request_ids is None) == (self.filter is None):
            raise ValueError('send either "request_ids" (a list) or "filter" (with "limit")')
        return self


class ItemsAdded(BaseModel):
    added: int
    already_queued: int
    unknown: list[str] = Field(description="request_ids of no logged answer.")


class VoteTrigger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_helpful: bool | None = None
    reason: ReasonText | None = None
    with_comment: bool | None = Field(
        default=None, description="true: only votes with a comment; false: only without."
    )


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample_rate: float | None = Field(
        default=None,
        gt=0,
        le=1,
        allow_inf_nan=False,  # NaN refused as not a number, not as out of range
        description="A random sample: each matching answer joins with this probability.",
    )
    on_vote: VoteTrigger | None = Field(
        default=None, description="A trigger: every answer that gets a matching vote joins."
    )
    model: Label | None = None
    intent: Label | None = None
    project: Label | None = None
    since: StoredInstant | None = Field(
        default=None, description="Answers (or votes) from this time on; in the past it backfills."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> RuleCreate:
        if (self.sample_rate is None) == (self.on_vote is None):
            raise ValueError(
                'send "sample_rate" (a random sample, in (0, 1]) or "on_vote" (a trigger), '
                "one of the two"
            )
        return self


class RuleOut(BaseModel):
    id: uuid.UUID
    queue_id: uuid.UUID
    kind: Literal["sample", "trigger"]
    sample_rate: float | None
    on_vote: VoteTrigger | None
    model: str | None
    intent: str | None
    project: str | None
    since: datetime
    created_at: datetime
    stopped_at: datetime | None
    scanned_to: datetime | None = Field(description="How far the rule has been applied.")


class RuleList(BaseModel):
    rules: list[RuleOut]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    reasons: VoteReasons = Field(default_factory=list)
    correction: LongText | None = Field(default=None, description="The answer it should have been.")
    note: Comment | None = None


class SubmitIn(LabelIn):
    lease_token: uuid.UUID = Field(description="The claim's lease_token.")


class LeaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_token: uuid.UUID = Field(description="The claim's lease_token.")


class LabelOut(BaseModel):
    id: uuid.UUID
    item_id: uuid.UUID
    reviewer: str
    verdict: Verdict
    reasons: list[str]
    correction: str | None
    note: str | None
    adjudication: bool
    version: int
    created_at: datetime
    updated_at: datetime


class LabelVersion(BaseModel):
    version: int
    verdict: Verdict
    reasons: list[str]
    correction: str | None
    note: str | None
    written_by: str
    written_at: datetime


class LabelHistory(BaseModel):
    label_id: uuid.UUID
    versions: list[LabelVersion] = Field(description="Oldest first; the last is the label now.")


class VoteOut(BaseModel):
    id: uuid.UUID
    is_helpful: bool
    stars: int | None
    reasons: list[str]
    comment: str | None
    correction: str | None
    created_at: datetime


class Lease(BaseModel):
    assignment_id: uuid.UUID
    lease_token: uuid.UUID
    leased_until: datetime


class Claim(Lease):
    item_id: uuid.UUID
    interaction: InteractionOut
    votes: list[VoteOut] | None = Field(
        default=None, description="Left out while the queue is blind."
    )
    labels: list[LabelOut] | None = Field(
        default=None, description="The other reviewers' labels; left out while the queue is blind."
    )
    label_set: list[str]
    instructions: str


class Consensus(BaseModel):
    verdict: Verdict | None
    method: Literal["unanimous", "majority", "adjudicated"] | None = Field(
        description="How it was reached; null while it needs labels or adjudication."
    )
    decided_at: datetime | None
    reasons: list[str] = Field(
        description="Reasons named by more than half the labels with the verdict (adjudicated: "
        "the adjudication's)."
    )


class ItemOut(BaseModel):
    id: uuid.UUID
    queue_id: uuid.UUID
    interaction_id: uuid.UUID
    request_id: str
    status: Status
    source: Literal["manual", "sample", "trigger"]
    rule_id: uuid.UUID | None
    inclusion_probability: float | None = Field(
        description="For a random sample's item: the chance it had to be drawn."
    )
    labels_count: int
    created_at: datetime


class ItemDetail(ItemOut):
    interaction: InteractionOut
    labels: list[LabelOut]
    consensus: Consensus


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page.")


class PairAgreement(BaseModel):
    reviewer_a: str
    reviewer_b: str
    items: int = Field(description="Items both labelled.")
    agreement: float = Field(description="Share of those items with the same verdict.")
    cohen_kappa: float | None = Field(description="Null when chance agreement is 1.")


class ReviewerAgreement(BaseModel):
    reviewer: str
    labels: int
    declined: int
    agreement_with_consensus: float | None = Field(
        description="Share of their labels on decided items that match the consensus."
    )


class VotesVsReviews(BaseModel):
    items: int = Field(description="Items with a consensus and a users' majority thumb.")
    up_correct: int
    up_incorrect: int
    down_correct: int
    down_incorrect: int
    vote_agreement: float | None = Field(
        description="(up_correct + down_incorrect) / items: how often the thumbs say what "
        "the reviewers found."
    )


class Agreement(BaseModel):
    items_with_2_or_more_labels: int
    krippendorff_alpha: float | None = Field(description="Nominal; null when undefined.")
    alpha_ci_low: float | None = Field(description="95 % bootstrap interval over items.")
    alpha_ci_high: float | None
    percent_agreement: float | None
    pairs: list[PairAgreement]
    reviewers: list[ReviewerAgreement]
    votes_vs_reviews: VotesVsReviews


class ReviewModelWeek(BaseModel):
    model: str
    decided: int = Field(description="Answers of the model whose consensus was reached this week.")
    reviewed_correct: float = Field(description="Share of those the reviewers found correct.")
    votes_vs_reviews: VotesVsReviews


class ReviewWeek(BaseModel):
    """Review queues in a week: what reviewers did, and what they say of the users' votes."""

    labels: int = Field(description="Labels given this week.")
    krippendorff_alpha: float | None = Field(
        description="Nominal, over the items labelled this week that have 2 or more labels."
    )
    models: list[ReviewModelWeek]
