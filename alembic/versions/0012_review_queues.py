"""review queues: queues, sample rules and triggers, items with their inclusion probability,
slots and their leases, assignments, versioned labels and each item's consensus

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 12:27:40.666236+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_queues",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("instructions", sa.Text(), server_default="", nullable=False),
        sa.Column("reviewers_per_item", sa.SmallInteger(), nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("closed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "lease_seconds BETWEEN 30 AND 86400", name=op.f("ck_review_queues_lease_seconds_range")
        ),
        sa.CheckConstraint(
            "reviewers_per_item BETWEEN 1 AND 5",
            name=op.f("ck_review_queues_reviewers_per_item_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_review_queues_name")),
    )
    op.create_table(
        "review_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("intent", sa.String(length=200), nullable=True),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("vote_is_helpful", sa.Boolean(), nullable=True),
        sa.Column("vote_reason", sa.String(length=40), nullable=True),
        sa.Column("vote_with_comment", sa.Boolean(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hash_key", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scanned_to", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(kind = 'sample') = (sample_rate IS NOT NULL)",
            name=op.f("ck_review_rules_sample_has_rate"),
        ),
        sa.CheckConstraint(
            "kind IN ('sample', 'trigger')", name=op.f("ck_review_rules_kind_known")
        ),
        sa.CheckConstraint(
            "sample_rate > 0 AND sample_rate <= 1", name=op.f("ck_review_rules_sample_rate_range")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.id"],
            name=op.f("fk_review_rules_queue_id_review_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_rules")),
    )
    op.create_index("ix_review_rules_queue_id", "review_rules", ["queue_id"], unique=False)
    op.create_table(
        "review_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("inclusion_probability", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=24), server_default="open", nullable=False),
        sa.Column("labels", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("correct", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("incorrect", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column(
            "reviewers",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("consensus", sa.String(length=16), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(inclusion_probability IS NULL) OR (source = 'sample')",
            name=op.f("ck_review_items_probability_of_sample"),
        ),
        sa.CheckConstraint(
            "source IN ('manual', 'sample', 'trigger')", name=op.f("ck_review_items_source_known")
        ),
        sa.CheckConstraint(
            "state IN ('open', 'done', 'needs_adjudication')",
            name=op.f("ck_review_items_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_review_items_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.id"],
            name=op.f("fk_review_items_queue_id_review_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["review_rules.id"],
            name=op.f("fk_review_items_rule_id_review_rules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint(
            "queue_id", "interaction_id", name=op.f("uq_review_items_queue_id_interaction_id")
        ),
    )
    op.create_index(
        "ix_review_items_claim",
        "review_items",
        ["queue_id", sa.literal_column("labels DESC"), "created_at", "interaction_id"],
        unique=False,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index(
        "ix_review_items_interaction_id", "review_items", ["interaction_id"], unique=False
    )
    op.create_index("ix_review_items_rule_id", "review_items", ["rule_id"], unique=False)
    op.create_table(
        "review_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("reviewer", sa.Text(), nullable=False),
        sa.Column("lease_token", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="active", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('active', 'submitted', 'released', 'declined')",
            name=op.f("ck_review_assignments_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["review_items.id"],
            name=op.f("fk_review_assignments_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_assignments")),
    )
    op.create_index(
        "ix_review_assignments_item_id", "review_assignments", ["item_id"], unique=False
    )
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=True),
        sa.Column("reviewer", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column(
            "reasons",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("adjudication", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("written_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "verdict IN ('correct', 'incorrect')", name=op.f("ck_review_labels_verdict_known")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["review_items.id"],
            name=op.f("fk_review_labels_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_labels")),
    )
    op.create_index(
        "uq_review_labels_item_reviewer",
        "review_labels",
        ["item_id", "reviewer"],
        unique=True,
        postgresql_where=sa.text("NOT adjudication"),
    )
    op.create_table(
        "review_slots",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("assignment_id", sa.Uuid(), nullable=True),
        sa.Column("lease_token", sa.Uuid(), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("labelled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["review_items.id"],
            name=op.f("fk_review_slots_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", "slot", name=op.f("pk_review_slots")),
    )
    op.create_table(
        "review_label_versions",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("label_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("written_by", sa.Text(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["review_labels.id"],
            name=op.f("fk_review_label_versions_label_id_review_labels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_label_versions")),
    )
    op.create_index(
        "ix_review_label_versions_label_id",
        "review_label_versions",
        ["label_id", "version"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_review_label_versions_label_id", table_name="review_label_versions")
    op.drop_table("review_label_versions")
    op.drop_table("review_slots")
    op.drop_index(
        "uq_review_labels_item_reviewer",
        table_name="review_labels",
        postgresql_where=sa.text("NOT adjudication"),
    )
    op.drop_table("review_labels")
    op.drop_index("ix_review_assignments_item_id", table_name="review_assignments")
    op.drop_table("review_assignments")
    op.drop_index("ix_review_items_rule_id", table_name="review_items")
    op.drop_index("ix_review_items_interaction_id", table_name="review_items")
    op.drop_index(
        "ix_review_items_claim",
        table_name="review_items",
        postgresql_where=sa.text("state = 'open'"),
    )
    op.drop_table("review_items")
    op.drop_index("ix_review_rules_queue_id", table_name="review_rules")
    op.drop_table("review_rules")
    op.drop_table("review_queues")
