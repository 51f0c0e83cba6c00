"""The window of an estimate of accuracy, and where its answers are read from: whole UTC
days and hours the refresher kept, the rest from the answers themselves. Time arithmetic
only; the statements are in repository.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from feedback_api.analytics.buckets import HOUR, ceil_hour, floor_hour, spans

Span = tuple[datetime, datetime]
# A rule's time in the terms of the column it is compared with (a timestamp, or a day).
Bound = Callable[[datetime], Any]


def same(t: datetime) -> datetime:
    return t


@dataclass(frozen=True)
class Scope:
    since: datetime
    until: datetime
    model: str | None
    intent: str | None
    project: str | None
    group_by: str
    queue_id: uuid.UUID | None


@dataclass(frozen=True)
class Rule:
    id: uuid.UUID
    rate: float
    since: datetime
    stopped_at: datetime | None
    model: str | None
    intent: str | None
    project: str | None


def _day_start(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def ceil_day(t: datetime) -> date:
    """The first UTC day that starts at or after `t`."""
    start = _day_start(t)
    return start.date() if start == t else start.date() + timedelta(days=1)


@dataclass(frozen=True)
class Parts:
    """Where the answers of a window are summed from."""

    days: list[Span]  # whole UTC days: daily_metrics
    hours: list[Span]  # whole hours: answer_hours
    raw: list[Span]  # the answers themselves


def split_window(scope: Scope, rules: Sequence[Rule], kept_until: datetime | None) -> Parts:
    """The window's whole hours the refresher kept (before `kept_until`), cut where a rule
    starts or stops (an hour a rule starts inside is read from the answers), their whole
    days summed per day; the rest read from the answers."""
    first = ceil_hour(scope.since)
    last = floor_hour(scope.until if kept_until is None else min(scope.until, kept_until))
    if kept_until is None or first >= last:
        return Parts([], [], [(scope.since, scope.until)])
    raw: list[Span] = [(scope.since, first)] if scope.since < first else []
    if last < scope.until:
        raw.append((last, scope.until))
    cut_hours: set[datetime] = set()
    pieces: list[Span] = []
    start = first
    for t in sorted({t for r in rules for t in (r.since, r.stopped_at) if t and first < t < last}):
        hour = floor_hour(t)
        if hour != t:
            cut_hours.add(hour)
        if start < hour:
            pieces.append((start, hour))
        start = max(start, hour if hour == t else hour + HOUR)
    if start < last:
        pieces.append((start, last))
    parts = Parts([], [], raw + spans(cut_hours, HOUR))
    for a, b in pieces:
        day_a = _day_start(a) if _day_start(a) == a else _day_start(a) + timedelta(days=1)
        day_b = _day_start(b)
        if day_a < day_b:
            parts.days.append((day_a, day_b))
            parts.hours.extend(span for span in ((a, day_a), (day_b, b)) if span[0] < span[1])
        else:
            parts.hours.append((a, b))
    return parts
