"""The change log: what a write touched, for the next refresh. The one part of the analytics
other domains import: a write adds `log_changes(select(*change_row(...)))` to its own
statement (a CTE) or transaction, so a change is logged if and only if the write commits.

The refresher takes the log (`ChangeLog.take`) and hands the rollups a `Changes`: the hours,
days and members they recompute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Insert,
    Select,
    cast,
    delete,
    false,
    null,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.buckets import floor_hour, utc_date, utc_hour
from feedback_api.analytics.models import AnalyticsChange

__all__ = ["CHANGE_COLUMNS", "ChangeLog", "Changes", "change_row", "log_changes", "utc_hour"]

CHANGE_COLUMNS = (
    "answer_hour", "query_hour", "cast_at", "model", "intent", "project", "user_id", "session_id",
    "removed",
)  # fmt: skip
# member_last_casts.kind
USER, SESSION = 0, 1


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


# (kind, member, model, intent, project): a member's last cast in a segment
CastKey = tuple[int, str, str | None, str | None, str | None]


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
    cast: dict[CastKey, datetime] = field(default_factory=dict)

    @property
    def days(self) -> set[date]:
        """The days of daily_metrics recomputed whole: those whose interactions changed."""
        return {utc_date(h) for h in self.query_hours}

    @property
    def vote_days(self) -> set[date]:
        """The days whose vote figures changed (sums of their answer hours)."""
        return {utc_date(h) for h in self.answer_hours}

    @property
    def voted(self) -> bool:
        """Whether a vote was cast, changed or removed."""
        return bool(self.vote_hours or self.removed_members or self.cast)

    def __bool__(self) -> bool:
        return bool(
            self.answer_hours or self.query_hours or self.vote_hours or self.removed_members
        )


class ChangeLog:
    """The refresher's side of the log: take what was logged."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def take(self) -> Changes:
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
            for kind, member in ((USER, user), (SESSION, session_)):
                if member is None:
                    continue
                if removed:
                    changes.removed_members.add((kind, member))
                elif cast_at is not None:
                    key = (kind, member, model, intent, project)
                    known = changes.cast.get(key)
                    changes.cast[key] = cast_at if known is None else max(known, cast_at)
        return changes
