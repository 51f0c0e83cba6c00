"""Feedback bodies in both shapes (with context, by reference), and the one representation
we answer with.

The rating rule both shapes share: with `is_helpful` present, `rating` means 1-5 stars;
without it, `rating` is the thumb itself, +1 or -1.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    model_validator,
)
from typing_extensions import TypedDict

from feedback_api.auth.tokens import TOKEN_MAX_LENGTH
from feedback_api.exceptions import AppError
from feedback_api.feedback.view import ID_COLUMNS
from feedback_api.interactions.schemas import ExchangeContext
from feedback_api.kit.batch import MAX_BATCH_ITEMS, BatchItemStatus
from feedback_api.kit.fields import (
    Comment,
    CoreComment,
    CoreIdentifier,
    CoreJsonObject,
    CoreJsonValue,
    CoreLabel,
    CoreLongText,
    CoreRequestId,
    Identifier,
    JsonObject,
    LongText,
    RecordedAt,
    RequestId,
)
from feedback_api.reasons.schemas import VoteReasons

Stars = Annotated[StrictInt, Field(ge=1, le=5)]
# The answer the user wanted: as long as an answer may be.
Correction = Annotated[LongText, Field(description="The answer the user wanted.")]

THUMB_RULE = (
    "rating must be +1 (thumbs up) or -1 (thumbs down); to send 1-5 stars, send is_helpful as well"
)


def resolve_vote(
    rating: int | None, is_helpful: bool | None, stars: int | None
) -> tuple[bool | None, int | None]:
    """Apply the rating rule; return (is_helpful, stars). Raises ValueError with the rule."""
    if is_helpful is not None:
        if rating is not None:
            if not 1 <= rating <= 5:
                raise ValueError("with is_helpful present, rating means stars and must be 1-5")
            if stars is not None and stars != rating:
                raise ValueError("rating and stars disagree; send only one of them")
            stars = rating
        return is_helpful, stars
    if rating is not None:
        if rating not in (1, -1):
            raise ValueError(THUMB_RULE)
        return rating == 1, stars
    return None, stars


# Fields that describe the exchange, not the vote; in the by-reference shape they belong
# to the interaction already logged, so sending them there is a mistake worth reporting.
# user_id and metadata describe the vote as well; query marks the shape with context.
CONTEXT_ONLY = tuple(
    name for name in ExchangeContext.model_fields if name not in ("query", "user_id", "metadata")
)


class _ByReference(BaseModel):
    request_id: RequestId | None = None


# pydantic orders fields from the last base on: request_id stays the first field.
class FeedbackCreate(ExchangeContext, _ByReference):
    """Either shape: the with-context shape or the by-reference shape.

    * with context: `query`, `response`, `model`, `rating` (+1/-1) and optional details;
      the interaction is created (or reused by `request_id`).
    * by reference: `request_id` of a logged interaction, `is_helpful`, optional `rating`
      (1-5 stars) and `comment`.
    """

    user_id: Identifier | None = Field(default=None, description="Who voted.")
    rating: StrictInt | None = Field(
        default=None, description="+1/-1 (thumb); 1-5 (stars) when is_helpful is present."
    )
    is_helpful: StrictBool | None = None
    stars: Stars | None = None
    comment: Comment | None = None
    reasons: VoteReasons | None = None
    correction: Correction | None = None
    created_at: RecordedAt | None = Field(default=None, description="ISO 8601, for backfills.")
    feedback_token: Annotated[str, Field(max_length=TOKEN_MAX_LENGTH)] | None = Field(
        default=None,
        description="The token POST /v1/interactions returned, in place of an API key "
        "(browsers); only with request_id.",
    )

    @model_validator(mode="after")
    def _check_shape(self) -> FeedbackCreate:
        if self.query is not None or self.response is not None or self.model is not None:
            if self.query is None or self.response is None or self.model is None:
                missing = [f for f in ("query", "response", "model") if getattr(self, f) is None]
                raise ValueError(
                    "feedback with its context needs query, response and model; "
                    f"missing: {', '.join(missing)}"
                )
        elif self.request_id is None:
            raise ValueError(
                "send either request_id (feedback on a logged interaction) "
                "or query, response and model (feedback with its context)"
            )
        else:
            extra = [f for f in CONTEXT_ONLY if getattr(self, f) is not None]
            if extra:
                raise ValueError(
                    f"{', '.join(extra)}: these fields describe the exchange; log them with the "
                    "interaction (POST /v1/interactions) or send query, response and model too"
                )
        is_helpful, _ = resolve_vote(self.rating, self.is_helpful, self.stars)
        if is_helpful is None:
            raise ValueError("a vote needs rating (+1 or -1) or is_helpful (true or false)")
        return self

    @property
    def has_context(self) -> bool:
        return self.query is not None

    def vote(self) -> tuple[bool, int | None]:
        is_helpful, stars = resolve_vote(self.rating, self.is_helpful, self.stars)
        assert is_helpful is not None  # guaranteed by _check_shape
        return is_helpful, stars


class CoreCheckedFeedback(FeedbackCreate):
    """FeedbackCreate with its texts checked in pydantic's core alone (kit/fields.py): for a
    body whose JSON holds no NUL, U+001C-U+001F or surrogate escape (`python_checks_needed`;
    its JSON values' depth and numbers are still checked), the same votes
    with the same values, for 12 fewer calls into Python a vote (docs/benchmarks/ingest.md). A
    field not named here keeps its rules. Its refusals are not worded as FeedbackCreate's:
    whatever it refuses is validated again with FeedbackCreate, whose errors are answered."""

    request_id: CoreRequestId | None = None
    query: CoreLongText | None = None
    response: CoreLongText | None = None
    model: CoreLabel | None = None
    intent: CoreLabel | None = None
    project: CoreLabel | None = None
    user_id: CoreIdentifier | None = None
    session_id: CoreIdentifier | None = None
    tools_called: list[CoreLabel] | None = None
    # No NUL anywhere in the body: only their depth to look at.
    sources_used: CoreJsonValue | None = None
    metadata: CoreJsonObject | None = None
    comment: CoreComment | None = None
    correction: CoreLongText | None = None


class FeedbackUpdate(BaseModel):
    """Changes to a vote; fields left out stay as they are, `null` clears stars, comment,
    reasons and correction."""

    model_config = ConfigDict(extra="forbid")

    rating: StrictInt | None = None
    is_helpful: StrictBool | None = None
    stars: Stars | None = None
    comment: Comment | None = None
    reasons: VoteReasons | None = None
    correction: Correction | None = None
    metadata: JsonObject | None = None

    @model_validator(mode="after")
    def _check(self) -> FeedbackUpdate:
        if not self.model_fields_set:
            raise ValueError(
                "nothing to update: send rating, is_helpful, stars, comment, reasons, "
                "correction or metadata"
            )
        # The thumb is what a vote is: it can change, not be cleared (rating is the thumb
        # unless is_helpful is sent too; then it is the stars, which null may clear).
        thumb = "is_helpful" if "is_helpful" in self.model_fields_set else "rating"
        if thumb in self.model_fields_set and getattr(self, thumb) is None:
            raise ValueError(
                f"{thumb} cannot be null: a vote stays up or down; send is_helpful true or "
                "false (or rating +1 or -1), or DELETE the vote"
            )
        resolve_vote(self.rating, self.is_helpful, self.stars)
        return self

    def changes(self) -> dict[str, Any]:
        is_helpful, stars = resolve_vote(self.rating, self.is_helpful, self.stars)
        changes: dict[str, Any] = {}
        if is_helpful is not None:
            changes["is_helpful"] = is_helpful
        if stars is not None or "stars" in self.model_fields_set:
            changes["stars"] = stars
        for name in ("comment", "correction"):
            if name in self.model_fields_set:
                changes[name] = getattr(self, name)
        if "reasons" in self.model_fields_set:
            changes["reasons"] = self.reasons or []
        if "metadata" in self.model_fields_set:
            changes["meta"] = self.metadata or {}
        return changes


class FeedbackOut(BaseModel):
    id: uuid.UUID
    interaction_id: uuid.UUID
    request_id: str
    rating: Literal[1, -1] = Field(description="The thumb: +1 or -1.")
    is_helpful: bool
    stars: int | None
    reasons: list[str]
    comment: str | None
    correction: str | None
    query: str
    response: str
    model: str
    intent: str | None
    project: str | None
    user_id: str | None
    session_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _thumb(cls, data: Any) -> Any:
        """`rating` is the thumb that `is_helpful` stores: validated from a stored vote's row."""
        if isinstance(data, Mapping) and "rating" not in data and "is_helpful" in data:
            return {**data, "rating": 1 if data["is_helpful"] else -1}
        return data


# FeedbackOut's fields as a TypedDict: what pydantic serializes a stored vote's answer
# with, without building and validating a model first (the answer comes from the database,
# as the vote statement defines it: feedback/view.py, ANSWER_COLUMNS). One definition: the
# fields are FeedbackOut's own, but for the ids, which the statement returns as text:
# written as they are, where the driver's own UUID type cost pydantic's serializer more.
_FEEDBACK_FIELDS = {name: field.annotation for name, field in FeedbackOut.model_fields.items()}
_FEEDBACK_FIELDS.update(dict.fromkeys(ID_COLUMNS, str))
_FeedbackJson: Any = TypedDict("FeedbackJson", _FEEDBACK_FIELDS)  # type: ignore[misc]
_FEEDBACK_JSON: TypeAdapter[Any] = TypeAdapter(_FeedbackJson)


_ANSWER_FIELDS = tuple(FeedbackOut.model_fields)
_answer_values = itemgetter(*_ANSWER_FIELDS)


def feedback_json(answer: dict[str, Any]) -> bytes:
    """The JSON of FeedbackOut for a stored vote's answer as the vote statement returns it
    (its fields in order, with its rating, ids as text: `answer_fields`): the same bytes as
    `FeedbackOut.model_validate(answer).model_dump_json()`, with no model in between."""
    return _FEEDBACK_JSON.dump_json(answer)


def answer_fields(view: dict[str, Any]) -> dict[str, Any]:
    """A stored vote's feedback-with-context view (GET's columns, any order) as the vote
    statement returns its answer: FeedbackOut's fields in order, with its rating and its
    ids as text."""
    view["rating"] = 1 if view["is_helpful"] else -1
    # In FeedbackOut's order (pydantic writes a dict's keys in the dict's order).
    answer = dict(zip(_ANSWER_FIELDS, _answer_values(view), strict=True))
    for name in ID_COLUMNS:
        answer[name] = str(answer[name])
    return answer


class FeedbackPage(BaseModel):
    items: list[FeedbackOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description="Up to 1,000 feedback bodies, each in either shape of POST /v1/feedback.",
    )


class BatchItemResult(BatchItemStatus):
    status: int = Field(
        description="201 created, 200 replaced a vote; 401 or 403 (its feedback token), 404 "
        "or 422 refused."
    )
    feedback: FeedbackOut | None = None


class BatchResult(BaseModel):
    created: int
    replaced: int
    failed: int
    results: list[BatchItemResult]


# BatchResult's fields as TypedDicts, each item's vote as FeedbackOut's (as feedback_json):
# a batch's answer serialized without 1,000 models validated first.
_BATCH_ITEM_FIELDS = {
    **{name: field.annotation for name, field in BatchItemResult.model_fields.items()},
    "feedback": _FeedbackJson | None,
}
_BatchItemJson: Any = TypedDict("BatchItemJson", _BATCH_ITEM_FIELDS)  # type: ignore[misc]
_BATCH_FIELDS = {
    **{name: field.annotation for name, field in BatchResult.model_fields.items()},
    "results": list[_BatchItemJson],
}
_BatchJson: Any = TypedDict("BatchJson", _BATCH_FIELDS)  # type: ignore[misc]
_BATCH_JSON: TypeAdapter[Any] = TypeAdapter(_BatchJson)
# The order an item's dict is built in below (pydantic writes a dict's keys in its order).
ITEM_FIELDS = ("index", "status", "error", "feedback")


def batch_result_json(outcomes: Sequence[tuple[dict[str, Any], bool] | AppError]) -> bytes:
    """The JSON of BatchResult for one outcome per item: a stored vote's answer
    (`answer_fields`: FeedbackOut's fields in order, with `rating`, ids as text) and
    whether it is new (201) or replaced one (200), or the error that refused the item. The
    same bytes as `BatchResult.model_validate(...).model_dump_json()`, with no model in
    between."""
    items: list[dict[str, Any]] = []
    created = replaced = 0
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, AppError):
            error = {"index": index, "status": outcome.status_code, "error": outcome.message}
            items.append({**error, "feedback": None})
            continue
        answer, new = outcome
        if new:
            created += 1
        else:
            replaced += 1
        status = 201 if new else 200
        items.append({"index": index, "status": status, "error": None, "feedback": answer})
    return _BATCH_JSON.dump_json(
        {
            "created": created,
            "replaced": replaced,
            "failed": len(items) - created - replaced,
            "results": items,
        }
    )
