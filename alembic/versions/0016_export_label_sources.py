"""export runs: what labelled their examples, and how many each source gave

export_runs gains label_source (votes, reviews or both), from_votes, from_reviews and
skipped_disagreement. Runs written before this revision were labelled by votes alone: they
get label_source 'votes' and from_votes = examples.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 19:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("from_votes", "from_reviews", "skipped_disagreement")


def upgrade() -> None:
    # Defaults fill the existing rows; the service always writes the columns.
    op.add_column(
        "export_runs",
        sa.Column("label_source", sa.String(10), nullable=False, server_default="votes"),
    )
    for name in _COUNTS:
        op.add_column(
            "export_runs", sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute("UPDATE export_runs SET from_votes = examples")
    for name in ("label_source", *_COUNTS):
        op.alter_column("export_runs", name, server_default=None)


def downgrade() -> None:
    for name in reversed(("label_source", *_COUNTS)):
        op.drop_column("export_runs", name)
