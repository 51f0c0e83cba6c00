"""Analytics storage: rollups refreshed by the refresher, never written on the ingest path.

`model_accuracy` is a materialized view owned by migration 0002. It is described here in a
MetaData of its own so queries can use it while Alembic's autogenerate (which reads
`Base.metadata`) does not mistake it for a table it should create.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.kit.models import Base

views = MetaData()

model_accuracy = Table(
    "model_accuracy",
    views,
    Column("model", String(200)),
    Column("intent", String(200)),
    Column("project", String(200)),
    Column("total", BigInteger),
    Column("positive", BigInteger),
    Column("negative", BigInteger),
    Column("stars_sum", BigInteger),
    Column("stars_count", BigInteger),
    Column("last_feedback_at", DateTime(timezone=True)),
)


class DailyMetric(Base):
    """Per UTC day of the interactions, for every combination of the three dimensions.

    Rows come from `GROUP BY day, CUBE(model, intent, project)`: `grouping` is PostgreSQL's
    GROUPING() bitmask (4: all models, 2: all intents, 1: all projects), so any filter the
    API accepts reads exactly one row per day, and p95 and unique users stay exact instead
    of being (wrongly) summed over groups.
    """

    __tablename__ = "daily_metrics"
    __table_args__ = (
        Index(
            "uq_daily_metrics_grain",
            "day", "grouping", "model", "intent", "project",
            unique=True, postgresql_nulls_not_distinct=True,
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    day: Mapped[date]
    grouping: Mapped[int] = mapped_column(SmallInteger)
    model: Mapped[str | None] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(200))
    total_queries: Mapped[int] = mapped_column(BigInteger)
    feedback_count: Mapped[int] = mapped_column(BigInteger)
    interactions_with_feedback: Mapped[int] = mapped_column(BigInteger)
    positive: Mapped[int] = mapped_column(BigInteger)
    negative: Mapped[int] = mapped_column(BigInteger)
    avg_response_time_ms: Mapped[float | None] = mapped_column(Float)
    p95_response_time_ms: Mapped[float | None] = mapped_column(Float)
    unique_users: Mapped[int] = mapped_column(BigInteger)


class WindowStat(Base):
    """Feedback statistics over the standard windows (7, 30, 90 days up to the refresh)."""

    __tablename__ = "window_stats"
    __table_args__ = (
        Index(
            "uq_window_stats_grain",
            "days", "grouping", "model", "intent", "project",
            unique=True, postgresql_nulls_not_distinct=True,
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    days: Mapped[int] = mapped_column(SmallInteger)
    grouping: Mapped[int] = mapped_column(SmallInteger)
    model: Mapped[str | None] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(200))
    total_feedback: Mapped[int] = mapped_column(BigInteger)
    positive: Mapped[int] = mapped_column(BigInteger)
    negative: Mapped[int] = mapped_column(BigInteger)
    unique_users: Mapped[int] = mapped_column(BigInteger)
    unique_sessions: Mapped[int] = mapped_column(BigInteger)
    avg_memory_used: Mapped[float | None] = mapped_column(Float)
    avg_response_time_ms: Mapped[float | None] = mapped_column(Float)
    avg_stars: Mapped[float | None] = mapped_column(Float)


class TopQuery(Base):
    """The most frequent questions over the standard windows, kept to the first 100."""

    __tablename__ = "top_queries"

    days: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(BigInteger)


class DailyReason(Base):
    """Votes per reason, per UTC day the vote was cast, for every CUBE(model, intent, project)
    combination (`grouping` as in DailyMetric).

    A vote counts once for each of its reasons; the row with `reason` NULL counts every vote
    of the slice, with or without a reason: the whole that `share_of_down_votes` divides by.
    """

    __tablename__ = "daily_reasons"
    __table_args__ = (
        Index(
            "uq_daily_reasons_grain",
            "day", "grouping", "model", "intent", "project", "reason",
            unique=True, postgresql_nulls_not_distinct=True,
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    day: Mapped[date]
    grouping: Mapped[int] = mapped_column(SmallInteger)
    model: Mapped[str | None] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    up_votes: Mapped[int] = mapped_column(BigInteger)
    down_votes: Mapped[int] = mapped_column(BigInteger)


class RefreshState(Base):
    """When the rollups were last refreshed: the `as_of` of every analytics answer."""

    __tablename__ = "analytics_refresh"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    refreshed_at: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    full_rebuild_at: Mapped[datetime | None]
