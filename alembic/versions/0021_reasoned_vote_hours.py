"""votes with reasons per cast hour: where weighted's first line with reasons can be

vote_hours gains `reasoned`, the votes of its hour and segment that gave at least one reason,
so the weighted export reads only the hours of its window where such a vote was cast (and
those the refresh has not kept yet) to find its first example with reasons, instead of every
vote of the window when there is none (docs/decisions/022-first-lines-from-the-vote-hours.md).
Zero in the rows there are until the next refresh, a full one after this upgrade; the export
reads the votes themselves until then.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-06 03:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "vote_hours", sa.Column("reasoned", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.alter_column("vote_hours", "reasoned", server_default=None)
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")


def downgrade() -> None:
    op.drop_column("vote_hours", "reasoned")
