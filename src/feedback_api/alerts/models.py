"""Alerts and their webhook outbox.

At most one open alert per segment: a partial unique index over (model, intent, project)
where the status is open, NULLS NOT DISTINCT so that a model-only segment (intent and
project NULL) is unique too. Resolved alerts stay as the history.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.analytics.segments import Segment, grain_index
from feedback_api.kit.models import Base, created_at_column, uuid_pk

OPEN = "open"
RESOLVED = "resolved"


class Alert(Segment, Base):
    """A drop of a segment's positive rate: the recent window against the baseline before it.

    The figures are those of the latest evaluation: set when the alert opens, updated at each
    refresh while it stays open, and frozen at the refresh that resolved it.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status_known"),
        grain_index(
            __tablename__, name="uq_alerts_open_segment", postgresql_where=text("status = 'open'")
        ),
        Index("ix_alerts_opened_at", "opened_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    status: Mapped[str] = mapped_column(String(16))
    baseline_rate: Mapped[float] = mapped_column(Float)
    baseline_ci_low: Mapped[float] = mapped_column(Float)
    baseline_ci_high: Mapped[float] = mapped_column(Float)
    recent_rate: Mapped[float] = mapped_column(Float)
    recent_ci_low: Mapped[float] = mapped_column(Float)
    recent_ci_high: Mapped[float] = mapped_column(Float)
    baseline_votes: Mapped[int] = mapped_column(BigInteger)
    recent_votes: Mapped[int] = mapped_column(BigInteger)
    p_value: Mapped[float] = mapped_column(Float)
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    evaluated_at: Mapped[datetime]


class AlertDelivery(Base):
    """The webhook outbox: one row per alert that opened or resolved, written in the
    transaction that changed the alert, and marked delivered by the delivery job."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index(
            "ix_alert_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = created_at_column()
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
