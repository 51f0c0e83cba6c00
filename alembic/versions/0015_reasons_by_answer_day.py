"""votes per reason counted on the answer's day

reason_hours and daily_reasons counted a vote in the hour and day it was cast; they count it
in the hour and day of the answer voted on, like daily_metrics and the weekly report, so a
day's reasons and its down-votes are the same votes. No column changes: the next refresh
after this upgrade (or downgrade) is a full one, which rebuilds both tables.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 19:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")


def downgrade() -> None:
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")
