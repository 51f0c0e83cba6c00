from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.kit.models import Base, created_at_column, uuid_pk
from feedback_api.kit.search import search_column, search_index


class Feedback(Base):
    """A person's vote on one interaction: the thumb, optional stars, reasons, a comment and
    a correction (the answer the user wanted)."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
        # One vote per user per interaction; anonymous votes (NULL user) count as one voter,
        # so a second anonymous vote on the same interaction replaces the first.
        UniqueConstraint(
            "interaction_id",
            "user_id",
            name="uq_feedback_interaction_user",
            postgresql_nulls_not_distinct=True,
        ),
        # Newest first by (created_at, id), the list's order and its keyset: a page, and a
        # search's walk of the newest votes, read the index in order, with no sort.
        Index("ix_feedback_created_at", "created_at", "id"),
        Index("ix_feedback_user_id", "user_id"),
        # `reason=` filters with `reasons @> ARRAY[...]`, which a GIN index on the array serves.
        Index("ix_feedback_reasons", "reasons", postgresql_using="gin"),
        search_index("ix_feedback_search", "search_words"),
        search_index("ix_feedback_exchange_search", "exchange_words"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    interaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE")
    )
    is_helpful: Mapped[bool]
    stars: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    # Labels of the project's label set (reasons/), merged and checked before they get here.
    # An array on the row: no second table for the vote statement to write, and the rollup
    # reads it with unnest().
    reasons: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]"), default=list
    )
    correction: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(255))
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb"), default=dict
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)
    # The explorer's word search (GET /v1/feedback?q=, kit/search.py): what the voter wrote.
    search_words: Mapped[Any] = search_column("comment", "correction")
    # The words of the vote's exchange (its question and answer: the interaction's
    # search_words), copied by the statement that writes the vote (an exchange's texts never
    # change): so a search reads one row per vote, not two (docs/explorer.md). Never sent
    # by a client, never shown.
    exchange_words: Mapped[Any] = mapped_column(
        TSVECTOR, server_default=text("''::tsvector"), nullable=False, deferred=True
    )
