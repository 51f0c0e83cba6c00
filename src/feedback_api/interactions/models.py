from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, cast, func, literal_column, text
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


def exchange_key(meta: Any, query: Any, response: Any) -> Any:
    """A 128-bit digest of an exchange's system prompt, question and answer (NULL and ''
    apart, each text's length before it so no two triples run together): equal for identical
    exchanges. Exports group votes by it; `ix_interactions_exchange_key` finds an exchange's
    twins with one index lookup, so a dataset streams without sorting the window first."""
    # Constants written into the SQL, not bound: the planner matches the index's expression
    # only when the query's is the same text.
    colon, none, empty, key = (
        literal_column(f"'{c}'", Text) for c in (":", "none", "", "system_prompt")
    )
    system = meta.op("->>", return_type=Text)(key)
    parts = [
        func.coalesce(cast(func.length(system), Text), none), colon, func.coalesce(system, empty),
        cast(func.length(query), Text), colon, query, response,
    ]  # fmt: skip
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(part)
    return func.md5(joined)


_columns = Interaction.__table__.c
Index(
    "ix_interactions_exchange_key",
    exchange_key(_columns.metadata, _columns.query, _columns.response),
)
