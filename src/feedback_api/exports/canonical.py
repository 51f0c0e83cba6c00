"""Which vote of the window writes an example, or a prompt's pairs, in a streamed export:
the first of their votes in the window in the order the indexes keep them (the exchange's
digests, its id, then the voter), found by looking one step back from each vote. (The pair
formats still find a prompt's first vote by the memoized `pairs._first_of_prompt`.)

A streamed export reads the window's votes one by one and writes each example (or each
prompt's pairs) from exactly one of them. Asking every vote for all of its example's votes
reads an example's votes once for each of them: an answer logged 10,000 times in a week
is 10^8 rows, and the export never ends. Instead each vote asks whether another one comes
before it: a vote in the window on the twin (or the answer) just before its exchange in
`ix_interactions_prompt_answer`, or on its own exchange by a voter just before it in
`uq_feedback_interaction_user`. Each look-back reads the index backwards and stops at the
first such vote; consecutive votes look back over stretches of the index that do not
overlap, so all the votes of an example read its twins about once between them
(docs/decisions/025-the-first-vote-writes-the-example.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, not_, or_, select, true
from sqlalchemy.orm import aliased

from feedback_api.exports.selection import Selection, in_window, matches
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction, answer_key, prompt_key


def first_of_example(selection: Selection) -> ColumnElement[bool]:
    """The outer `Feedback` (a vote of the window on the outer `Interaction`) is the first
    vote of its example: no twin before its exchange (by id) and no voter before it on its
    exchange has a vote in the window."""
    twin = aliased(Interaction, name="twin_before")
    before = and_(
        prompt_key(twin.meta, twin.query) == prompt_key(Interaction.meta, Interaction.query),
        answer_key(twin.response) == answer_key(Interaction.response),
        twin.id < Interaction.id,
    )
    return not_(or_(_found(selection, twin, before, twin.id), _voter_before(selection)))


def _found(selection: Selection, exchange: Any, before: Any, *order: Any) -> Any:
    """Whether an exchange for which `before` holds has a vote in the window: the nearest
    one first, `order` read backwards by the index, stopped at the first."""
    vote = aliased(Feedback, name="vote_before")
    voted = exists().where(vote.interaction_id == exchange.id, _unindexed(selection, vote))
    nearest = (
        select(exchange.id)
        .where(before, *matches(selection, exchange), voted)
        .order_by(*(column.desc() for column in order))
        .limit(1)
        .correlate(Interaction)  # the outer exchange, two levels up (inside a LATERAL)
        .scalar_subquery()
    )
    return nearest.is_not(None)


def _voter_before(selection: Selection) -> Any:
    """Whether a vote in the window on the outer vote's exchange comes before it: by a voter
    before its own in `uq_feedback_interaction_user` (ascending, the anonymous voter last)."""
    other = aliased(Feedback, name="voter_before")
    same = [other.interaction_id == Feedback.interaction_id, _unindexed(selection, other)]
    nearest = (
        select(other.id)
        .where(*same, other.user_id < Feedback.user_id)
        .order_by(other.user_id.desc())
        .limit(1)
        .correlate(Feedback)
        .scalar_subquery()
    )
    # The anonymous vote (one an exchange at most) comes after every named one.
    anonymous = and_(
        Feedback.user_id.is_(None),
        exists().where(*same, other.user_id.is_not(None)).correlate(Feedback),
    )
    return or_(nearest.is_not(None), anonymous)


def _unindexed(selection: Selection, vote: Any) -> Any:
    """The vote is in the window, as a test no index serves: a look-back finds an exchange's
    votes by its id. Were the window indexable, a plan made with no statistics yet (a bulk
    load since the last ANALYZE) could read the whole window's votes for each exchange."""
    return case((in_window(selection, vote.created_at), true()), else_=false())
