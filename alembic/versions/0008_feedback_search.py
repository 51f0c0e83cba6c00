"""feedback search: the words of votes and exchanges, stored and indexed for the explorer

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table, the columns whose words GET /v1/feedback?q= searches (feedback_api.kit.search).
SEARCHED = (
    ("interactions", ("query", "response")),
    ("feedback", ("comment", "correction")),
)


def _document(columns: Sequence[str]) -> str:
    joined = " || ' ' || ".join(f"coalesce({column}, '')" for column in columns)
    return f"to_tsvector('simple'::regconfig, {joined})"


def upgrade() -> None:
    # A stored generated column rewrites its table once, here; then PostgreSQL keeps it.
    for table, columns in SEARCHED:
        op.add_column(
            table,
            sa.Column(
                "search_words",
                postgresql.TSVECTOR(),
                sa.Computed(_document(columns), persisted=True),
                nullable=True,
            ),
        )
        op.create_index(
            f"ix_{table}_search", table, ["search_words"], unique=False, postgresql_using="gin"
        )


def downgrade() -> None:
    for table, _ in reversed(SEARCHED):
        op.drop_index(f"ix_{table}_search", table_name=table, postgresql_using="gin")
        op.drop_column(table, "search_words")
