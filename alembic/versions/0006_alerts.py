"""regression alerts and their webhook outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("intent", sa.String(length=200), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("baseline_rate", sa.Float(), nullable=False),
        sa.Column("baseline_ci_low", sa.Float(), nullable=False),
        sa.Column("baseline_ci_high", sa.Float(), nullable=False),
        sa.Column("recent_rate", sa.Float(), nullable=False),
        sa.Column("recent_ci_low", sa.Float(), nullable=False),
        sa.Column("recent_ci_high", sa.Float(), nullable=False),
        sa.Column("baseline_votes", sa.BigInteger(), nullable=False),
        sa.Column("recent_votes", sa.BigInteger(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_alerts_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_opened_at", "alerts", ["opened_at"], unique=False)
    # One open alert per segment, whatever runs concurrently.
    op.create_index(
        "uq_alerts_open_segment",
        "alerts",
        ["model", "intent", "project"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_deliveries_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
    )
    op.create_index(
        "ix_alert_deliveries_due",
        "alert_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("delivered_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_alert_deliveries_due",
        table_name="alert_deliveries",
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    op.drop_table("alert_deliveries")
    op.drop_index(
        "uq_alerts_open_segment",
        table_name="alerts",
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_index("ix_alerts_opened_at", table_name="alerts")
    op.drop_table("alerts")
