"""weighted's first lines: the first example with an intent, the first with a project and the
first with reasons, written before the others (`ExportRepository.stream_rows`).

`datasets.load_dataset("json")` infers each block's types (10 MB) on its own and fails when a
block where a field is only ever null (or an empty list) comes before one where it is not.
With these lines at the top, the first block knows every field's type.

Each is the example of the earliest vote of the window (by cast time, then id) that shows
its kind and whose example is written. Looking for it vote by vote costs a pass over the
window when the kind is rare or absent there (docs/benchmarks/exports.md, bench_first_lines), so
where the rollups are kept it reads only the cast hours where the kind can be
(docs/decisions/022-first-lines-from-the-vote-hours.md): those of `vote_hours` with an intent,
a project or votes with reasons (`reasoned`) in the selection's segments, and those of the
votes written since the last refresh (the change log, which names each vote's cast time and
segment but not its reasons: every such hour is read for reasons).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    cast,
    func,
    literal,
    select,
    true,
    union,
)
from sqlalchemy.orm import aliased

from feedback_api.analytics.buckets import HOUR, floor_hour, utc_hour
from feedback_api.analytics.models import AnalyticsChange, VoteHour
from feedback_api.exports.examples import sft_keep, streamed_examples
from feedback_api.exports.selection import Selection, Shape, has_text, in_window
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction


@dataclass(frozen=True)
class Kind:
    """A kind of first line: what the vote's own row (`vote`) or its exchange (`exchange`)
    must show (cheap tests made before its example is looked up), what its example must, what
    a `vote_hours` row (an hour and segment) must for the hour to hold such a vote, and a
    logged change (None: any)."""

    vote: Callable[[Any], ColumnElement[bool]] | None
    exchange: ColumnElement[bool] | None
    example: Callable[[Any], Any]
    kept: ColumnElement[bool]
    logged: ColumnElement[bool] | None


def _segment_kind(name: str) -> Kind:
    """A kind that is a dimension of the segment (intent, project): the exchange's column,
    which `vote_hours` and the change log keep too."""
    return Kind(
        None,
        getattr(Interaction, name).is_not(None),
        lambda example: example.c[name].is_not(None),
        getattr(VoteHour, name).is_not(None),
        getattr(AnalyticsChange, name).is_not(None),
    )


KINDS = (
    _segment_kind("intent"),
    _segment_kind("project"),
    Kind(
        lambda vote: func.cardinality(vote.reasons) > 0,
        None,
        lambda example: example.c.reasons.is_not(None),
        VoteHour.reasoned > 0,
        None,
    ),
)


def first_lines_queries(
    selection: Selection, shape: Shape, *, kept: bool
) -> list[Select[*tuple[Any, ...]]]:
    """One query a kind (`KINDS`), each of one row at most. `kept`: the rollups are kept
    (a full refresh has run since the last upgrade), so `vote_hours` says where to look;
    otherwise each reads the window's votes in order until it finds one."""
    if shape.format != "weighted":
        return []
    return [_first_line(selection, shape, kind, kept=kept) for kind in KINDS]


def _first_line(selection: Selection, shape: Shape, kind: Kind, *, kept: bool) -> Any:
    """The first row of `streamed_examples` of `kind`: for each span of cast times in order
    (`_spans`), its votes in index order (`span_votes`), each one's example looked up
    (`first_line`) until one is written.

    Each step is a LATERAL of the one before, so that order is the plan's whatever the
    statistics say: with a kind's rows left out of them (a kind that became common since the
    last ANALYZE), the planner otherwise reads the few exchanges it expects to have the kind
    first, then sorts their votes, all of them.
    """
    keep = sft_keep(shape)

    def both(example: Any, positive: Any) -> Any:
        return and_(keep(example, positive), kind.example(example))

    spans = _spans(selection, kind) if kept else _whole(selection)
    vote = aliased(Feedback, name="span_vote")
    in_span = [
        in_window(selection, vote.created_at),
        vote.created_at >= spans.c.lo,
        vote.created_at < spans.c.hi,
        *([] if kind.vote is None else [kind.vote(vote)]),
    ]
    votes = (
        select(vote.created_at, vote.id)
        .where(*in_span)
        .order_by(vote.created_at, vote.id)
        .lateral("span_votes")
    )
    first = (
        streamed_examples(selection, shape, both, with_ids=False)
        .where(
            # The vote by both columns of `ix_feedback_created_at`: one row by either index
            # the planner picks. By its id alone, right after a bulk load it read the window
            # by that index (taking it for a few rows) to find each vote.
            Feedback.created_at == votes.c.created_at,
            Feedback.id == votes.c.id,
            has_text(Interaction.query),
            has_text(Interaction.response),
            *([] if kind.exchange is None else [kind.exchange]),
        )
        .limit(1)
        .lateral("first_line")
    )
    return select(*first.c).select_from(spans).join(votes, true()).join(first, true()).limit(1)


def _whole(selection: Selection) -> Any:
    """The window as one span."""
    bounds = (cast(literal(t), DateTime(timezone=True)) for t in (selection.since, selection.until))
    return select(*(b.label(n) for b, n in zip(bounds, ("lo", "hi"), strict=True))).subquery(
        "spans"
    )


def _spans(selection: Selection, kind: Kind) -> Any:
    """The cast hours of the window where a vote of `kind` may be, in order, each cut to the
    window: the hours `vote_hours` keeps with one, and the hours of the votes logged since the
    last refresh (their hours of `vote_hours` are as they were before those votes)."""
    filters = selection.filters().items()
    hours = VoteHour.hour
    kept = select(hours.label("hour")).where(
        hours >= floor_hour(selection.since),
        hours < selection.until,
        kind.kept,
        *(getattr(VoteHour, k) == v for k, v in filters),
    )
    change = AnalyticsChange
    logged = select(utc_hour(change.cast_at).label("hour")).where(
        in_window(selection, change.cast_at),
        *([] if kind.logged is None else [kind.logged]),
        *(getattr(change, k) == v for k, v in filters),
    )
    found = union(kept, logged).subquery("hours")
    return (
        select(
            func.greatest(found.c.hour, selection.since).label("lo"),
            func.least(found.c.hour + HOUR, selection.until).label("hi"),
        )
        .order_by(found.c.hour)
        .subquery("spans")
    )
