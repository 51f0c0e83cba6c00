from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, String, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.kit.models import Base, created_at_column, uuid_pk


class ExportRun(Base):
    """One dataset file written by the weekly job (or recorded by the CLI)."""

    __tablename__ = "export_runs"
    __table_args__ = (
        # The weekly job writes one file per ISO week and format, whichever replica runs it.
        Index(
            "uq_export_runs_scheduled",
            "iso_week", "format",
            unique=True, postgresql_where="trigger = 'schedule'",
        ),
        Index("ix_export_runs_created_at", "created_at"),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = uuid_pk()
    trigger: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(20))
    iso_week: Mapped[str | None] = mapped_column(String(10))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    examples: Mapped[int] = mapped_column(BigInteger)
    positives: Mapped[int] = mapped_column(BigInteger)
    negatives: Mapped[int] = mapped_column(BigInteger)
    pairs: Mapped[int] = mapped_column(BigInteger)
    skipped_ties: Mapped[int] = mapped_column(BigInteger)
    desirable_weight: Mapped[float | None] = mapped_column(Float)
    undesirable_weight: Mapped[float | None] = mapped_column(Float)
    # What labelled the examples (votes, reviews, both), and how many each gave.
    label_source: Mapped[str] = mapped_column(String(10))
    from_votes: Mapped[int] = mapped_column(BigInteger)
    from_reviews: Mapped[int] = mapped_column(BigInteger)
    skipped_disagreement: Mapped[int] = mapped_column(BigInteger)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    # Whether personal data was redacted from the file, and what was: {"examples": n,
    # "by_type": {"EMAIL": n, ...}} (None when it was not redacted).
    redacted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    redactions: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at_column()
