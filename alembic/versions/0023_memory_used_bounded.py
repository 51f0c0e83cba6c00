"""memory_used above 1e15 (or not a number) becomes unknown

Requests may send memory_used up to 1e15 (kit.fields.MEASURE_MAX). Before that bound, a value
near the largest double was accepted, and the analytics refresh summed two of them into an
overflow that failed every refresh after it. Such values are no measurement: they become
NULL (unknown), as if they had not been sent; where any was, the next refresh is a full
rebuild, so that no kept sum still holds one. The downgrade leaves them unknown: the values
are not kept anywhere.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 23:50:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as every migration's SQL: kit.fields.MEASURE_MAX when this was written.
MEASURE_MAX = "1e15"


def upgrade() -> None:
    # PostgreSQL orders NaN above every number, Infinity included: one comparison. Sums kept
    # before (a single huge value summed without overflowing) may still hold such values, and
    # no change is logged for their hours: where any was forgotten, the next refresh rebuilds
    # everything (elsewhere the upgrade costs no rebuild).
    op.execute(
        "WITH forgotten AS (UPDATE interactions SET memory_used = NULL"
        f" WHERE memory_used > {MEASURE_MAX} RETURNING 1)"
        " UPDATE analytics_refresh SET full_rebuild_at = NULL WHERE EXISTS (SELECT FROM forgotten)"
    )


def downgrade() -> None:
    pass
