"""Analytics storage: the change log the writes fill, and the rollups the refresher keeps.

The ingest path writes only `analytics_changes` (in the statement or transaction of each
write); every other table here is written by the refresher alone. `model_accuracy` is a
materialized view owned by the migrations (0002, redefined over `vote_hours` in 0005). It is
described here in a MetaData of its own so queries can use it while Alembic's autogenerate
(which reads `Base.metadata`) does not mistake it for a table it should create.
See docs/analytics.md for what each figure counts and how the refresh keeps it exact.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Computed,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    cast,
    false,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.analytics.segments import Cell, Segment, grain_index
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


class DailyMetric(Cell, Base):
    """Per UTC day of the interactions, for every combination of the three dimensions.

    Rows come from `GROUP BY day, CUBE(model, intent, project)`: `grouping` is PostgreSQL's
    GROUPING() bitmask (4: all models, 2: all intents, 1: all projects), so any filter the
    API accepts reads exactly one row per day, and p95 and unique users stay exact instead
    of being (wrongly) summed over groups.
    """

    __tablename__ = "daily_metrics"
    __table_args__ = (grain_index(__tablename__, "day", cell=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    day: Mapped[date]
    total_queries: Mapped[int] = mapped_column(BigInteger)
    feedback_count: Mapped[int] = mapped_column(BigInteger)
    interactions_with_feedback: Mapped[int] = mapped_column(BigInteger)
    positive: Mapped[int] = mapped_column(BigInteger)
    negative: Mapped[int] = mapped_column(BigInteger)
    corrections: Mapped[int] = mapped_column(BigInteger)
    # Summed from answer_hours (which says what they are): the estimate of accuracy's.
    share_sum: Mapped[Decimal] = mapped_column(Numeric)
    share_squares: Mapped[Decimal] = mapped_column(Numeric)
    avg_response_time_ms: Mapped[float | None] = mapped_column(Float)
    p95_response_time_ms: Mapped[float | None] = mapped_column(Float)
    # People who asked (interactions.user_id) that day.
    unique_askers: Mapped[int] = mapped_column(BigInteger)


class AnswerHour(Segment, Base):
    """The answers of each UTC hour (of the interactions, as daily_metrics counts them) and
    the votes on them, per segment: what daily_metrics' vote columns sum, and what the
    estimate of accuracy sums over the whole hours of its window (daily_metrics over its
    whole days).

    Recomputed per hour from that hour's interactions and their votes when a vote on one of
    them, or one of them, changes, so that a vote on an old answer reads an hour of answers,
    not its day. Every segment with answers has a row.
    """

    __tablename__ = "answer_hours"
    __table_args__ = (grain_index(__tablename__, "hour"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    hour: Mapped[datetime]
    feedback_count: Mapped[int] = mapped_column(BigInteger)
    interactions_with_feedback: Mapped[int] = mapped_column(BigInteger)
    positive: Mapped[int] = mapped_column(BigInteger)
    negative: Mapped[int] = mapped_column(BigInteger)
    corrections: Mapped[int] = mapped_column(BigInteger)
    answers: Mapped[int] = mapped_column(BigInteger)
    # Over the answers with votes: the sum of each one's share of thumbs-up, and of its
    # square (figures.vote_share; exact decimals).
    share_sum: Mapped[Decimal] = mapped_column(Numeric)
    share_squares: Mapped[Decimal] = mapped_column(Numeric)


class WindowStat(Cell, Base):
    """Feedback statistics over the kept windows: 7, 30 and 90 days up to the refresh, and
    the alerts' two (RefreshService.windows)."""

    __tablename__ = "window_stats"
    __table_args__ = (grain_index(__tablename__, "days", cell=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    days: Mapped[int] = mapped_column(SmallInteger)
    total_feedback: Mapped[int] = mapped_column(BigInteger)
    positive: Mapped[int] = mapped_column(BigInteger)
    negative: Mapped[int] = mapped_column(BigInteger)
    corrections: Mapped[int] = mapped_column(BigInteger)
    # People who voted (feedback.user_id) in the window.
    unique_voters: Mapped[int] = mapped_column(BigInteger)
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


class AnalyticsChange(Base):
    """What a write touched, for the next refresh: one row per distinct tuple per statement.

    Written by the repositories in the same statement (votes, interactions) or transaction
    (vote PUT/DELETE, erasure) as the write itself, so a change is logged if and only if the
    write commits; the refresher takes the rows with DELETE ... RETURNING. No triggers.
    """

    __tablename__ = "analytics_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # The interaction's UTC hour: when a vote changed, that hour of answer_hours (the votes
    # on that hour's answers) is recomputed, and its day's vote figures in daily_metrics.
    answer_hour: Mapped[datetime | None]
    # The interaction's UTC hour, when the interaction itself was written or deleted: the
    # question counts of that hour (top queries) are recomputed, and its whole day of
    # daily_metrics (p95 and unique users are the day's).
    query_hour: Mapped[datetime | None]
    # The vote's cast time: its hour of vote_hours is recomputed, and its voter's and
    # session's last cast times are moved forward (or recomputed when `removed`).
    cast_at: Mapped[datetime | None]
    model: Mapped[str | None] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    removed: Mapped[bool] = mapped_column(Boolean, server_default=false())


class SegmentVotes(Segment):
    """A segment and the additive measures of its votes: counts and sums, never averages,
    so that any set of rows adds up exactly."""

    total: Mapped[int] = mapped_column(BigInteger)
    positive: Mapped[int] = mapped_column(BigInteger)
    negative: Mapped[int] = mapped_column(BigInteger)
    corrections: Mapped[int] = mapped_column(BigInteger)
    stars_sum: Mapped[int] = mapped_column(BigInteger)
    stars_count: Mapped[int] = mapped_column(BigInteger)
    memory_sum: Mapped[float] = mapped_column(Float)
    memory_count: Mapped[int] = mapped_column(BigInteger)
    response_time_sum: Mapped[int] = mapped_column(BigInteger)
    response_time_count: Mapped[int] = mapped_column(BigInteger)


class VoteHour(SegmentVotes, Base):
    """Votes per cast hour (UTC) and segment: the additive rollup of everything by cast time.

    Each row is recomputed from the hour's votes when a write touches that hour; the kept
    windows (vote_windows) and `model_accuracy` are sums over these rows. Sums and counts
    (not averages), so that any set of rows adds up exactly.
    """

    __tablename__ = "vote_hours"
    __table_args__ = (grain_index(__tablename__, "hour"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    hour: Mapped[datetime]
    last_at: Mapped[datetime]
    # The votes that gave at least one reason: the weighted export's first line with reasons
    # is looked for in the hours where there are some (exports/first_lines.py). Not summed
    # into the windows.
    reasoned: Mapped[int] = mapped_column(BigInteger)


class VoteWindow(SegmentVotes, Base):
    """Per kept window and segment: the sums of `vote_hours` over the window's whole hours.

    Kept equal to the sum of the vote_hours rows from the window's first whole hour on, as
    query_windows is for questions: each statement that changes vote_hours applies the same
    difference here, and each refresh takes out the hours the window's start has passed. So a
    window's figures cost a row per segment to read, not a row per segment and hour.
    """

    __tablename__ = "vote_windows"
    __table_args__ = (grain_index(__tablename__, "days"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    days: Mapped[int] = mapped_column(SmallInteger)


def cell_key(grouping: Any, model: Any, intent: Any, project: Any) -> ColumnElement[uuid.UUID]:
    """One uuid per CUBE cell (grouping and the three dimensions, NULL included): md5 of
    each part with its length, so that no two cells share a text. A key that equality can
    look up in an index, which `IS NOT DISTINCT FROM` over nullable columns cannot."""

    def part(text_: Any) -> Any:
        return func.coalesce(cast(func.length(text_), Text) + ":" + text_, "-")

    joined = cast(grouping, Text) + "|" + part(model) + "|" + part(intent) + "|" + part(project)
    return cast(func.md5(joined), Uuid)


_CELL_KEY = cell_key(*(literal_column(name) for name in ("grouping", "model", "intent", "project")))


class MemberLastCast(Cell, Base):
    """Each voter's (kind 0) and session's (kind 1) last cast time, per CUBE cell.

    A member counts in a window starting at S if and only if its last cast is at or after
    S: unique users and sessions of every window are exact counts of these rows. The key
    is (kind, member, cell), `cell` being cell_key (computed by PostgreSQL): a vote's eight
    cells are neighbours in the key, and with room left on each page (fillfactor 70, set by
    migration 0010) their new versions stay on their page: a vote dirties few pages.
    """

    __tablename__ = "member_last_casts"
    __table_args__ = (Index("ix_member_last_casts_last_at", "last_at"),)

    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    member: Mapped[str] = mapped_column(String(255), primary_key=True)
    cell: Mapped[uuid.UUID] = mapped_column(
        Uuid, Computed(_CELL_KEY, persisted=True), primary_key=True
    )
    last_at: Mapped[datetime]
    # The last cast the refresh's latest upsert of this row replaced (NULL: it inserted the
    # row): what tells that statement which hour the member left, without a read of its own.
    prev_at: Mapped[datetime | None]


class MemberCount(Cell):
    """A count of members (kind 0 voters, kind 1 sessions) in a CUBE cell."""

    kind: Mapped[int] = mapped_column(SmallInteger)
    count: Mapped[int] = mapped_column(BigInteger)


class MemberHour(MemberCount, Base):
    """How many members' last cast (member_last_casts) falls in each UTC hour, per kind and
    CUBE cell: a window's unique users are the sum over its whole hours plus the members
    whose last cast is in its partial first hour. Kept by the statements that change
    member_last_casts, in the same transaction (the refresher is their only writer)."""

    __tablename__ = "member_hours"
    __table_args__ = (grain_index(__tablename__, "kind", cell=True, after=("hour",)),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    hour: Mapped[datetime]


class MemberWindow(MemberCount, Base):
    """Per kept window, kind and CUBE cell: the members whose last cast falls in the
    window's whole hours (the sum of `member_hours` from the window's first whole hour on),
    kept like vote_windows by the statements that change member_hours and by each refresh."""

    __tablename__ = "member_windows"
    __table_args__ = (grain_index(__tablename__, "days", "kind", cell=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    days: Mapped[int] = mapped_column(SmallInteger)


class QueryHour(Base):
    """Interactions per UTC hour and question, for the hours the longest window covers."""

    __tablename__ = "query_hours"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    # md5 of the text: questions may be longer than a B-tree key may be.
    query_hash: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(BigInteger)


class QueryWindow(Base):
    """Per standard window and question: its interactions in the window's whole hours.

    Kept equal to the sum of `query_hours` from the window's first whole hour on: each
    statement that changes `query_hours` applies the same difference here.
    """

    __tablename__ = "query_windows"
    __table_args__ = (Index("ix_query_windows_days_count", "days", "count"),)

    days: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    query_hash: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(BigInteger)


class ReasonHour(Segment, Base):
    """Votes per reason, per UTC hour of the answers voted on and segment (model, intent,
    project): the hours that daily_reasons sums. `reason` NULL counts every vote of the hour
    and segment."""

    __tablename__ = "reason_hours"
    __table_args__ = (grain_index(__tablename__, "hour", after=("reason",)),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    hour: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    up_votes: Mapped[int] = mapped_column(BigInteger)
    down_votes: Mapped[int] = mapped_column(BigInteger)


class DailyReason(Cell, Base):
    """Votes per reason, per UTC day of the answers voted on (as in DailyMetric), for every
    CUBE(model, intent, project) combination (`grouping` as in DailyMetric).

    A vote counts once for each of its reasons; the row with `reason` NULL counts every vote
    of the slice, with or without a reason: the whole that `share_of_down_votes` divides by.
    """

    __tablename__ = "daily_reasons"
    __table_args__ = (grain_index(__tablename__, "day", cell=True, after=("reason",)),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    day: Mapped[date]
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
    # The windows (days) kept in vote_windows and member_windows by the last full rebuild:
    # keeping another set (other alert settings) needs a full rebuild first.
    windows: Mapped[list[int] | None] = mapped_column(ARRAY(SmallInteger))
