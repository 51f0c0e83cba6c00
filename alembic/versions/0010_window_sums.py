"""window sums: the kept windows' whole-hour sums of votes and of last casts; last casts by cell key

vote_windows and member_windows hold, per window and segment, the sums of vote_hours and
member_hours over the window's whole hours, so that a refresh reads a row per segment
instead of a row per segment and hour. They start empty: the next refresh after this
upgrade is a full one, which fills them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# models.cell_key over the table's own columns, as the migration creates it.
CELL_KEY = (
    "CAST(md5(CAST(grouping AS TEXT) || '|' "
    "|| coalesce(CAST(length(model) AS TEXT) || ':' || model, '-') || '|' "
    "|| coalesce(CAST(length(intent) AS TEXT) || ':' || intent, '-') || '|' "
    "|| coalesce(CAST(length(project) AS TEXT) || ':' || project, '-')) AS UUID)"
)


def upgrade() -> None:
    op.create_table(
        "vote_windows",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("days", sa.SmallInteger(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("intent", sa.String(length=200), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("positive", sa.BigInteger(), nullable=False),
        sa.Column("negative", sa.BigInteger(), nullable=False),
        sa.Column("stars_sum", sa.BigInteger(), nullable=False),
        sa.Column("stars_count", sa.BigInteger(), nullable=False),
        sa.Column("memory_sum", sa.Float(), nullable=False),
        sa.Column("memory_count", sa.BigInteger(), nullable=False),
        sa.Column("response_time_sum", sa.BigInteger(), nullable=False),
        sa.Column("response_time_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vote_windows")),
    )
    op.create_index(
        "uq_vote_windows_grain",
        "vote_windows",
        ["days", "model", "intent", "project"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "member_windows",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("days", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("grouping", sa.SmallInteger(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("intent", sa.String(length=200), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_windows")),
    )
    op.create_index(
        "uq_member_windows_grain",
        "member_windows",
        ["days", "kind", "grouping", "model", "intent", "project"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "reason_hours",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("intent", sa.String(length=200), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("up_votes", sa.BigInteger(), nullable=False),
        sa.Column("down_votes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reason_hours")),
    )
    op.create_index(
        "uq_reason_hours_grain",
        "reason_hours",
        ["hour", "model", "intent", "project", "reason"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.add_column(
        "analytics_refresh",
        sa.Column("windows", postgresql.ARRAY(sa.SmallInteger()), nullable=True),
    )
    # Last casts are looked up by a key of their cell (models.cell_key), an equality that an
    # index serves. The rollups start again: the next refresh rebuilds everything.
    op.execute("TRUNCATE member_last_casts, member_hours")
    op.drop_index(
        "uq_member_last_casts_grain",
        table_name="member_last_casts",
        postgresql_nulls_not_distinct=True,
    )
    op.drop_column("member_last_casts", "id")
    op.add_column(
        "member_last_casts",
        sa.Column("cell", sa.Uuid(), sa.Computed(CELL_KEY, persisted=True), nullable=False),
    )
    op.create_primary_key("pk_member_last_casts", "member_last_casts", ["kind", "member", "cell"])
    op.add_column(
        "member_last_casts", sa.Column("prev_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Room on each page for the new versions of its rows (docs/decisions/008-last-cast-keys.md).
    op.execute("ALTER TABLE member_last_casts SET (fillfactor = 70)")
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")


def downgrade() -> None:
    op.drop_index(
        "uq_reason_hours_grain", table_name="reason_hours", postgresql_nulls_not_distinct=True
    )
    op.drop_table("reason_hours")
    op.execute("TRUNCATE member_last_casts, member_hours")
    op.execute("UPDATE analytics_refresh SET full_rebuild_at = NULL")
    op.execute("ALTER TABLE member_last_casts RESET (fillfactor)")
    op.drop_constraint("pk_member_last_casts", "member_last_casts", type_="primary")
    op.drop_column("member_last_casts", "prev_at")
    op.drop_column("member_last_casts", "cell")
    op.execute("ALTER TABLE member_last_casts ADD COLUMN id bigserial")
    op.create_primary_key("pk_member_last_casts", "member_last_casts", ["id"])
    op.create_index(
        "uq_member_last_casts_grain",
        "member_last_casts",
        ["kind", "member", "grouping", "model", "intent", "project"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.drop_column("analytics_refresh", "windows")
    op.drop_index(
        "uq_member_windows_grain", table_name="member_windows", postgresql_nulls_not_distinct=True
    )
    op.drop_table("member_windows")
    op.drop_index(
        "uq_vote_windows_grain", table_name="vote_windows", postgresql_nulls_not_distinct=True
    )
    op.drop_table("vote_windows")
