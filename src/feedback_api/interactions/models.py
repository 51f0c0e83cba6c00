from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    UUID,
    CheckConstraint,
    ColumnElement,
    Index,
    String,
    Text,
    and_,
    cast,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.kit.models import Base, created_at_column, uuid_pk
from feedback_api.kit.search import search_column


class Interaction(Base):
    """One exchange of the chat product: a question, its answer and their context."""

    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint("response_time_ms >= 0", name="response_time_non_negative"),
        # Analysts filter by model, then intent and project, over a time window.
        Index("ix_interactions_model_intent_project", "model", "intent", "project"),
        Index("ix_interactions_created_at", "created_at"),
        Index("ix_interactions_user_id", "user_id"),
        Index("ix_interactions_session_id", "session_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    query: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    response_time_ms: Mapped[int | None]
    sources_used: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True))
    tools_called: Mapped[list[str]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb"), default=list
    )
    memory_used: Mapped[float | None]
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb"), default=dict
    )
    created_at: Mapped[datetime] = created_at_column()
    # The words of question and answer, which each vote on the exchange copies into its own
    # search words (feedback.exchange_words; GET /v1/feedback?q=, kit/search.py). No index:
    # the search reads the votes' index.
    search_words: Mapped[Any] = search_column("query", "response")


# What `INSERT ... ON CONFLICT (request_id) DO UPDATE` sets when the interaction exists: a
# no-op, so that RETURNING yields the stored row. It must not name a column of any unique
# index (request_id, id): that would lock the row FOR UPDATE, which conflicts with the
# FOR KEY SHARE lock every vote's foreign-key check takes, and two concurrent writers each
# holding one of those locks deadlock. Updating an unindexed column locks FOR NO KEY UPDATE.
REUSE_INTERACTION = {"response_time_ms": Interaction.__table__.c.response_time_ms}


def _digest(text_value: Any) -> Any:
    """A 128-bit digest of a text, as a uuid: 16 bytes in an index entry, compared bytewise."""
    return cast(func.md5(text_value), UUID)


def prompt_key(meta: Any, query: Any) -> Any:
    """A 128-bit digest of an exchange's system prompt and question (NULL and '' apart, the
    system prompt's length before it so the two texts never run together): equal for the
    exchanges that answer the same prompt."""
    # Constants written into the SQL, not bound: the planner matches the index's expression
    # only when the query's is the same expression, and a bound value is a parameter.
    colon, none, empty, key = (
        literal_column(f"'{c}'", Text) for c in (":", "none", "", "system_prompt")
    )
    system = meta.op("->>", return_type=Text)(key)
    parts = [
        func.coalesce(cast(func.length(system), Text), none), colon, func.coalesce(system, empty),
        query,
    ]  # fmt: skip
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(part)
    return _digest(joined)


def answer_key(response: Any) -> Any:
    """A 128-bit digest of an exchange's answer."""
    return _digest(response)


def same_exchange(exchange: Any, other: Any) -> ColumnElement[bool]:
    """`exchange` and `other` (interactions or aliases) have the same system prompt, question
    and answer: their twins. One lookup of `ix_interactions_prompt_answer`."""
    return and_(
        prompt_key(exchange.meta, exchange.query) == prompt_key(other.meta, other.query),
        answer_key(exchange.response) == answer_key(other.response),
    )


_columns = Interaction.__table__.c
# An exchange's twins (both keys equal) and the other answers to its prompt (the first key):
# exports group votes by them, one index lookup each, so a dataset streams without reading
# the window first. The id last: twins and answers in id order, so the one just before an
# exchange is one backward step (`exports.canonical`).
Index(
    "ix_interactions_prompt_answer",
    prompt_key(_columns.metadata, _columns.query),
    answer_key(_columns.response),
    _columns.id,
)
