"""pair exports stream: one index on each exchange's prompt and answer digests

ix_interactions_prompt_answer (the digest of the system prompt and question, then the
digest of the answer) replaces ix_interactions_exchange_key (one digest of all three): an
exchange's twins are one lookup of both keys, the other answers to its prompt one lookup of
the first, so the pair formats stream prompt by prompt as the others stream example by
example.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 03:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROMPT_KEY = (
    "CAST(md5(((coalesce(CAST(length(metadata ->> 'system_prompt') AS TEXT), 'none') || ':') "
    "|| coalesce(metadata ->> 'system_prompt', '')) || query) AS UUID)"
)
ANSWER_KEY = "CAST(md5(response) AS UUID)"
EXCHANGE_KEY = (
    "md5((((((coalesce(CAST(length(metadata ->> 'system_prompt') AS TEXT), 'none') || ':') "
    "|| coalesce(metadata ->> 'system_prompt', '')) || CAST(length(query) AS TEXT)) || ':') "
    "|| query) || response)"
)


def upgrade() -> None:
    op.drop_index("ix_interactions_exchange_key", table_name="interactions")
    op.create_index(
        "ix_interactions_prompt_answer",
        "interactions",
        [sa.text(PROMPT_KEY), sa.text(ANSWER_KEY)],
        unique=False,
    )
    # The statistics of the new index's expressions, which the export's plan relies on.
    op.execute("ANALYZE interactions")


def downgrade() -> None:
    op.drop_index("ix_interactions_prompt_answer", table_name="interactions")
    op.create_index(
        "ix_interactions_exchange_key", "interactions", [sa.text(EXCHANGE_KEY)], unique=False
    )
    op.execute("ANALYZE interactions")
