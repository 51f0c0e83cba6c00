"""Where the estimate of accuracy reads a window's answers from: the parts tile the window
exactly, and no kept day or hour has a rule start or stop inside it."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from feedback_api.review.estimated.window import Rule, Scope, Span, split_window

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _rule(since: datetime, stopped_at: datetime | None = None) -> Rule:
    return Rule(uuid.uuid4(), 0.1, since, stopped_at, None, None, None)


def _scope(since: datetime, until: datetime) -> Scope:
    return Scope(since, until, None, None, None, "model", None)


def _tiles(spans: list[Span], since: datetime, until: datetime) -> None:
    ordered = sorted(spans)
    assert all(a < b for a, b in ordered)
    assert ordered[0][0] == since and ordered[-1][1] == until
    assert all(left[1] == right[0] for left, right in pairwise(ordered))


def test_the_parts_tile_the_window_and_no_rule_starts_inside_a_kept_one() -> None:
    rng = random.Random(7)
    for _ in range(500):
        since = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 10))
        until = since + timedelta(minutes=rng.randrange(1, 60 * 24 * 40))
        kept = None if rng.random() < 0.1 else since + (until - since) * rng.random() * 1.2
        times = [since + (until - since) * rng.random() for _ in range(rng.randrange(0, 4))]
        # Some on the hour, some at midnight.
        times = [
            t.replace(minute=0, second=0, microsecond=0) if rng.random() < 0.3 else t for t in times
        ]
        times = [t.replace(hour=0) if rng.random() < 0.2 else t for t in times]
        rules = [
            _rule(t, rng.choice([None, t + timedelta(hours=rng.randrange(0, 200))])) for t in times
        ]
        parts = split_window(_scope(since, until), rules, kept)
        _tiles(parts.days + parts.hours + parts.raw, since, until)
        bounds = [t for r in rules for t in (r.since, r.stopped_at) if t is not None]
        for a, b in parts.days + parts.hours:
            assert a.minute == a.second == a.microsecond == 0 and b.minute == 0
            assert kept is not None and b <= kept
            assert not any(a < t < b for t in bounds)
        for a, b in parts.days:
            assert a.hour == 0 and b.hour == 0


def test_the_usual_window() -> None:
    """The last 30 days up to now, one rule since long ago, refreshed a minute ago: whole
    days from the first midnight, hours around them, the partial hours from the answers."""
    now = datetime(2026, 12, 5, 22, 48, tzinfo=UTC)
    parts = split_window(
        _scope(now - timedelta(days=30), now),
        [_rule(now - timedelta(days=365))],
        now - timedelta(minutes=1),
    )
    assert parts.days == [(datetime(2026, 11, 6, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC))]
    assert parts.hours == [
        (datetime(2026, 11, 5, 23, tzinfo=UTC), datetime(2026, 11, 6, tzinfo=UTC)),
        (datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 5, 22, tzinfo=UTC)),
    ]
    assert parts.raw == [
        (now - timedelta(days=30), datetime(2026, 11, 5, 23, tzinfo=UTC)),
        (datetime(2026, 12, 5, 22, tzinfo=UTC), now),
    ]


def test_nothing_kept_before_the_first_refresh() -> None:
    since, until = T0, T0 + timedelta(days=3)
    parts = split_window(_scope(since, until), [_rule(T0)], None)
    assert (parts.days, parts.hours, parts.raw) == ([], [], [(since, until)])
