"""export redaction: whether an export run's dataset was redacted, and what it redacted

`redacted` is false for the runs written before exports redacted anything (they were not);
`redactions` holds the counts per entity type and the number of examples with any.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 19:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "export_runs",
        sa.Column("redacted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "export_runs",
        sa.Column("redactions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("export_runs", "redactions")
    op.drop_column("export_runs", "redacted")
