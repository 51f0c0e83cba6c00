from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from feedback_api.kit.batch import MAX_BATCH_ITEMS, BatchItemStatus
from feedback_api.kit.fields import (
    Identifier,
    JsonObject,
    JsonValue,
    Label,
    LongText,
    NonNegativeFloat,
    NonNegativeInt,
    RecordedAt,
    RequestId,
)


def _interaction_id(value: Any, handler: ValidatorFunctionWrapHandler) -> uuid.UUID:
    """Our id of an exchange; a value that is none is most likely the caller's request_id."""
    try:
        interaction_id: uuid.UUID = handler(value)
    except ValidationError:
        shown = str(value)[:128]
        raise ValueError(
            f"{shown!r} is not an interaction id (a UUID this API returned); to look an "
            f"exchange up by your own request_id, use GET /v1/interactions?request_id="
            f"{quote(shown, safe='')}"
        ) from None
    return interaction_id


InteractionId = Annotated[uuid.UUID, WrapValidator(_interaction_id)]


class ExchangeContext(BaseModel):
    """What describes one exchange, every field optional: a new context field goes here.

    The base of an interaction body (which requires query, response and model) and of
    feedback sent with its context; `interaction_values` maps it onto the columns.
    """

    model_config = ConfigDict(extra="forbid")

    query: LongText | None = None
    response: LongText | None = None
    model: Label | None = None
    intent: Label | None = Field(default=None, description="The router's intent, e.g. code.")
    project: Label | None = None
    user_id: Identifier | None = None
    session_id: Identifier | None = None
    response_time_ms: NonNegativeInt | None = None
    sources_used: JsonValue | None = Field(default=None, description="Any JSON: RAG sources.")
    tools_called: list[Label] | None = Field(default=None, description="Names of tools called.")
    memory_used: NonNegativeFloat | None = None
    metadata: JsonObject | None = Field(
        default=None, description="Free-form object; a `system_prompt` key is kept in exports."
    )


class InteractionContext(ExchangeContext):
    """What the chat backend knows about one exchange."""

    query: LongText = Field(description="The user's message.")
    response: LongText = Field(description="The assistant's answer.")
    model: Label = Field(description="The model that answered.")


class InteractionCreate(InteractionContext):
    request_id: RequestId | None = Field(
        default=None, description="The chat backend's id for the exchange; generated if absent."
    )
    created_at: RecordedAt | None = Field(
        default=None, description="ISO 8601; for backfilling history. Defaults to now."
    )


class InteractionOut(BaseModel):
    id: uuid.UUID
    request_id: str
    query: str
    response: str
    model: str
    intent: str | None
    project: str | None
    user_id: str | None
    session_id: str | None
    response_time_ms: int | None
    sources_used: Any | None
    tools_called: list[str]
    memory_used: float | None
    metadata: dict[str, Any]
    created_at: datetime


class InteractionCreated(BaseModel):
    id: uuid.UUID
    request_id: str
    created: bool = Field(description="False when the request_id was already logged.")
    created_at: datetime
    feedback_token: str | None = Field(
        default=None,
        description="Lets a browser vote on this interaction without an API key "
        "(X-Feedback-Token header or feedback_token field of POST /v1/feedback); its votes "
        "count as the vote of the user_id logged here. "
        "Null when the server has no FEEDBACK_SECRET_KEY.",
    )


class FeedbackTokenOut(BaseModel):
    """A feedback token for a logged interaction: its votes count as that interaction's user."""

    request_id: str
    feedback_token: str = Field(
        description="X-Feedback-Token header or feedback_token field of POST /v1/feedback."
    )
    expires_at: datetime


class InteractionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description="Up to 1,000 bodies of POST /v1/interactions. Give each a request_id: it is "
        "the item's idempotency key (sent again, the exchange is already stored, not a second "
        "row).",
    )


class InteractionBatchItemResult(BatchItemStatus):
    status: int = Field(
        description="201 logged, 200 already stored (the same exchange under this request_id), "
        "409 request_id taken by a different exchange, 422 refused."
    )
    interaction: InteractionCreated | None = None


class InteractionBatchResult(BaseModel):
    created: int
    existing: int = Field(description="Items already stored under their request_id (200).")
    failed: int
    results: list[InteractionBatchItemResult]
