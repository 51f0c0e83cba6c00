"""answer hours: the votes on each hour's answers, so daily vote figures follow an hour

daily_metrics' vote columns become sums of answer_hours, recomputed per hour of the
interactions a vote is on; the change log names that hour (answer_hour) instead of its day.
Only a write of interactions recomputes a whole day (p95 and unique users are the day's).
answer_hours starts empty: the next refresh after this upgrade is a full one, which fills it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_hours",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("intent", sa.String(length=200), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("feedback_count", sa.BigInteger(), nullable=False),
        sa.Column("interactions_with_feedback", sa.BigInteger(), nullable=False),
        sa.Column("positive", sa.BigInteger(), nullable=False),
        sa.Column("negative", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_hours")),
    )
    op.create_index(
        "uq_answer_hours_grain",
        "answer_hours",
        ["hour", "model", "intent", "project"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    # The logged days become hours. Rows logged before the upgrade are taken by the full
    # refresh that follows, which recomputes everything: their day is not needed.
    op.drop_column("analytics_changes", "day")
    op.add_column(
        "analytics_changes", sa.Column("answer_hour", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")


def downgrade() -> None:
    op.drop_column("analytics_changes", "answer_hour")
    op.add_column("analytics_changes", sa.Column("day", sa.Date(), nullable=True))
    op.drop_index("uq_answer_hours_grain", table_name="answer_hours")
    op.drop_table("answer_hours")
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")
