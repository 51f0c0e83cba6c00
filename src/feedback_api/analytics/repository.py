"""All analytics SQL: the change log, the refresh of the rollups, and the reads the
endpoints serve from them. What each figure counts and why the refresh is exact:
docs/analytics.md."""

from __future__ import annotations

import typing
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Float,
    FromClause,
    Insert,
    Integer,
    Select,
    SmallInteger,
    Table,
    Text,
    Uuid,
    and_,
    cast,
    column,
    delete,
    distinct,
    exists,
    false,
    func,
    join,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.models import (
    AnalyticsChange,
    AnswerHour,
    DailyMetric,
    DailyReason,
    MemberHour,
    MemberLastCast,
    MemberWindow,
    QueryHour,
    QueryWindow,
    ReasonHour,
    RefreshState,
    TopQuery,
    VoteHour,
    VoteWindow,
    WindowStat,
    model_accuracy,
)
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import AnySelect, ReadSession
from feedback_api.kit.models import AnyRow
from feedback_api.kit.recordset import json_recordset

DIMENSIONS = ("model", "intent", "project")
STANDARD_WINDOWS = (7, 30, 90)
TOP_QUERIES_KEPT = 100
ONE_DAY: ColumnElement[Any] = literal_column("interval '1 day'")
HOUR = timedelta(hours=1)
# member_last_casts.kind
USER, SESSION = 0, 1
# GROUPING(model, intent, project) bits: which dimensions a CUBE row sums over.
_GROUPING_BITS = {"model": 4, "intent": 2, "project": 1}


@dataclass(frozen=True)
class Slice:
    """The model / intent / project an analyst filters on (None: all of them)."""

    model: str | None = None
    intent: str | None = None
    project: str | None = None

    def given(self) -> dict[str, str]:
        return {d: v for d in DIMENSIONS if (v := getattr(self, d)) is not None}

    def grouping(self, by: str | None = None) -> int:
        """The GROUPING(model, intent, project) bitmask of the CUBE rows that answer us:
        the slice's dimensions fixed, and `by` (if given) one row per value."""
        return sum(
            bit for dim, bit in _GROUPING_BITS.items() if getattr(self, dim) is None and dim != by
        )


def _cube_row(table: Any, where: Slice, by: str | None = None) -> list[ColumnElement[bool]]:
    conditions = [table.grouping == where.grouping(by)]
    conditions += [getattr(table, dim) == value for dim, value in where.given().items()]
    return conditions


def _slice(where: Slice) -> list[ColumnElement[bool]]:
    return [getattr(Interaction, dim) == value for dim, value in where.given().items()]


def _cube(source: Any = Interaction) -> Any:
    return func.cube(source.model, source.intent, source.project)


def _grouping(source: Any = Interaction) -> Any:
    return func.grouping(source.model, source.intent, source.project)


def utc_day(ts: Any) -> ColumnElement[date]:
    """The UTC calendar day of a timestamptz.

    A literal, not a bound parameter, so the expression in SELECT and in GROUP BY is one.
    """
    return cast(func.timezone(literal_column("'UTC'"), ts), Date)


def utc_hour(ts: Any) -> ColumnElement[datetime]:
    """The UTC hour a timestamptz falls in (a timestamptz on the hour)."""
    return func.date_trunc(
        literal_column("'hour'"), ts, literal_column("'UTC'"), type_=DateTime(timezone=True)
    )


def floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(ts: datetime) -> datetime:
    """The first whole hour at or after `ts`."""
    floor = floor_hour(ts)
    return floor if floor == ts else floor + HOUR


def query_hash(query: Any) -> ColumnElement[uuid.UUID]:
    return cast(func.md5(query), Uuid)


def _spans(starts: Iterable[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted [start, start + step) spans with neighbours merged: fewer index ranges."""
    spans: list[tuple[datetime, datetime]] = []
    for start in sorted(set(starts)):
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], start + step)
        else:
            spans.append((start, start + step))
    return spans


def _within(ts: Any, spans: Sequence[tuple[datetime, datetime]]) -> ColumnElement[bool]:
    # One index range per span (a BitmapOr), however far apart the spans lie.
    return or_(false(), *(and_(ts >= a, ts < b) for a, b in spans))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _day_spans(days: Iterable[date]) -> list[tuple[datetime, datetime]]:
    """The UTC days as time ranges (adjacent days merged), for _within."""
    return _spans((_day_start(d) for d in days), timedelta(days=1))


# -- the change log ---------------------------------------------------------------------------

CHANGE_COLUMNS = (
    "answer_hour", "query_hour", "cast_at", "model", "intent", "project", "user_id", "session_id",
    "removed",
)  # fmt: skip


def change_row(
    interaction: FromClause,
    feedback: FromClause | None = None,
    *,
    query_hour: ColumnElement[Any] | None = None,
    members: bool = True,
    removed: bool = False,
) -> list[ColumnElement[Any]]:
    """The CHANGE_COLUMNS of a write, from its interaction's columns (created_at, model,
    intent, project, session_id) and its vote's (created_at, user_id), tables or CTEs.

    `query_hour`: the interaction itself was written (its hour's question counts change).
    `members`: the vote's voter and session may have a new last cast time (not for a PUT,
    which keeps the cast time). `removed`: the vote is gone (last casts are recomputed).
    """
    voted = feedback is not None

    def none(name: str) -> ColumnElement[Any]:
        # Typed: SELECT DISTINCT would make an untyped NULL text.
        return cast(null(), AnalyticsChange.__table__.c[name].type)

    return [
        utc_hour(interaction.c.created_at),
        query_hour if query_hour is not None else none("query_hour"),
        feedback.c.created_at if feedback is not None else none("cast_at"),
        interaction.c.model,
        interaction.c.intent,
        interaction.c.project,
        feedback.c.user_id if feedback is not None and members else none("user_id"),
        interaction.c.session_id if voted and members else none("session_id"),
        true() if removed else false(),
    ]


def log_changes(rows: Select[Any]) -> Insert:
    """`INSERT INTO analytics_changes SELECT DISTINCT ...`: `rows` gives CHANGE_COLUMNS.

    Distinct tuples per statement: a group of votes on one hour and segment by few users
    writes few rows.
    """
    return insert(AnalyticsChange).from_select(list(CHANGE_COLUMNS), rows.distinct())


@dataclass
class Changes:
    """What the writes since the last refresh touched (taken from the change log)."""

    # UTC hours of the interactions whose votes changed (answer_hours)
    answer_hours: set[datetime] = field(default_factory=set)
    # UTC hours of interactions written or deleted (question counts; their whole days)
    query_hours: set[datetime] = field(default_factory=set)
    # UTC hours of the votes' cast times (vote_hours, reasons)
    vote_hours: set[datetime] = field(default_factory=set)
    # (kind, member) whose last cast times are recomputed from their votes
    removed_members: set[tuple[int, str]] = field(default_factory=set)
    # (kind, member, model, intent, project) -> latest new cast time
    cast: dict[tuple[int, str, str | None, str | None, str | None], datetime] = field(
        default_factory=dict
    )

    @property
    def days(self) -> set[date]:
        """The days of daily_metrics recomputed whole: those whose interactions changed."""
        return {_utc_date(h) for h in self.query_hours}

    @property
    def vote_days(self) -> set[date]:
        """The days whose vote figures changed (sums of their answer hours)."""
        return {_utc_date(h) for h in self.answer_hours}

    def __bool__(self) -> bool:
        return bool(
            self.answer_hours or self.query_hours or self.vote_hours or self.removed_members
        )


def _utc_date(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def _windows(now: datetime, windows: Sequence[int] = STANDARD_WINDOWS) -> Any:
    """`windows` (days; the standard ones by default) ending at `now`: days, start, and each
    start's first whole hour."""
    rows = []
    for days in windows:
        start = now - timedelta(days=days)
        rows.append((days, start, ceil_hour(start)))
    return values(
        column("days", Integer),
        column("start", DateTime(timezone=True)),
        column("whole", DateTime(timezone=True)),
        name="w",
    ).data(rows)


def _vote_measures() -> list[Any]:
    """The additive measures of a set of votes (joined to their interactions): sums and
    counts only, so that buckets add up to any window exactly."""
    return [
        func.count().label("total"),
        func.count().filter(Feedback.is_helpful).label("positive"),
        func.count().filter(not_(Feedback.is_helpful)).label("negative"),
        func.coalesce(func.sum(Feedback.stars), 0).label("stars_sum"),
        func.count(Feedback.stars).label("stars_count"),
        func.coalesce(func.sum(Interaction.memory_used), 0.0).label("memory_sum"),
        func.count(Interaction.memory_used).label("memory_count"),
        func.coalesce(func.sum(Interaction.response_time_ms), 0).label("response_time_sum"),
        func.count(Interaction.response_time_ms).label("response_time_count"),
        func.max(Feedback.created_at).label("last_at"),
    ]


_CELL = ("kind", "grouping", "model", "intent", "project")
# Tables, not ORM classes, where a statement takes parameters (an ORM insert with
# parameters is a bulk insert) or returns rows to another statement.
_MEMBERS = typing.cast(Table, MemberLastCast.__table__)
_MEMBER_HOURS = typing.cast(Table, MemberHour.__table__)
_MEMBER_WINDOWS = typing.cast(Table, MemberWindow.__table__)
_VOTE_HOURS = typing.cast(Table, VoteHour.__table__)
_VOTE_WINDOWS = typing.cast(Table, VoteWindow.__table__)
_REASON_HOURS = typing.cast(Table, ReasonHour.__table__)
_ANSWER_HOURS = typing.cast(Table, AnswerHour.__table__)
# daily_metrics' vote columns, as answer_hours holds them per hour
_ANSWER_VOTES = ("feedback_count", "interactions_with_feedback", "positive", "negative")


def _same_day_cell(a: Any, b: Any) -> ColumnElement[bool]:
    """The same day and CUBE cell (NULL dimensions included) of two daily row sources."""
    return and_(
        a.c.day == b.c.day,
        a.c.grouping == b.c.grouping,
        *(a.c[n].is_not_distinct_from(b.c[n]) for n in DIMENSIONS),
    )


def _summed(column: Any, sign: int) -> Any:
    """sign x sum(column), of the column's own type (a sum of bigints is a numeric)."""
    return cast(func.sum(column), column.type) * sign


_MEASURES = (
    "total", "positive", "negative", "stars_sum", "stars_count", "memory_sum", "memory_count",
    "response_time_sum", "response_time_count",
)  # fmt: skip


def _votes_joined() -> Any:
    return (
        select().select_from(Feedback).join(Interaction, Interaction.id == Feedback.interaction_id)
    )


def _feedback_aggregates() -> list[Any]:
    return [
        func.count(Feedback.id).label("total_feedback"),
        func.count(Feedback.id).filter(Feedback.is_helpful).label("positive"),
        func.count(Feedback.id).filter(not_(Feedback.is_helpful)).label("negative"),
        func.count(distinct(Feedback.user_id)).label("unique_users"),
        func.count(distinct(Interaction.session_id)).label("unique_sessions"),
        func.avg(Interaction.memory_used).label("avg_memory_used"),
        func.avg(Interaction.response_time_ms).label("avg_response_time_ms"),
        func.avg(Feedback.stars).label("avg_stars"),
    ]


class RollupRepository:
    """The refresh's writes: the change log's consumption, the rollups and the view.

    Every rollup is either recomputed from the raw rows of what a change names (a day, an
    hour, a member), which is idempotent, or (query_windows) changed in the same statement
    as the rows it sums; so seeing a change twice is harmless and the refresh is exact
    whatever the snapshot of each statement. docs/analytics.md says why.
    """

    def __init__(self, session: AsyncSession, windows: Sequence[int] = STANDARD_WINDOWS) -> None:
        self.session = session
        # The windows whose votes and members are kept: the standard ones, and those the
        # alerts compare (their recent window, and recent + baseline).
        self.windows = tuple(sorted(set(STANDARD_WINDOWS) | set(windows)))

    # -- the change log --------------------------------------------------------------------

    async def take_changes(self) -> Changes:
        """Delete the logged changes and return them. Changes committed after this
        statement's snapshot stay for the next refresh."""
        c = AnalyticsChange
        gone = delete(c).returning(*(c.__table__.c[name] for name in CHANGE_COLUMNS)).cte("gone")
        rows = (await self.session.execute(select(*gone.c).distinct())).all()
        changes = Changes()
        for answer_hour, query_hour, cast_at, *segment, user, session_, removed in rows:
            model, intent, project = segment
            if query_hour is not None:
                changes.query_hours.add(query_hour)
            if cast_at is not None:
                changes.vote_hours.add(floor_hour(cast_at))
                if answer_hour is not None:
                    changes.answer_hours.add(answer_hour)
            members = [(USER, user), (SESSION, session_)]
            for kind, member in members:
                if member is None:
                    continue
                if removed:
                    changes.removed_members.add((kind, member))
                elif cast_at is not None:
                    key = (kind, member, model, intent, project)
                    known = changes.cast.get(key)
                    changes.cast[key] = cast_at if known is None else max(known, cast_at)
        return changes

    async def pending_changes(self) -> int:
        return int(
            await self.session.scalar(select(func.count()).select_from(AnalyticsChange)) or 0
        )

    # -- answer_hours and daily_metrics: votes per answer hour, days from their hours -------

    async def rebuild_answer_hours(self, hours: Collection[datetime] | None) -> None:
        """Recompute the votes on the answers of `hours` (UTC hours of the interactions), or
        of every hour if None."""
        if hours is not None and not hours:
            return
        tallies = (
            func.count().label("n"),
            func.count().filter(Feedback.is_helpful).label("positive"),
            func.count().filter(not_(Feedback.is_helpful)).label("negative"),
        )
        votes: FromClause
        cleared = delete(AnswerHour)
        in_hours: list[ColumnElement[bool]] = []
        if hours is None:
            # Every vote: one pass over the votes, grouped by interaction, hash-joined.
            grouped = select(Feedback.interaction_id, *tallies).group_by(Feedback.interaction_id)
            votes = grouped.subquery("v")
            joined = join(Interaction, votes, votes.c.interaction_id == Interaction.id)
        else:
            # The votes of these hours' interactions only, each interaction's through the
            # index on feedback.interaction_id. Joined to all votes, the planner scans the
            # whole vote table for the hour's few (docs/benchmarks.md, "Stop 14").
            cleared = cleared.where(AnswerHour.hour.in_(sorted(hours)))
            in_hours = [_within(Interaction.created_at, _spans(hours, HOUR))]
            votes = select(*tallies).where(Feedback.interaction_id == Interaction.id).lateral("v")
            joined = join(Interaction, votes, true())
        hour = utc_hour(Interaction.created_at)
        dims = (Interaction.model, Interaction.intent, Interaction.project)
        rows = (
            select(
                hour,
                *dims,
                func.sum(votes.c.n),
                func.count().filter(votes.c.n > 0),
                func.sum(votes.c.positive),
                func.sum(votes.c.negative),
            )
            .select_from(joined)
            .where(*in_hours)
            .group_by(hour, *dims)
            .having(func.sum(votes.c.n) > 0)
        )
        await self.session.execute(cleared)
        await self.session.execute(
            insert(AnswerHour).from_select(["hour", *DIMENSIONS, *_ANSWER_VOTES], rows)
        )

    @staticmethod
    def _votes_of_days(days: Collection[date] | None) -> Any:
        """daily_metrics' vote columns of `days` (or all), per CUBE cell: sums of their
        answer hours."""
        a = _ANSWER_HOURS
        day = utc_day(a.c.hour)
        in_days: list[ColumnElement[bool]] = []
        if days is not None:
            in_days = [_within(a.c.hour, _day_spans(days))]
        return (
            select(
                day.label("day"),
                _grouping(a.c).label("grouping"),
                a.c.model,
                a.c.intent,
                a.c.project,
                *(cast(func.sum(a.c[n]), BigInteger).label(n) for n in _ANSWER_VOTES),
            )
            .where(*in_days)
            .group_by(day, _cube(a.c))
            .subquery("voted")
        )

    async def rebuild_daily(
        self, days: Collection[date] | None, vote_days: Collection[date] = ()
    ) -> None:
        """Recompute the daily rollup of `days` (UTC days of the interactions) whole, or
        entirely if None; and of `vote_days` only the vote figures. answer_hours first.

        A day's own figures come from all of its interactions, so p95 and unique users are
        exact; its vote figures are the sums of its answer hours. So a vote on an old answer
        costs an hour of answers and a day of hour rows, and only a new (or deleted)
        interaction recomputes its day's interactions.

        Days are those of the interactions: a day's ratio is the quality of the answers given
        that day, and feedback_rate (answers that got any vote) stays between 0 and 1.
        """
        if days is None or days:
            await self._rebuild_days(days)
        only_votes = sorted(set(vote_days) - set(days or ())) if days is not None else []
        if only_votes:
            await self._update_day_votes(only_votes)

    async def _rebuild_days(self, days: Collection[date] | None) -> None:
        in_range: list[ColumnElement[bool]] = []
        if days is not None:
            in_range = [_within(Interaction.created_at, _day_spans(days))]
        day = utc_day(Interaction.created_at)
        asked = (
            select(
                day.label("day"),
                _grouping().label("grouping"),
                Interaction.model,
                Interaction.intent,
                Interaction.project,
                func.count().label("total_queries"),
                func.avg(Interaction.response_time_ms).label("avg"),
                func.percentile_cont(0.95).within_group(Interaction.response_time_ms).label("p95"),
                func.count(distinct(Interaction.user_id)).label("users"),
            )
            .where(*in_range)
            .group_by(day, _cube())
            .subquery("asked")
        )
        voted = self._votes_of_days(days)
        rows = select(
            asked.c.day,
            asked.c.grouping,
            asked.c.model,
            asked.c.intent,
            asked.c.project,
            asked.c.total_queries,
            *(func.coalesce(voted.c[n], 0) for n in _ANSWER_VOTES),
            asked.c.avg,
            asked.c.p95,
            asked.c.users,
        ).outerjoin_from(asked, voted, _same_day_cell(asked, voted))
        cleared = delete(DailyMetric)
        if days is not None:
            cleared = cleared.where(DailyMetric.day.in_(sorted(days)))
        await self.session.execute(cleared)
        await self.session.execute(
            insert(DailyMetric).from_select(
                [
                    "day", "grouping", "model", "intent", "project", "total_queries",
                    *_ANSWER_VOTES, "avg_response_time_ms", "p95_response_time_ms",
                    "unique_users",
                ],
                rows,
            )
        )  # fmt: skip

    async def _update_day_votes(self, days: Sequence[date]) -> None:
        """Set the vote figures of `days` from their answer hours; rows whose figures did
        not change are not written."""
        d = typing.cast(Table, DailyMetric.__table__)
        voted = self._votes_of_days(days)
        figures = (
            select(d.c.id, *(func.coalesce(voted.c[n], 0).label(n) for n in _ANSWER_VOTES))
            .outerjoin_from(d, voted, _same_day_cell(d, voted))
            .where(d.c.day.in_(days))
            .subquery("figures")
        )
        await self.session.execute(
            update(d)
            .where(
                d.c.id == figures.c.id,
                or_(*(d.c[n].is_distinct_from(figures.c[n]) for n in _ANSWER_VOTES)),
            )
            .values({n: figures.c[n] for n in _ANSWER_VOTES})
        )

    # -- vote_hours: recomputed per touched hour ---------------------------------------------

    async def rebuild_vote_hours(self, hours: Collection[datetime] | None, now: datetime) -> None:
        """Recompute the hourly vote rollup of `hours` (UTC cast hours), or entirely, and
        apply the difference to vote_windows in the same statements."""
        if hours is not None and not hours:
            return
        returned = [_VOTE_HOURS.c[n] for n in ("hour", *DIMENSIONS, *_MEASURES)]
        where: list[ColumnElement[bool]] = []
        if hours is None:
            await self.session.execute(delete(VoteHour))
            await self.session.execute(delete(VoteWindow))
        else:
            old = delete(VoteHour).where(VoteHour.hour.in_(sorted(hours))).returning(*returned)
            await self._add_to_vote_windows(old.cte("old"), -1, now)
            where = [_within(Feedback.created_at, _spans(hours, HOUR))]
        hour = utc_hour(Feedback.created_at)
        rows = (
            _votes_joined()
            .add_columns(hour, Interaction.model, Interaction.intent, Interaction.project)
            .add_columns(*_vote_measures())
            .where(*where)
            .group_by(hour, Interaction.model, Interaction.intent, Interaction.project)
        )
        new = (
            insert(VoteHour)
            .from_select(["hour", *DIMENSIONS, *_MEASURES, "last_at"], rows)
            .returning(*returned)
        )
        await self._add_to_vote_windows(new.cte("new"), 1, now)
        await self.session.execute(delete(VoteWindow).where(VoteWindow.total == 0))

    async def _add_to_vote_windows(self, rows: Any, sign: int, now: datetime) -> None:
        """vote_windows += sign x `rows` (vote_hours rows, a CTE) in each window whose whole
        hours hold them: the same statement as the change of `rows`."""
        w = _windows(now, self.windows)
        dims = [rows.c[d] for d in DIMENSIONS]
        summed = (
            select(w.c.days, *dims, *(_summed(rows.c[m], sign) for m in _MEASURES))
            .join_from(rows, w, rows.c.hour >= w.c.whole)
            .group_by(w.c.days, *dims)
        )
        await self._upsert_vote_windows(summed)

    async def _upsert_vote_windows(self, summed: AnySelect) -> None:
        """vote_windows += `summed` (days, model, intent, project and the measures)."""
        table = _VOTE_WINDOWS
        stmt = insert(table).from_select(["days", *DIMENSIONS, *_MEASURES], summed)
        stmt = stmt.on_conflict_do_update(
            index_elements=["days", *DIMENSIONS],
            set_={m: table.c[m] + stmt.excluded[m] for m in _MEASURES},
        )
        await self.session.execute(stmt)

    async def slide_windows(self, since: datetime, now: datetime) -> None:
        """Take out of vote_windows and member_windows the whole hours each window no longer
        covers: its first whole hour moved from that of the refresh at `since` to that of
        `now`. Before the hours are recomputed, so that their differences apply to the
        windows as they are at `now`."""
        moved = False
        for days in self.windows:
            old, new = (ceil_hour(t - timedelta(days=days)) for t in (since, now))
            if new <= old:
                continue
            moved = True
            passed = and_(VoteHour.hour >= old, VoteHour.hour < new)
            dims = [VoteHour.model, VoteHour.intent, VoteHour.project]
            await self._upsert_vote_windows(
                select(
                    literal(days, SmallInteger),
                    *dims,
                    *(_summed(_VOTE_HOURS.c[m], -1) for m in _MEASURES),
                )
                .where(passed)
                .group_by(*dims)
            )
            mh = _MEMBER_HOURS
            cell = [mh.c[n] for n in _CELL]
            await self._upsert_member_windows(
                select(literal(days, SmallInteger), *cell, -cast(func.sum(mh.c.count), BigInteger))
                .where(mh.c.hour >= old, mh.c.hour < new)
                .group_by(*cell)
            )
        if moved:
            await self.session.execute(delete(VoteWindow).where(VoteWindow.total == 0))

    # -- member_last_casts: moved forward, or recomputed after a removal -------------------

    async def _count_members(
        self, rows: Any, sign: int, now: datetime, params: Any = None, *ctes: Any
    ) -> None:
        """member_hours += sign for each row of `rows` (a CTE or subquery with the cell
        columns and last_at), at the hour of its last cast: in the statement that changes
        member_last_casts when `rows` (or one of `ctes`) is that change."""
        cell = [rows.c[n] for n in _CELL]
        hour = utc_hour(rows.c.last_at)
        summed = select(
            *cell, hour.label("hour"), (cast(func.count(), BigInteger) * sign).label("count")
        ).group_by(*cell, hour)
        await self._move_members(summed, now, params, *ctes)

    async def _move_members(
        self, summed: AnySelect, now: datetime, params: Any, *ctes: Any
    ) -> None:
        """member_hours += `summed` (the cell columns, hour, count), and member_windows += the
        same counts in each window whose whole hours hold them: one statement, with `ctes`."""
        counted = summed.cte("counted")
        cell = [counted.c[n] for n in _CELL]
        w = _windows(now, self.windows)
        in_windows = (
            select(w.c.days, *cell, cast(func.sum(counted.c.count), BigInteger))
            .join_from(counted, w, counted.c.hour >= w.c.whole)
            .group_by(w.c.days, *cell)
        )
        windows = self._member_windows_upsert(in_windows).cte("windows")
        table = _MEMBER_HOURS
        stmt = insert(table).from_select([*_CELL, "hour", "count"], select(*counted.c))
        stmt = stmt.on_conflict_do_update(
            index_elements=[*_CELL, "hour"], set_={"count": table.c.count + stmt.excluded.count}
        ).add_cte(*ctes, windows)
        await self.session.execute(stmt, params)

    @staticmethod
    def _member_windows_upsert(summed: AnySelect) -> Any:
        table = _MEMBER_WINDOWS
        stmt = insert(table).from_select(["days", *_CELL, "count"], summed)
        return stmt.on_conflict_do_update(
            index_elements=["days", *_CELL], set_={"count": table.c.count + stmt.excluded.count}
        )

    async def _upsert_member_windows(self, summed: AnySelect) -> None:
        """member_windows += `summed` (days, the cell columns, count)."""
        await self.session.execute(self._member_windows_upsert(summed))

    async def rebuild_members(
        self, members: Collection[tuple[int, str]] | None, now: datetime
    ) -> None:
        """Recompute the last cast times of `members` ((kind, member)) from their votes,
        or of everyone."""
        if members is not None and not members:
            return
        table = _MEMBERS
        returned = [table.c[n] for n in (*_CELL, "last_at")]
        if members is None:
            await self.session.execute(delete(MemberHour))
            await self.session.execute(delete(MemberWindow))
            await self.session.execute(delete(MemberLastCast))
        for kind, member_column in ((USER, Feedback.user_id), (SESSION, Interaction.session_id)):
            where = [member_column.is_not(None)]
            if members is not None:
                names = sorted(name for k, name in members if k == kind)
                if not names:
                    continue
                gone = (
                    delete(table)
                    .where(table.c.kind == kind, table.c.member.in_(names))
                    .returning(*returned)
                    .cte("gone")
                )
                await self._count_members(gone, -1, now)
                where.append(member_column.in_(names))
            rows = (
                _votes_joined()
                .add_columns(
                    literal(kind, SmallInteger),
                    member_column,
                    _grouping(),
                    Interaction.model,
                    Interaction.intent,
                    Interaction.project,
                    func.max(Feedback.created_at),
                )
                .where(*where)
                .group_by(member_column, _cube())
            )
            new = (
                insert(table)
                .from_select(
                    ["kind", "member", "grouping", "model", "intent", "project", "last_at"], rows
                )
                .returning(*returned)
                .cte("new")
            )
            await self._count_members(new, 1, now)

    async def advance_members(
        self,
        casts: dict[tuple[int, str, str | None, str | None, str | None], datetime],
        skip: Collection[tuple[int, str]],
        now: datetime,
    ) -> None:
        """Move last cast times forward for new votes (a max only grows with new votes; a
        replaced vote keeps its cast time). Members in `skip` were recomputed."""
        cells: dict[tuple[int, str, int, str | None, str | None, str | None], datetime] = {}
        for (kind, member, model, intent, project), at in casts.items():
            if (kind, member) in skip:
                continue
            for g in range(8):  # every CUBE cell the vote counts in
                key = (
                    kind, member, g, None if g & 4 else model, None if g & 2 else intent,
                    None if g & 1 else project,
                )  # fmt: skip
                known = cells.get(key)
                cells[key] = at if known is None else max(known, at)
        if not cells:
            return
        names = ("kind", "member", "grouping", "model", "intent", "project", "last_at")
        rows = json_recordset("casts", [_MEMBERS.c[n] for n in names])
        params = {
            "casts": [
                {**dict(zip(names[:-1], key, strict=True)), "last_at": at.isoformat()}
                for key, at in sorted(cells.items(), key=lambda item: str(item[0]))
            ]
        }
        table = _MEMBERS
        # One statement: the upsert, which keeps in prev_at the last cast it replaced (the
        # stored row as the statement found it; NULL for a new row), and the hour counts it
        # moves (a moved last cast leaves its old hour and joins its new one). No separate
        # read of the stored rows: the upsert's own lookup finds them.
        upsert = insert(table).from_select(list(names), select(*(rows.c[n] for n in names)))
        upsert = upsert.on_conflict_do_update(
            index_elements=["kind", "member", "cell"],
            set_={
                "last_at": func.greatest(table.c.last_at, upsert.excluded.last_at),
                "prev_at": table.c.last_at,
            },
        )
        done = upsert.returning(*(table.c[n] for n in (*_CELL, "last_at", "prev_at"))).cte("done")
        cell = [done.c[n] for n in _CELL]
        moved = union_all(
            select(*cell, utc_hour(done.c.prev_at).label("hour"), literal(-1).label("n")).where(
                done.c.prev_at < done.c.last_at
            ),
            select(*cell, utc_hour(done.c.last_at), literal(1)).where(
                or_(done.c.prev_at.is_(None), done.c.prev_at < done.c.last_at)
            ),
        ).subquery("moved")
        moved_cell = [moved.c[n] for n in _CELL]
        summed = select(
            *moved_cell, moved.c.hour, cast(func.sum(moved.c.n), BigInteger).label("count")
        ).group_by(*moved_cell, moved.c.hour)
        await self._move_members(summed, now, params)

    # -- window_stats: sums of whole hours plus the raw edge -------------------------------

    async def votes_left_windows(self, since: datetime, now: datetime) -> bool:
        """Whether a vote was cast between the windows' starts of the last refresh and now
        (it has left a window, and its voter may have too)."""
        ranges = [
            and_(Feedback.created_at >= since - timedelta(days=d),
                 Feedback.created_at < now - timedelta(days=d))
            for d in self.windows
        ]  # fmt: skip
        return bool(await self.session.scalar(select(or_(*(exists().where(r) for r in ranges)))))

    async def rebuild_reasons(self, hours: Collection[datetime] | None) -> None:
        """Recompute the votes per reason of the given UTC cast hours (reason_hours), then
        the days they belong to (daily_reasons, sums of their hours); or everything if None.

        An hour from its votes, a day from its hours: a tick that touched the current hour
        reads that hour's votes, not the day's."""
        if hours is not None and not hours:
            return
        hour = utc_hour(Feedback.created_at)
        in_hours: list[ColumnElement[bool]] = []
        cleared = delete(ReasonHour)
        if hours is not None:
            in_hours = [_within(Feedback.created_at, _spans(hours, HOUR))]
            cleared = cleared.where(ReasonHour.hour.in_(sorted(hours)))
        votes = (
            select(
                hour.label("hour"),
                Interaction.model,
                Interaction.intent,
                Interaction.project,
                Feedback.is_helpful,
                Feedback.reasons,
            )
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where(*in_hours)
            .cte("votes")
        )
        per_reason = select(
            *(votes.c[name] for name in ("hour", *DIMENSIONS, "is_helpful")),
            func.unnest(votes.c.reasons).label("reason"),
        ).subquery("per_reason")
        await self.session.execute(cleared)
        # Once per reason of a vote, and once per vote (reason NULL: the slice's whole), in
        # one statement: the votes are read once (a CTE named twice is computed once).
        counted = []
        for source, reason in ((per_reason, per_reason.c.reason), (votes, None)):
            dims = [source.c[d] for d in DIMENSIONS]
            by_reason = [reason] if reason is not None else []
            counted.append(
                select(
                    source.c.hour,
                    *dims,
                    reason if reason is not None else cast(null(), Text),
                    func.count().filter(source.c.is_helpful),
                    func.count().filter(not_(source.c.is_helpful)),
                ).group_by(source.c.hour, *dims, *by_reason)
            )
        tallies = ["up_votes", "down_votes"]
        await self.session.execute(
            insert(ReasonHour).from_select(
                ["hour", *DIMENSIONS, "reason", *tallies], union_all(*counted)
            )
        )
        # The days of those hours, from all of their hours.
        days = None if hours is None else sorted({_utc_date(h) for h in hours})
        cleared_days = delete(DailyReason)
        in_days: list[ColumnElement[bool]] = []
        if days is not None:
            cleared_days = cleared_days.where(DailyReason.day.in_(days))
            in_days = [_within(ReasonHour.hour, _day_spans(days))]
        r = _REASON_HOURS
        day = utc_day(r.c.hour)
        rows = (
            select(
                day,
                _grouping(r.c),
                r.c.model,
                r.c.intent,
                r.c.project,
                r.c.reason,
                cast(func.sum(r.c.up_votes), BigInteger),
                cast(func.sum(r.c.down_votes), BigInteger),
            )
            .where(*in_days)
            .group_by(day, r.c.reason, _cube(r.c))
        )
        await self.session.execute(cleared_days)
        await self.session.execute(
            insert(DailyReason).from_select(
                ["day", "grouping", *DIMENSIONS, "reason", *tallies], rows
            )
        )

    async def rebuild_windows(self, now: datetime) -> None:
        """Feedback statistics over the standard windows, votes cast from `now` - days on.

        Totals, sums and counts: the window's whole hours (vote_windows, a row per segment),
        plus its first partial hour from the votes themselves. Unique users and sessions: the
        members whose last cast is at or after the window's start (member_windows for the
        whole hours, member_last_casts for the partial one). Exact, at the cost of a row per
        segment and of an hour of votes per window.
        """
        # Each window's partial first hour with its bounds as constants: joined to a VALUES
        # list, the planner cannot see that they span an hour, and scans whole tables.
        edges = [
            (literal(days, SmallInteger), start, ceil_hour(start))
            for days, start in ((d, now - timedelta(days=d)) for d in self.windows)
        ]
        vw = _VOTE_WINDOWS
        whole = select(vw.c.days, *(vw.c[n] for n in (*DIMENSIONS, *_MEASURES)))
        dims_of_votes = (Interaction.model, Interaction.intent, Interaction.project)
        vote_edges = [
            _votes_joined()
            .add_columns(days, *dims_of_votes, *_vote_measures()[: len(_MEASURES)])
            .where(Feedback.created_at >= start, Feedback.created_at < whole_from)
            .group_by(*dims_of_votes)
            for days, start, whole_from in edges
        ]
        parts = union_all(whole, *vote_edges).subquery("parts")
        dims = (parts.c.model, parts.c.intent, parts.c.project)

        def total(name: str) -> Any:
            return cast(func.sum(parts.c[name]), BigInteger)

        def mean(name: str, count: str) -> Any:
            return cast(func.sum(parts.c[name]), Float) / func.nullif(func.sum(parts.c[count]), 0)

        totals = (
            select(
                parts.c.days,
                func.grouping(*dims).label("grouping"),
                *dims,
                total("total").label("total_feedback"),
                total("positive").label("positive"),
                total("negative").label("negative"),
                mean("memory_sum", "memory_count").label("avg_memory_used"),
                mean("response_time_sum", "response_time_count").label("avg_response_time_ms"),
                mean("stars_sum", "stars_count").label("avg_stars"),
            )
            .group_by(parts.c.days, func.cube(*dims))
            .subquery("totals")
        )
        m, mw = MemberLastCast, _MEMBER_WINDOWS
        member_parts = union_all(
            select(mw.c.days, *(mw.c[n] for n in _CELL), mw.c.count),
            *(
                select(
                    days, m.kind, m.grouping, m.model, m.intent, m.project,
                    literal(1, BigInteger),
                ).where(m.last_at >= start, m.last_at < whole_from)
                for days, start, whole_from in edges
            ),
        ).subquery("members")  # fmt: skip
        mp = member_parts

        def members_of(kind: int) -> Any:
            return func.coalesce(func.sum(mp.c.count).filter(mp.c.kind == kind), 0)

        uniques = (
            select(
                mp.c.days,
                mp.c.grouping,
                mp.c.model,
                mp.c.intent,
                mp.c.project,
                cast(members_of(USER), BigInteger).label("users"),
                cast(members_of(SESSION), BigInteger).label("sessions"),
            )
            .group_by(mp.c.days, mp.c.grouping, mp.c.model, mp.c.intent, mp.c.project)
            .subquery("uniques")
        )
        same_cell = and_(
            uniques.c.days == totals.c.days,
            uniques.c.grouping == totals.c.grouping,
            *(uniques.c[d].is_not_distinct_from(totals.c[d]) for d in DIMENSIONS),
        )
        rows = select(
            totals.c.days,
            totals.c.grouping,
            *(totals.c[d] for d in DIMENSIONS),
            totals.c.total_feedback,
            totals.c.positive,
            totals.c.negative,
            func.coalesce(uniques.c.users, 0),
            func.coalesce(uniques.c.sessions, 0),
            totals.c.avg_memory_used,
            totals.c.avg_response_time_ms,
            totals.c.avg_stars,
        ).outerjoin_from(totals, uniques, same_cell)
        await self.session.execute(delete(WindowStat))
        await self.session.execute(
            insert(WindowStat).from_select(
                [
                    "days", "grouping", "model", "intent", "project", "total_feedback",
                    "positive", "negative", "unique_users", "unique_sessions",
                    "avg_memory_used", "avg_response_time_ms", "avg_stars",
                ],
                rows,
            )
        )  # fmt: skip

    # -- top queries: question counts per hour, per window, and the edge -------------------

    async def interactions_left_windows(self, since: datetime, now: datetime) -> bool:
        ranges = [
            and_(Interaction.created_at >= since - timedelta(days=d),
                 Interaction.created_at < now - timedelta(days=d))
            for d in STANDARD_WINDOWS
        ]  # fmt: skip
        return bool(await self.session.scalar(select(or_(*(exists().where(r) for r in ranges)))))

    async def _add_to_query_windows(self, rows: Any, sign: int, now: datetime, *ctes: Any) -> None:
        """query_windows += sign x the question counts `rows` (a CTE of query_hours rows)
        in each window's whole hours. The same statement as the change of `rows` (or of
        `ctes`)."""
        w = _windows(now)
        summed = (
            select(
                w.c.days,
                rows.c.query_hash,
                func.min(rows.c.query),
                cast(func.sum(rows.c.count), BigInteger) * sign,
            )
            .join_from(rows, w, rows.c.hour >= w.c.whole)
            .group_by(w.c.days, rows.c.query_hash)
        )
        stmt = insert(QueryWindow).from_select(["days", "query_hash", "query", "count"], summed)
        stmt = stmt.on_conflict_do_update(
            index_elements=["days", "query_hash"],
            set_={"count": QueryWindow.count + stmt.excluded.count},
        ).add_cte(*ctes)
        await self.session.execute(stmt)

    async def _drop_empty_query_windows(self) -> None:
        await self.session.execute(
            delete(QueryWindow).where(
                QueryWindow.days.in_(STANDARD_WINDOWS), QueryWindow.count == 0
            )
        )

    async def rebuild_query_hours(self, hours: Collection[datetime] | None, now: datetime) -> None:
        """Recompute the question counts of `hours` (UTC interaction hours), or of every
        hour the longest window covers, and apply the difference to query_windows.

        The counts of an hour are recomputed from its interactions, and only the questions
        whose count differs are written: a new interaction changes a row, not the hour's."""
        first = ceil_hour(now - timedelta(days=max(STANDARD_WINDOWS)))
        hour = utc_hour(Interaction.created_at)
        names = ("hour", "query_hash", "query", "count")
        if hours is None:
            await self.session.execute(delete(QueryHour))
            await self.session.execute(delete(QueryWindow))
            counted = (
                select(hour, query_hash(Interaction.query), Interaction.query, func.count())
                .where(Interaction.created_at >= first)
                .group_by(hour, Interaction.query)
            )
            new = (
                insert(QueryHour)
                .from_select(list(names), counted)
                .returning(*(QueryHour.__table__.c[n] for n in names))
                .cte("new")
            )
            await self._add_to_query_windows(new, 1, now)
            await self._drop_empty_query_windows()
            return
        hours = sorted(h for h in hours if h >= first)
        if not hours:
            return
        counted_ = (
            select(
                hour.label("hour"),
                query_hash(Interaction.query).label("query_hash"),
                Interaction.query.label("query"),
                func.count().label("count"),
            )
            .where(_within(Interaction.created_at, _spans(hours, HOUR)))
            .group_by(hour, Interaction.query)
            .subquery("counted")
        )
        stored = (
            select(*(QueryHour.__table__.c[n] for n in names))
            .where(QueryHour.hour.in_(hours))
            .subquery("stored")
        )
        c, st = counted_.c, stored.c
        diff = (
            select(
                func.coalesce(c.hour, st.hour).label("hour"),
                func.coalesce(c.query_hash, st.query_hash).label("query_hash"),
                func.coalesce(c.query, st.query).label("query"),
                (func.coalesce(c["count"], 0) - func.coalesce(st["count"], 0)).label("count"),
                c["count"].label("now_count"),
            )
            .select_from(
                counted_.outerjoin(
                    stored, and_(c.hour == st.hour, c.query_hash == st.query_hash), full=True
                )
            )
            .where(c["count"].is_distinct_from(st["count"]))
            .cte("diff")
        )
        kept = insert(QueryHour).from_select(
            list(names),
            select(diff.c.hour, diff.c.query_hash, diff.c.query, diff.c.now_count).where(
                diff.c.now_count.is_not(None)
            ),
        )
        kept = kept.on_conflict_do_update(
            index_elements=["hour", "query_hash"], set_={"count": kept.excluded.count}
        )
        gone = delete(QueryHour).where(
            tuple_(QueryHour.hour, QueryHour.query_hash).in_(
                select(diff.c.hour, diff.c.query_hash).where(diff.c.now_count.is_(None))
            )
        )
        await self._add_to_query_windows(diff, 1, now, kept.cte("kept"), gone.cte("gone"))
        await self._drop_empty_query_windows()

    async def slide_query_windows(self, since: datetime, now: datetime) -> None:
        """Take out of each window the whole hours it no longer covers (its first whole hour
        moved from that of the refresh at `since` to that of `now`), and forget the hours
        no window covers. Whenever a window's first whole hour moves, with or without
        interactions in between: query_windows must stay the sum from that hour on."""
        moved = False
        for days in STANDARD_WINDOWS:
            old, new = (ceil_hour(t - timedelta(days=days)) for t in (since, now))
            if new <= old:
                continue
            moved = True
            summed = (
                select(
                    literal(days, SmallInteger),
                    QueryHour.query_hash,
                    func.min(QueryHour.query),
                    -cast(func.sum(QueryHour.count), BigInteger),
                )
                .where(QueryHour.hour >= old, QueryHour.hour < new)
                .group_by(QueryHour.query_hash)
            )
            stmt = insert(QueryWindow).from_select(["days", "query_hash", "query", "count"], summed)
            stmt = stmt.on_conflict_do_update(
                index_elements=["days", "query_hash"],
                set_={"count": QueryWindow.count + stmt.excluded.count},
            )
            await self.session.execute(stmt)
        if not moved:
            return
        first = ceil_hour(now - timedelta(days=max(STANDARD_WINDOWS)))
        await self.session.execute(delete(QueryHour).where(QueryHour.hour < first))
        await self._drop_empty_query_windows()

    async def rebuild_top_queries(self, now: datetime) -> None:
        """The first TOP_QUERIES_KEPT questions of each window: counts of its whole hours
        (query_windows) plus its partial first hour (from the interactions).

        Only the window's leading TOP_QUERIES_KEPT questions by whole-hour count and the
        questions of the partial hour can rank: any other one is behind those leaders on
        both its count and its name. So the cost is an index read and an hour of rows.
        """
        await self.session.execute(delete(TopQuery))
        for days in STANDARD_WINDOWS:
            start = now - timedelta(days=days)
            edge = (
                select(
                    query_hash(Interaction.query).label("query_hash"),
                    Interaction.query,
                    func.count().label("count"),
                )
                .where(Interaction.created_at >= start, Interaction.created_at < ceil_hour(start))
                .group_by(Interaction.query)
                .cte(f"edge_{days}")
            )
            leaders = (
                select(QueryWindow.query_hash)
                .where(QueryWindow.days == days)
                .order_by(QueryWindow.count.desc(), QueryWindow.query)
                .limit(TOP_QUERIES_KEPT)
            )
            candidates = select(edge.c.query_hash).union(leaders).subquery("candidates")
            stored = QueryWindow.__table__.alias("stored")
            query = func.coalesce(stored.c.query, edge.c.query)
            counted = func.coalesce(stored.c.count, 0) + func.coalesce(edge.c.count, 0)
            rows = (
                select(
                    literal(days, SmallInteger),
                    func.row_number().over(order_by=(counted.desc(), query)),
                    query,
                    counted,
                )
                .select_from(candidates)
                .outerjoin(
                    stored,
                    and_(stored.c.days == days, stored.c.query_hash == candidates.c.query_hash),
                )
                .outerjoin(edge, edge.c.query_hash == candidates.c.query_hash)
                .order_by(counted.desc(), query)
                .limit(TOP_QUERIES_KEPT)
            )
            await self.session.execute(
                insert(TopQuery).from_select(["days", "rank", "query", "count"], rows)
            )

    # -- the view and the state ------------------------------------------------------------

    async def refresh_accuracy_view(self) -> None:
        # CONCURRENTLY: readers keep the old rows until the new ones commit. Over vote_hours,
        # so it costs the rollup's rows, not the feedback table's.
        await self.session.execute(text("REFRESH MATERIALIZED VIEW CONCURRENTLY model_accuracy"))

    async def record_refresh(self, as_of: datetime, duration_ms: float, full: bool) -> None:
        values_: dict[str, Any] = {"refreshed_at": as_of, "duration_ms": duration_ms}
        if full:
            values_ |= {"full_rebuild_at": as_of, "windows": list(self.windows)}
        stmt = insert(RefreshState).values(id=1, **values_)
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values_))


class AnalyticsRepository:
    """The analytics' reads: the rollups, the view and live queries over the tables."""

    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def transaction_time(self) -> datetime:
        value: datetime | None = await self.session.scalar(select(func.now()))
        assert value is not None
        return value

    async def refresh_state(self) -> RefreshState | None:
        return await self.session.get(RefreshState, 1, populate_existing=True)

    async def accuracy(self, where: Slice, group_by: Sequence[str], min_total: int) -> list[AnyRow]:
        """Per group: the `group_by` labels in order, then total, positive, negative,
        stars_sum, stars_count, last_feedback_at and the refresh time (as_of)."""
        dims = [model_accuracy.c[d] for d in group_by]

        def total_of(column: Any) -> Any:
            # sum(bigint) is numeric in PostgreSQL: back to bigint, so Python sees ints.
            return cast(func.sum(column), BigInteger)

        total = total_of(model_accuracy.c.total)
        stmt = (
            select(
                *dims,
                total.label("total"),
                total_of(model_accuracy.c.positive).label("positive"),
                total_of(model_accuracy.c.negative).label("negative"),
                total_of(model_accuracy.c.stars_sum).label("stars_sum"),
                total_of(model_accuracy.c.stars_count).label("stars_count"),
                func.max(model_accuracy.c.last_feedback_at).label("last_feedback_at"),
                # The refresh time rides along: one round trip instead of two.
                select(RefreshState.refreshed_at).scalar_subquery().label("as_of"),
            )
            .where(*(model_accuracy.c[d] == v for d, v in where.given().items()))
            .group_by(*dims)
            .having(total >= max(min_total, 1))
            .order_by(*dims)
        )
        return list((await self.session.execute(stmt)).all())

    async def window_stats(self, days: int, where: Slice) -> WindowStat | None:
        stmt = select(WindowStat).where(WindowStat.days == days, *_cube_row(WindowStat, where))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def live_stats(self, since: datetime, until: datetime, where: Slice) -> AnyRow:
        stmt = (
            select(*_feedback_aggregates())
            .select_from(Feedback)
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where(Feedback.created_at >= since, Feedback.created_at < until, *_slice(where))
        )
        return (await self.session.execute(stmt)).one()

    async def daily(
        self, since: date, until: date, where: Slice, by: str | None = None
    ) -> list[DailyMetric]:
        """The slice's days; with `by`, one row per day and value of that dimension."""
        stmt = (
            select(DailyMetric)
            .where(DailyMetric.day >= since, DailyMetric.day <= until)
            .where(*_cube_row(DailyMetric, where, by))
            .order_by(DailyMetric.day)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def reasons(self, since: date, until: date, where: Slice) -> list[AnyRow]:
        """Per model (and for all models: model NULL) and reason (NULL: every vote): up and
        down votes over the UTC days from `since` to `until`, both included."""
        grouping = where.grouping()  # with the model bit (4) set unless a model is given
        groupings = [grouping] if where.model is not None else [grouping, grouping & ~4]
        conditions = [getattr(DailyReason, dim) == v for dim, v in where.given().items()]
        up = cast(func.sum(DailyReason.up_votes), BigInteger)
        down = cast(func.sum(DailyReason.down_votes), BigInteger)
        stmt = (
            select(DailyReason.model, DailyReason.reason, up.label("up"), down.label("down"))
            .where(DailyReason.day >= since, DailyReason.day <= until)
            .where(DailyReason.grouping.in_(groupings), *conditions)
            .group_by(DailyReason.grouping, DailyReason.model, DailyReason.reason)
            .order_by(DailyReason.model.nulls_first(), down.desc(), DailyReason.reason)
        )
        return list((await self.session.execute(stmt)).all())

    async def top_queries(self, days: int, limit: int) -> list[AnyRow]:
        stmt = (
            select(TopQuery.query, TopQuery.count)
            .where(TopQuery.days == days)
            .order_by(TopQuery.rank)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def live_top_queries(self, since: datetime, limit: int) -> list[AnyRow]:
        counted = func.count()
        stmt = (
            select(Interaction.query, counted.label("count"))
            .where(Interaction.created_at >= since)
            .group_by(Interaction.query)
            .order_by(counted.desc(), Interaction.query)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def segment_votes(self, days: int) -> list[AnyRow]:
        """Votes of the window of `days` kept by the last refresh (RollupRepository.windows),
        per segment: (model, intent, project, positive, negative) for each model, model x
        intent and model x project, with the dimension that is not part of the segment NULL
        (segments of an unknown intent or project are left out, so a NULL always means
        "all"). A row per segment of window_stats: exact, and as of the last refresh."""
        w = WindowStat
        bits = _GROUPING_BITS
        by_model = w.grouping == bits["intent"] | bits["project"]
        by_intent = and_(w.grouping == bits["project"], w.intent.is_not(None))
        by_project = and_(w.grouping == bits["intent"], w.project.is_not(None))
        stmt = (
            select(w.model, w.intent, w.project, w.positive, w.negative)
            .where(w.days == days, or_(by_model, by_intent, by_project))
            .order_by(w.model, w.intent.nulls_first(), w.project.nulls_first())
        )
        return list((await self.session.execute(stmt)).all())
