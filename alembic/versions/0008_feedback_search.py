"""feedback search: trigram indexes over the texts the explorer searches

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

# (table, column): GET /v1/feedback?q= matches each with ILIKE '%q%' (docs/explorer.md).
SEARCHED = (
    ("interactions", "query"),
    ("interactions", "response"),
    ("feedback", "comment"),
)


def upgrade() -> None:
    # Ships with PostgreSQL (contrib) and with the embedded server; trusted since PG 13, so
    # a database owner without superuser rights may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column in SEARCHED:
        op.create_index(
            f"ix_{table}_{column}_trgm",
            table,
            [column],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    for table, column in reversed(SEARCHED):
        op.drop_index(f"ix_{table}_{column}_trgm", table_name=table, postgresql_using="gin")
    # Nothing else in the schema uses it.
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
