"""feedback search: full-text indexes over the texts the explorer searches

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-01 22:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name, table, the columns of its search document. GET /v1/feedback?q= matches each
# document with `@@ to_tsquery('simple', ...)`; the expression here is the one
# feedback_api.kit.search.document builds (an index serves only its very expression).
SEARCH_INDEXES = (
    ("ix_interactions_search", "interactions", ("query", "response")),
    ("ix_feedback_search", "feedback", ("comment",)),
)


def _document(columns: Sequence[str]) -> str:
    text = " || ' ' || ".join(f"coalesce({column}, '')" for column in columns)
    return f"to_tsvector('simple'::regconfig, {text})"


def upgrade() -> None:
    for name, table, columns in SEARCH_INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} USING gin ({_document(columns)})")


def downgrade() -> None:
    for name, _, _ in reversed(SEARCH_INDEXES):
        op.execute(f"DROP INDEX {name}")
