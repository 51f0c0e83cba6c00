"""feedback search: each vote carries the words of its exchange, with their index; the
list's (created_at, id) order from one index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "feedback",
        sa.Column(
            "exchange_words",
            postgresql.TSVECTOR(),
            server_default=sa.text("''::tsvector"),
            nullable=False,
        ),
    )
    # The words of the votes cast so far (one pass over the votes; the vote statement copies
    # them from now on).
    feedback = sa.table("feedback", sa.column("interaction_id"), sa.column("exchange_words"))
    interactions = sa.table("interactions", sa.column("id"), sa.column("search_words"))
    op.execute(
        feedback.update()
        .values(exchange_words=interactions.c.search_words)
        .where(interactions.c.id == feedback.c.interaction_id)
    )
    op.create_index(
        "ix_feedback_exchange_search",
        "feedback",
        ["exchange_words"],
        unique=False,
        postgresql_using="gin",
    )
    # The search reads the votes' indexes only.
    op.drop_index("ix_interactions_search", table_name="interactions", postgresql_using="gin")
    # The list's order, (created_at, id), read from the index with no sort.
    _created_at_index("created_at", "id")


def _created_at_index(*columns: str) -> None:
    op.drop_index("ix_feedback_created_at", table_name="feedback")
    op.create_index("ix_feedback_created_at", "feedback", list(columns), unique=False)


def downgrade() -> None:
    _created_at_index("created_at")
    op.create_index(
        "ix_interactions_search",
        "interactions",
        ["search_words"],
        unique=False,
        postgresql_using="gin",
    )
    op.drop_index("ix_feedback_exchange_search", table_name="feedback", postgresql_using="gin")
    op.drop_column("feedback", "exchange_words")
