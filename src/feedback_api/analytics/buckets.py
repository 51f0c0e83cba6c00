"""Time buckets and cells: the UTC hours and days every rollup groups by, the kept windows'
bounds, and the CUBE cells (model x intent x project, each possibly "all") analysts slice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Values,
    and_,
    cast,
    column,
    false,
    func,
    literal_column,
    or_,
    values,
)

from feedback_api.interactions.models import Interaction

DIMENSIONS = ("model", "intent", "project")
STANDARD_WINDOWS = (7, 30, 90)
HOUR = timedelta(hours=1)
# GROUPING(model, intent, project) bits: which dimensions a CUBE row sums over.
GROUPING_BITS = {"model": 4, "intent": 2, "project": 1}


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
            bit for dim, bit in GROUPING_BITS.items() if getattr(self, dim) is None and dim != by
        )


def cube_row(table: Any, where: Slice, by: str | None = None) -> list[ColumnElement[bool]]:
    """The conditions that pick, in a CUBE rollup, the rows answering `where` (and `by`)."""
    conditions = [table.grouping == where.grouping(by)]
    conditions += [getattr(table, dim) == value for dim, value in where.given().items()]
    return conditions


def sliced(where: Slice) -> list[ColumnElement[bool]]:
    """The interactions of a slice."""
    return [getattr(Interaction, dim) == value for dim, value in where.given().items()]


def cube(source: Any = Interaction) -> Any:
    return func.cube(source.model, source.intent, source.project)


def grouping(source: Any = Interaction) -> Any:
    return func.grouping(source.model, source.intent, source.project)


def same_cell(a: Any, b: Any, *keys: str) -> ColumnElement[bool]:
    """The same `keys` and CUBE cell (NULL dimensions included) of two row sources."""
    return and_(
        *(a.c[k] == b.c[k] for k in (*keys, "grouping")),
        *(a.c[n].is_not_distinct_from(b.c[n]) for n in DIMENSIONS),
    )


# -- hours and days ------------------------------------------------------------------------


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


def utc_date(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def spans(starts: Iterable[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted [start, start + step) spans with neighbours merged: fewer index ranges."""
    merged: list[tuple[datetime, datetime]] = []
    for start in sorted(set(starts)):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], start + step)
        else:
            merged.append((start, start + step))
    return merged


def within(ts: Any, ranges: Sequence[tuple[datetime, datetime]]) -> ColumnElement[bool]:
    # One index range per span (a BitmapOr), however far apart the spans lie.
    return or_(false(), *(and_(ts >= a, ts < b) for a, b in ranges))


def in_hours(ts: Any, hours: Iterable[datetime]) -> ColumnElement[bool]:
    """`ts` falls in one of the UTC `hours`."""
    return within(ts, spans(hours, HOUR))


def in_days(ts: Any, days: Iterable[date]) -> ColumnElement[bool]:
    """`ts` falls on one of the UTC `days`."""
    starts = (datetime.combine(d, time.min, tzinfo=UTC) for d in days)
    return within(ts, spans(starts, timedelta(days=1)))


# -- windows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """A window of `days` ending at the refresh: its start, usually inside an hour, and the
    first whole hour at or after it. [start, whole) is the window's partial first hour."""

    days: int
    start: datetime
    whole: datetime


def edges(now: datetime, windows: Sequence[int]) -> list[Edge]:
    return [
        Edge(days, start, ceil_hour(start))
        for days, start in ((d, now - timedelta(days=d)) for d in windows)
    ]


def window_values(now: datetime, windows: Sequence[int]) -> Values:
    """`windows` (days) ending at `now` as a VALUES list: days, start, and each start's first
    whole hour (`whole`): a bucket at or after `whole` lies in the window's whole hours."""
    return values(
        column("days", Integer),
        column("start", DateTime(timezone=True)),
        column("whole", DateTime(timezone=True)),
        name="w",
    ).data([(e.days, e.start, e.whole) for e in edges(now, windows)])
