"""corrections in the rollups; unique counts named for whose they are

Votes that carry a correction become a figure of the daily metrics and the windows' stats:
`corrections` in vote_hours, vote_windows, window_stats, answer_hours and daily_metrics.
daily_metrics.unique_users (people who asked) becomes unique_askers, and
window_stats.unique_users (people who voted) unique_voters, as the API names them. The new
columns start at zero: the next refresh after this upgrade is a full one, which fills them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 12:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WITH_CORRECTIONS = ("vote_hours", "vote_windows", "window_stats", "answer_hours", "daily_metrics")
_RENAMED = (("daily_metrics", "unique_users", "unique_askers"),
            ("window_stats", "unique_users", "unique_voters"))  # fmt: skip


def upgrade() -> None:
    for table in _WITH_CORRECTIONS:
        # A default fills the existing rows; the refresher always writes the column.
        op.add_column(
            table, sa.Column("corrections", sa.BigInteger(), nullable=False, server_default="0")
        )
        op.alter_column(table, "corrections", server_default=None)
    for table, old, new in _RENAMED:
        op.alter_column(table, old, new_column_name=new)
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")


def downgrade() -> None:
    for table, old, new in _RENAMED:
        op.alter_column(table, new, new_column_name=old)
    for table in _WITH_CORRECTIONS:
        op.drop_column(table, "corrections")
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")
