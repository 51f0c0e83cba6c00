"""streamed exports: an index on each exchange's digest

ix_interactions_exchange_key lets an export find an exchange's identical twins with one
index lookup, so a dataset streams from its first vote instead of grouping the whole window
first.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 12:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXCHANGE_KEY = (
    "md5((((((coalesce(CAST(length(metadata ->> 'system_prompt') AS TEXT), 'none') || ':') "
    "|| coalesce(metadata ->> 'system_prompt', '')) || CAST(length(query) AS TEXT)) || ':') "
    "|| query) || response)"
)


def upgrade() -> None:
    op.create_index(
        "ix_interactions_exchange_key", "interactions", [sa.text(EXCHANGE_KEY)], unique=False
    )
    # The statistics of the new index's expression, which the export's plan relies on.
    op.execute("ANALYZE interactions")


def downgrade() -> None:
    op.drop_index("ix_interactions_exchange_key", table_name="interactions")
