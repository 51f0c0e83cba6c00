"""reasons and corrections: the vote's reasons and correction, project label sets, the
daily rollup of votes per reason

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01 22:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "feedback",
        sa.Column(
            "reasons",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )
    op.add_column("feedback", sa.Column("correction", sa.Text(), nullable=True))
    op.create_index(
        "ix_feedback_reasons", "feedback", ["reasons"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "project_reasons",
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("project", name=op.f("pk_project_reasons")),
    )
    op.create_table(
        "daily_reasons",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grouping", sa.SmallInteger(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("intent", sa.String(length=200), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("up_votes", sa.BigInteger(), nullable=False),
        sa.Column("down_votes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_reasons")),
    )
    op.create_index(
        "uq_daily_reasons_grain",
        "daily_reasons",
        ["day", "grouping", "model", "intent", "project", "reason"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.drop_index(
        "uq_daily_reasons_grain", table_name="daily_reasons", postgresql_nulls_not_distinct=True
    )
    op.drop_table("daily_reasons")
    op.drop_table("project_reasons")
    op.drop_index("ix_feedback_reasons", table_name="feedback", postgresql_using="gin")
    op.drop_column("feedback", "correction")
    op.drop_column("feedback", "reasons")
