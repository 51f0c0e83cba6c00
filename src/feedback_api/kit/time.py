"""Calendar rules the exports, the analytics and the weekly report share: ISO weeks in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

# The longest window, in days, that a metric or an export reads at once: ten years.
MAX_DAYS = 3660

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True)
class Week:
    """An ISO 8601 week: Monday 00:00 UTC to the next Monday."""

    year: int
    number: int

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.monday, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    @property
    def previous(self) -> Week:
        return Week.containing(self.monday - timedelta(days=7))

    @classmethod
    def containing(cls, day: date) -> Week:
        year, number, _ = day.isocalendar()
        return cls(year, number)

    def __str__(self) -> str:
        return f"{self.year:04d}-W{self.number:02d}"  # ISO 8601: a four-digit year


def parse_week(raw: str) -> Week:
    """`2026-W47` (or `2026W47`) -> Week; the ValueError says what is wrong, for the caller's
    own message."""
    match = _WEEK.match(raw.strip())
    if match is None:
        raise ValueError(f"{raw!r} is not an ISO week; write it like 2026-W47")
    year, number = int(match[1]), int(match[2])
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no week {number}") from None
    return Week(year, number)


def iso_week_of(moment: datetime) -> str:
    """'2026-W47': the week of `moment`'s own date (in its time zone)."""
    return str(Week.containing(moment.date()))


def last_finished_week(now: datetime) -> Week:
    return Week.containing(now.astimezone(UTC).date()).previous
