"""the estimate of accuracy's sums: every answer and vote shares per hour and day, and the
sampled answers as the refresher saw them

answer_hours held the votes on each hour's answers, with a row only for segments with votes.
It now has a row for every segment with answers: `answers` counts them all, `share_sum` and
`share_squares` sum each voted answer's share of thumbs-up and its square, so the estimate
of accuracy sums an hour row instead of scanning the hour's answers; daily_metrics sums the
two per day (its `total_queries` counts every answer). `sampled_answers` keeps each
random-sample item's answer (logged when, its segment, votes and thumbs-up) as the refresher
saw it. The next refresh after this upgrade (or downgrade) is a full one, which fills the
new columns and the new table.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 23:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHARES = (("share_sum", sa.Numeric()), ("share_squares", sa.Numeric()))
_COLUMNS = (
    ("answer_hours", (("answers", sa.BigInteger()), *_SHARES)),
    ("daily_metrics", _SHARES),
)


def upgrade() -> None:
    op.create_table(
        "sampled_answers",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("answer_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("intent", sa.String(length=200), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["review_items.id"],
            name=op.f("fk_sampled_answers_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_sampled_answers")),
    )
    op.create_index("ix_sampled_answers_answer_at", "sampled_answers", ["answer_at"])
    for table, columns in _COLUMNS:
        for name, type_ in columns:
            # Zero in the rows there are until the full refresh recomputes them.
            op.add_column(table, sa.Column(name, type_, server_default="0", nullable=False))
            op.alter_column(table, name, server_default=None)
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")


def downgrade() -> None:
    op.drop_table("sampled_answers")
    for table, columns in _COLUMNS:
        for name, _ in columns:
            op.drop_column(table, name)
    op.execute("DELETE FROM answer_hours WHERE interactions_with_feedback = 0")
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")
