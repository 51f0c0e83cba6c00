"""Review queues: items (answers to review, with how they were chosen), slots (the places
an item has for reviewers, each leased to at most one), assignments (the leases handed
out), labels (versioned) and each item's consensus.

What an estimate of accuracy over every answer needs is here: a sampled item keeps its
rule and `inclusion_probability`; the rule keeps the population it sampled (its filters,
`since`, `stopped_at`) and the key of its hash, so membership can be recomputed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.analytics.segments import Segment
from feedback_api.kit.models import Base, created_at_column, uuid_pk

VERDICTS = ("correct", "incorrect")


class ReviewQueue(Base):
    __tablename__ = "review_queues"
    __table_args__ = (
        CheckConstraint("reviewers_per_item BETWEEN 1 AND 5", name="reviewers_per_item_range"),
        CheckConstraint("lease_seconds BETWEEN 30 AND 86400", name="lease_seconds_range"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    instructions: Mapped[str] = mapped_column(Text, server_default="")
    reviewers_per_item: Mapped[int] = mapped_column(SmallInteger)
    lease_seconds: Mapped[int]
    # Hides the users' votes and the other reviewers' labels until one's own label.
    blind: Mapped[bool]
    # Whose label set the reasons come from (None: the default set).
    project: Mapped[str | None] = mapped_column(String(200))
    closed: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReviewRule(Base):
    """How answers join a queue by themselves: a random sample of the answers logged from
    `since` on that match the filters (`sample_rate`), or a trigger on matching votes."""

    __tablename__ = "review_rules"
    __table_args__ = (
        CheckConstraint("kind IN ('sample', 'trigger')", name="kind_known"),
        CheckConstraint("(kind = 'sample') = (sample_rate IS NOT NULL)", name="sample_has_rate"),
        CheckConstraint("sample_rate > 0 AND sample_rate <= 1", name="sample_rate_range"),
        Index("ix_review_rules_queue_id", "queue_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    queue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_queues.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    sample_rate: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(200))
    # A trigger's vote: each condition optional.
    vote_is_helpful: Mapped[bool | None]
    vote_reason: Mapped[str | None] = mapped_column(String(40))
    vote_with_comment: Mapped[bool | None]
    # Answers (sample) or votes (trigger) from this time on.
    since: Mapped[datetime]
    # The key of the sample's hash: secret, so no client can choose request_ids that get in.
    hash_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    stopped_at: Mapped[datetime | None]
    # How far the rule job has looked (None: not yet, the first look reads back to since).
    scanned_to: Mapped[datetime | None]


class ReviewItem(Base):
    """An answer (an interaction) in a queue, at most once; its labels' counts and consensus
    live on the row, so a claim or a submit decides from the row it locks."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("queue_id", "interaction_id"),
        CheckConstraint("source IN ('manual', 'sample', 'trigger')", name="source_known"),
        CheckConstraint("state IN ('open', 'done', 'needs_adjudication')", name="state_known"),
        # Only a random sample has an inclusion probability.
        CheckConstraint(
            "(inclusion_probability IS NULL) OR (source = 'sample')", name="probability_of_sample"
        ),
        # The claim's order: items with labels first, then oldest first (answers queued by
        # one statement by their ids, time-ordered to the millisecond), open ones only.
        Index(
            "ix_review_items_claim",
            "queue_id",
            text("labels DESC"),
            "created_at",
            "interaction_id",
            postgresql_where=text("state = 'open'"),
        ),
        Index("ix_review_items_interaction_id", "interaction_id"),
        Index("ix_review_items_rule_id", "rule_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    queue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_queues.id", ondelete="CASCADE"))
    # Erasing a user's interactions removes their items, and with them slots and labels.
    interaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE")
    )
    source: Mapped[str] = mapped_column(String(16))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("review_rules.id", ondelete="SET NULL")
    )
    inclusion_probability: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(24), server_default="open")
    labels: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    correct: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    incorrect: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    # Who holds a slot of it, labelled it or declined it: a claim hands it to no one listed
    # (but gives a reviewer back their own slot after their lease ran out).
    reviewers: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    verdict: Mapped[str | None] = mapped_column(String(16))
    consensus: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class ReviewSlot(Base):
    """One of an item's reviewers_per_item places: free, leased (until `leased_until`), or
    used by a label. A lease that ran out still holds until someone else takes the slot."""

    __tablename__ = "review_slots"

    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), primary_key=True
    )
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    holder: Mapped[str | None] = mapped_column(Text)
    assignment_id: Mapped[uuid.UUID | None]
    lease_token: Mapped[uuid.UUID | None]
    leased_until: Mapped[datetime | None]
    labelled: Mapped[bool] = mapped_column(server_default=text("false"))


class ReviewAssignment(Base):
    """A lease of a slot handed to a reviewer, and how it ended."""

    __tablename__ = "review_assignments"
    __table_args__ = (
        CheckConstraint(
            "state IN ('active', 'submitted', 'released', 'declined')", name="state_known"
        ),
        Index("ix_review_assignments_item_id", "item_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(SmallInteger)
    reviewer: Mapped[str] = mapped_column(Text)
    lease_token: Mapped[uuid.UUID]
    state: Mapped[str] = mapped_column(String(16), server_default="active")
    created_at: Mapped[datetime] = created_at_column()
    ended_at: Mapped[datetime | None]


class ReviewLabel(Base):
    """A reviewer's verdict on an item (or an admin's adjudication); edits keep the old
    version in review_label_versions."""

    __tablename__ = "review_labels"
    __table_args__ = (
        CheckConstraint("verdict IN ('correct', 'incorrect')", name="verdict_known"),
        # One label per reviewer per item; an adjudication is a decision, not a label.
        Index(
            "uq_review_labels_item_reviewer",
            "item_id",
            "reviewer",
            unique=True,
            postgresql_where=text("NOT adjudication"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    assignment_id: Mapped[uuid.UUID | None]
    reviewer: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    correction: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    adjudication: Mapped[bool] = mapped_column(server_default=text("false"))
    version: Mapped[int] = mapped_column(server_default="1")
    # Who wrote this version: the reviewer, or an admin who changed it.
    written_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReviewLabelVersion(Base):
    """A label as it was before an edit."""

    __tablename__ = "review_label_versions"
    __table_args__ = (Index("ix_review_label_versions_label_id", "label_id", "version"),)

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    label_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_labels.id", ondelete="CASCADE"))
    version: Mapped[int]
    verdict: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text))
    correction: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    # Who wrote this version, and when.
    written_by: Mapped[str] = mapped_column(Text)
    written_at: Mapped[datetime]


class SampledAnswer(Segment, Base):
    """A random-sample item's answer as the last refresh saw it: when it was logged, its
    segment, its votes and thumbs-up. Kept by the refresher (review/estimated/kept.py), so
    the estimate of accuracy reads the reviewed sample's predictions from one table, at the
    same refresh as the answers' sums it subtracts them from, instead of looking up each
    item's answer and votes when asked."""

    __tablename__ = "sampled_answers"
    __table_args__ = (Index("ix_sampled_answers_answer_at", "answer_at"),)

    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), primary_key=True
    )
    answer_at: Mapped[datetime]
    votes: Mapped[int] = mapped_column(Integer)
    positive: Mapped[int] = mapped_column(Integer)
