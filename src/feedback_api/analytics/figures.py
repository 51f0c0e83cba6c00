"""Each figure's expression, written once: the SQL that counts it over votes, and the ratio
an endpoint derives from the counts. The rollups, the live statistics, the weekly report and
the exports use these, so a name means one thing everywhere (docs/analytics.md, "Lineage").

SQL aggregates are over rows of `feedback` (joined to their interactions where a figure
needs them); ratios take the counts and return None where the whole is zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Numeric, Text, cast, distinct, func, not_, null, select, union_all

from feedback_api.feedback.models import Feedback

# -- counts over votes (SQL aggregates) -----------------------------------------------------


def votes() -> Any:
    """Votes (a user's replaced vote counts once: it is one row)."""
    return func.count()


def positive(is_helpful: Any = Feedback.is_helpful) -> Any:
    """Thumbs-up votes (`is_helpful`: the vote's column, or a CTE's copy of it)."""
    return func.count().filter(is_helpful)


def negative(is_helpful: Any = Feedback.is_helpful) -> Any:
    """Thumbs-down votes."""
    return func.count().filter(not_(is_helpful))


def corrections() -> Any:
    """Votes that carry a correction (the answer the user wanted): one with some text, not
    only whitespace (what an export can learn from)."""
    return func.count().filter(Feedback.correction.regexp_match(r"\S"))


def per_reason(votes: Any, by: Sequence[str]) -> Any:
    """The votes of `votes` (a CTE with the columns `by`, `is_helpful` and `reasons`) per
    group of `by` and reason: `up_votes` and `down_votes` once for each reason a vote gave,
    and a row with `reason` NULL for every vote of the group, with or without a reason (the
    whole that `share_of_down_votes` divides by). The reasons rollup and the weekly report
    count with this; both group by the answer's time, like every per-day figure."""
    given = select(
        *(votes.c[name] for name in by),
        votes.c.is_helpful,
        func.unnest(votes.c.reasons).label("reason"),
    ).subquery("given")
    counted = []
    for source, reason in ((given, given.c.reason), (votes, None)):
        group = [source.c[name] for name in by]
        counted.append(
            select(
                *group,
                (reason if reason is not None else cast(null(), Text)).label("reason"),
                positive(source.c.is_helpful).label("up_votes"),
                negative(source.c.is_helpful).label("down_votes"),
            ).group_by(*group, *([reason] if reason is not None else []))
        )
    # One statement: a CTE named twice is read once.
    return union_all(*counted)


def vote_share(positive: Any, votes: Any) -> Any:
    """An answer's share of thumbs-up among its votes (NULL with none), from its counts: the
    prediction of its correctness the estimate of accuracy uses. Exact decimals, so that its
    sums over answers do not depend on the order they are added in."""
    return cast(positive, Numeric) / func.nullif(votes, 0)


def without_reason(is_helpful: Any = Feedback.is_helpful, reasons: Any = Feedback.reasons) -> Any:
    """Thumbs-down votes that gave no reason."""
    return func.count().filter(not_(is_helpful), func.cardinality(reasons) == 0)


def stars_sum() -> Any:
    return func.coalesce(func.sum(Feedback.stars), 0)


def stars_count() -> Any:
    """Votes with stars: what avg_stars divides by."""
    return func.count(Feedback.stars)


def answered() -> Any:
    """Answers (interactions) with at least one vote: what feedback_rate divides."""
    return func.count(distinct(Feedback.interaction_id))


# -- ratios of counts -----------------------------------------------------------------------


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def accuracy(positive: int, total: int) -> float | None:
    """Positive votes / votes."""
    return ratio(positive, total)


def positive_ratio(positive: int, negative: int) -> float | None:
    """Positive votes / (positive + negative votes)."""
    return ratio(positive, positive + negative)


def percent(part: int, whole: int) -> float | None:
    """part / whole in percent (0-100)."""
    share = ratio(part, whole)
    return None if share is None else 100 * share


def mean(total: float | None, count: int | None) -> float | None:
    """An average from its sum and count (how the rollups keep it: they add up exactly)."""
    return None if total is None or not count else total / count


def feedback_rate(answered: int, answers: int) -> float | None:
    """The share of answers (interactions) with at least one vote: between 0 and 1, over the
    answers given in the days asked (a vote counts on its answer's day)."""
    return ratio(answered, answers)


def share_of_down_votes(down_votes: int, all_down_votes: int) -> float | None:
    """A reason's down-votes / every down-vote of the same votes (with or without a reason;
    a vote may give several reasons, so shares can add up to more than 1), both counted by
    `per_reason` over the answers of the same days."""
    return ratio(down_votes, all_down_votes)
