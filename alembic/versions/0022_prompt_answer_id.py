"""exports look one step back: the exchange's id closes ix_interactions_prompt_answer

ix_interactions_prompt_answer gains the exchange's id after its two digests: an exchange's
twins are then read in id order, so an export finds the twin just before an exchange in one
backward step of the index and never reads all of a popular example's twins for each of its
votes
(docs/decisions/025-the-first-vote-writes-the-example.md).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 18:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROMPT_KEY = (
    "CAST(md5(((coalesce(CAST(length(metadata ->> 'system_prompt') AS TEXT), 'none') || ':') "
    "|| coalesce(metadata ->> 'system_prompt', '')) || query) AS UUID)"
)
ANSWER_KEY = "CAST(md5(response) AS UUID)"


def _rebuild(*columns: sa.TextClause | str) -> None:
    op.drop_index("ix_interactions_prompt_answer", table_name="interactions")
    op.create_index("ix_interactions_prompt_answer", "interactions", list(columns), unique=False)
    # The statistics of the index's expressions, which the export's plan relies on.
    op.execute("ANALYZE interactions")


def upgrade() -> None:
    _rebuild(sa.text(PROMPT_KEY), sa.text(ANSWER_KEY), "id")


def downgrade() -> None:
    _rebuild(sa.text(PROMPT_KEY), sa.text(ANSWER_KEY))
