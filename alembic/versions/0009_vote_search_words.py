"""feedback search: each vote carries the words of its exchange, one index for the search

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

_OWN = "to_tsvector('simple'::regconfig, coalesce(comment, '') || ' ' || coalesce(correction, ''))"


def _search_words(expression: str) -> None:
    # A stored generated column: added, it rewrites the table once (which also leaves out
    # the dead rows of the copy before it).
    op.add_column(
        "feedback",
        sa.Column(
            "search_words",
            postgresql.TSVECTOR(),
            sa.Computed(expression, persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_feedback_search", "feedback", ["search_words"], unique=False, postgresql_using="gin"
    )


def upgrade() -> None:
    op.drop_index("ix_feedback_search", table_name="feedback", postgresql_using="gin")
    op.drop_column("feedback", "search_words")
    op.add_column(
        "feedback",
        sa.Column(
            "exchange_words",
            postgresql.TSVECTOR(),
            server_default=sa.text("''::tsvector"),
            nullable=False,
        ),
    )
    feedback = sa.table("feedback", sa.column("interaction_id"), sa.column("exchange_words"))
    interactions = sa.table("interactions", sa.column("id"), sa.column("search_words"))
    op.execute(
        feedback.update()
        .values(exchange_words=interactions.c.search_words)
        .where(interactions.c.id == feedback.c.interaction_id)
    )
    _search_words(f"exchange_words || {_OWN}")
    # The search reads the votes' index only.
    op.drop_index("ix_interactions_search", table_name="interactions", postgresql_using="gin")


def downgrade() -> None:
    op.create_index(
        "ix_interactions_search",
        "interactions",
        ["search_words"],
        unique=False,
        postgresql_using="gin",
    )
    op.drop_index("ix_feedback_search", table_name="feedback", postgresql_using="gin")
    op.drop_column("feedback", "search_words")
    op.drop_column("feedback", "exchange_words")
    _search_words(_OWN)
