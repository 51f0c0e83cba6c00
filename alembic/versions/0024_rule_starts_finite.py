"""Review rules that start at -infinity or infinity start at the nearest finite instant

A rule's `since` could be the first or the last instant of the years 1-9999, which the
database driver writes as -infinity and infinity and reads back as a time without a zone:
every estimated accuracy, weekly report and estimated comparison then failed on comparing it.
Requests refuse those two instants now (kit.fields.StoredInstant); stored ones move one
microsecond inwards, which selects the same answers. The downgrade leaves them so.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 02:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE review_rules SET since = CASE WHEN since = '-infinity'"
        " THEN timestamptz '0001-01-01 00:00:00.000001+00'"
        " ELSE timestamptz '9999-12-31 23:59:59.999998+00' END"
        " WHERE since IN ('-infinity', 'infinity')"
    )


def downgrade() -> None:
    pass
