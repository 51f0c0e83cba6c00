"""Which vote of the window writes an example in a streamed export: the first of its votes
in the window in the order two indexes keep them (its exchange by the exchange's digests and
id, then the voter), found by looking one step back from each vote. (The pair formats still
find a prompt's first vote by the memoized `pairs._first_of_prompt`.)

A streamed export reads the window's votes one by one and writes each example from exactly
one of them. Asking every vote for all of its example's votes reads an example's votes once
for each of them: an answer logged 10,000 times in a week is 10^8 rows, and the export never
ends. Instead each vote asks whether another one comes before it: a vote in the window on the
twin just before its exchange in `ix_interactions_prompt_answer`, or on its own exchange by
the voter just before it in `uq_feedback_interaction_user`. Each look-back reads its index
backwards and stops at the first such vote; consecutive votes look back over stretches of the
index that do not overlap, so all the votes of an example read its twins about once between
them (docs/decisions/025-the-first-vote-writes-the-example.md).

Each look-back bounds a row of the index's columns between two rows (`tuple_`): only that
index can serve such a condition, so no plan walks another index (the votes by user, the
exchanges by id) for each vote, and the scan starts at the vote itself (an equality on the
leading columns would start it at the last entry of the exchange). The other alternatives
read every earlier vote of the exchange (a bitmap scan) or every exchange (a full scan) and
then sort them; the export turns bitmap scans and sorts off
(`ExportRepository._planner_off`), so PostgreSQL takes them only if nothing else can run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, literal, not_, or_, select, true, tuple_
from sqlalchemy.orm import aliased

from feedback_api.exports import reviewed
from feedback_api.exports.selection import Selection, in_window, matches
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction, answer_key, prompt_key
from feedback_api.review.models import ReviewItem

_FIRST_ID = uuid.UUID(int=0)  # no exchange's id sorts before it


def first_of_example(selection: Selection) -> ColumnElement[bool]:
    """The outer `Feedback` (a vote of the window on the outer `Interaction`) is the first
    vote of its example: no twin before its exchange (by id) and no voter before it on its
    exchange has a vote in the window."""
    return not_(or_(_twin_before(selection, _voted), _voter_before(selection)))


def first_decision(selection: Selection, item: Any) -> ColumnElement[bool]:
    """The outer `item` (a review item decided in the window, on the outer `Interaction`) is
    the first such item of its example: none on a twin before its exchange (by id), none
    with a smaller id on its exchange (an exchange has an item per queue at most)."""
    other = aliased(ReviewItem, name="decided_before")
    before = select(other.id).where(
        other.interaction_id == item.interaction_id,
        other.id < item.id,
        _decided(selection, other),
    )
    return not_(or_(_twin_before(selection, _decided_on), before.correlate(item).exists()))


def _voted(selection: Selection, twin: Any) -> Any:
    vote = aliased(Feedback, name="vote_before")
    return select(vote.id).where(vote.interaction_id == twin.id, _unindexed(selection, vote))


def _decided_on(selection: Selection, twin: Any) -> Any:
    item = aliased(ReviewItem, name="twin_decided_before")
    return select(item.id).where(item.interaction_id == twin.id, _decided(selection, item))


def _decided(selection: Selection, item: Any) -> Any:
    """An item that brings its example into the window (`reviewed.entered`), tested as no
    index serves (as `_unindexed`)."""
    return _opaque(and_(*reviewed.entered(selection, item)))


def _twin_before(selection: Selection, has: Callable[[Selection, Any], Any]) -> Any:
    """Whether a twin before the outer exchange (by id) `has` a vote (or an item) in the
    window: the nearest first, read backwards by `ix_interactions_prompt_answer`, stopped at
    the first."""
    twin = aliased(Interaction, name="twin_before")
    keys = tuple_(prompt_key(twin.meta, twin.query), answer_key(twin.response), twin.id)
    mine = (prompt_key(Interaction.meta, Interaction.query), answer_key(Interaction.response))
    nearest = (
        select(twin.id)
        .where(
            *_between(keys, tuple_(*mine, literal(_FIRST_ID)), tuple_(*mine, Interaction.id)),
            *matches(selection, twin),
            has(selection, twin).exists(),
        )
        .order_by(*(key.desc() for key in keys.clauses))
        .limit(1)
        .correlate(Interaction)  # the outer exchange, two levels up (inside a LATERAL)
        .scalar_subquery()
    )
    return nearest.is_not(None)


def _voter_before(selection: Selection) -> Any:
    """Whether a vote in the window on the outer vote's exchange comes before it: by a voter
    before its own in `uq_feedback_interaction_user` (ascending, the anonymous voter last),
    read backwards, stopped at the first."""
    other = aliased(Feedback, name="voter_before")
    keys = tuple_(other.interaction_id, other.user_id)
    first = tuple_(Feedback.interaction_id, literal(""))  # '' sorts before any other name
    in_the_window = _unindexed(selection, other)
    nearest = (
        select(other.id)
        .where(*_between(keys, first, tuple_(Feedback.interaction_id, Feedback.user_id)))
        .where(in_the_window)
        .order_by(*(key.desc() for key in keys.clauses))
        .limit(1)
        .correlate(Feedback)
        .scalar_subquery()
    )
    # The anonymous vote (one an exchange at most) comes after every named one.
    named = [other.interaction_id == Feedback.interaction_id, keys >= first, in_the_window]
    anonymous = and_(
        Feedback.user_id.is_(None), select(other.id).where(*named).correlate(Feedback).exists()
    )
    return or_(nearest.is_not(None), anonymous)


def _between(keys: Any, low: Any, high: Any) -> list[ColumnElement[bool]]:
    """`low <= keys < high`, as two row comparisons: the bounds of a backward scan of the one
    index over `keys`. (An equality on the leading columns instead would start the scan at
    the last entry of those columns and read back from there: half of a popular example's
    entries for each of its votes.)"""
    return [keys >= low, keys < high]


def _unindexed(selection: Selection, vote: Any) -> Any:
    """The vote is in the window, as a test no index serves: a look-back finds an exchange's
    votes by its id. Were the window indexable, a plan made with no statistics yet (a bulk
    load since the last ANALYZE) could read the whole window's votes for each exchange."""
    return _opaque(in_window(selection, vote.created_at))


def _opaque(condition: ColumnElement[bool]) -> Any:
    """`condition` as a CASE, which no index can serve: tested on the rows the look-back
    reads, never used to choose them."""
    return case((condition, true()), else_=false())
