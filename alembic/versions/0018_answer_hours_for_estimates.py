"""answer_hours for the estimate of accuracy: every answer, and the sums of its vote share

answer_hours held the votes on each hour's answers, with a row only for segments with votes.
It now has a row for every segment with answers: `answers` counts them all, `share_sum` and
`share_squares` sum each voted answer's share of thumbs-up and its square, so the estimate
of accuracy sums an hour row instead of scanning the hour's answers. The next refresh after
this upgrade (or downgrade) is a full one, which fills the new columns.

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

_COLUMNS = (
    ("answers", sa.BigInteger()),
    ("share_sum", sa.Numeric()),
    ("share_squares", sa.Numeric()),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        # Zero for the rows there are until the full refresh recomputes them.
        op.add_column("answer_hours", sa.Column(name, type_, server_default="0", nullable=False))
        op.alter_column("answer_hours", name, server_default=None)
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("answer_hours", name)
    op.execute("DELETE FROM answer_hours WHERE interactions_with_feedback = 0")
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")
