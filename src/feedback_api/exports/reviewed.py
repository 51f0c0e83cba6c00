"""Review consensus as the label of training examples (docs/exports.md, "Label source").

An example is a distinct (system prompt, question, answer): the answers (interactions) that
share those texts are its twins, and each may be an item of one or more review queues. The
example's review status combines every decided or waiting item of its twins (that match the
export's filters), whichever queue it is in and whenever it was decided:

- `correct` / `incorrect`: every decided item says so and none waits for adjudication;
- `disputed`: an item waits for adjudication, or two decided items (two queues, or two
  twins) disagree: such an example is left out and counted as `skipped_disagreement`;
- NULL: no item of its twins is decided or waiting (open items do not count).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CTE,
    String,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import aliased

from feedback_api.exports.selection import (
    SYSTEM_PROMPT,
    Selection,
    Shape,
    digest,
    has_text,
    in_window,
    matches,
)
from feedback_api.interactions.models import Interaction, same_exchange
from feedback_api.review.models import ReviewItem, ReviewLabel

NEEDS_ADJUDICATION = "needs_adjudication"


def status(lo: Any, hi: Any, waiting: Any) -> Any:
    """'correct', 'incorrect', 'disputed' or NULL, from the smallest and largest verdict of
    the decided items and whether one waits for adjudication (see the module)."""
    return case((or_(waiting, lo != hi), literal("disputed")), else_=lo)


def _not_open(item: Any) -> Any:
    return item.state != "open"


def entered(selection: Selection, item: Any) -> list[Any]:
    """The review item brings its example into the window: decided in it, with a verdict."""
    return [in_window(selection, item.decided_at), item.verdict.is_not(None), _not_open(item)]


def twin_reviews(twin: Any, selection: Selection) -> Any:
    """LATERAL, one row per twin: its decided or waiting items' verdicts (`lo`, `hi`),
    whether one waits (`waiting`), and the first of its items decided in the window
    (`decision`, for an example that enters the window by a decision)."""
    item = aliased(ReviewItem, name="twin_item")
    return (
        select(
            func.min(item.verdict).label("lo"),
            func.max(item.verdict).label("hi"),
            func.bool_or(item.state == NEEDS_ADJUDICATION).label("waiting"),
            func.min(cast(item.id, Text))
            .filter(in_window(selection, item.decided_at), item.verdict.is_not(None))
            .label("decision"),
        )
        .where(item.interaction_id == twin.id, _not_open(item))
        .lateral("twin_review")
    )


def labels(shape: Shape, state: Any, up: Any, down: Any) -> tuple[Any, Any]:
    """(positive, label_source) of an example from its review status and its votes in the
    window: positive is true, false or NULL (a tie, a dispute, or nothing to go by)."""
    by_votes = [(up > down, true()), (up < down, false())]
    if not shape.reviews:
        return case(*by_votes, else_=null()), literal("vote")
    reviewed = state.in_(("correct", "incorrect"))
    by_review = [(state == "correct", true()), (state == "incorrect", false())]
    if shape.votes:
        positive = case(*by_review, (state == "disputed", null()), *by_votes, else_=null())
    else:
        positive = case(*by_review, else_=null())
    return positive, case((reviewed, literal("review")), else_=literal("vote"))


def considered(shape: Shape, state: Any) -> Any:
    """The examples a label source looks at at all: with `reviews`, only reviewed ones."""
    return true() if shape.votes else state.is_not(None)


def reviewed_keys(selection: Selection, *, paired: bool) -> CTE:
    """One row per example with a decided or waiting item (grouped by its digest, like the
    votes' examples): its review status parts, whether one of its items was decided in the
    window (`entered`), and what a vote-less example needs to be written."""
    item = ReviewItem
    columns = [
        digest(SYSTEM_PROMPT, Interaction.query, Interaction.response).label("key"),
        func.min(item.verdict).label("lo"),
        func.max(item.verdict).label("hi"),
        func.bool_or(item.state == NEEDS_ADJUDICATION).label("waiting"),
        func.coalesce(
            func.bool_or(in_window(selection, item.decided_at) & item.verdict.is_not(None)),
            false(),
        ).label("entered"),
        func.min(Interaction.model).label("model"),
        func.min(Interaction.intent).label("intent"),
        func.min(Interaction.project).label("project"),
        func.min(Interaction.created_at).label("created_at"),
        func.min(Interaction.session_id).label("session_id"),
        func.min(Interaction.user_id).label("user_id"),
        func.bool_or(~and_(has_text(Interaction.query), has_text(Interaction.response))).label(
            "empty"
        ),
        func.any_value(Interaction.id).label("rep"),
    ]
    if paired:
        columns.append(func.any_value(digest(SYSTEM_PROMPT, Interaction.query)).label("prompt"))
    return (
        select(*columns)
        .select_from(item)
        .join(Interaction, Interaction.id == item.interaction_id)
        .where(_not_open(item), *matches(selection))
        .group_by(literal_column("1"))
        .cte("reviewed")
    )


def review_status_of(exchange: Any, selection: Selection) -> Any:
    """The review status (see the module) of the example `exchange` belongs to: a scalar
    subquery that looks its twins up by `ix_interactions_prompt_answer`."""
    twin, item = aliased(Interaction, name="status_twin"), aliased(ReviewItem, name="status_item")
    lo, hi = func.min(item.verdict), func.max(item.verdict)
    waiting = func.bool_or(item.state == NEEDS_ADJUDICATION)
    return (
        select(status(lo, hi, waiting))
        .select_from(twin)
        .join(item, item.interaction_id == twin.id)
        .where(
            same_exchange(twin, exchange),
            _not_open(item),
            *matches(selection, twin),
        )
        .scalar_subquery()
    )


def reviewer_corrections(selection: Selection, *, paired: bool, with_ids: bool) -> CTE:
    """The corrections reviewers gave with an `incorrect` verdict on answers whose review
    status is `incorrect`, exported in the window their item was decided in: one row per
    distinct (system prompt, question, correction), and per answer too when `paired`. Like
    users' corrections: none that is empty or repeats the answer. `up` counts the reviewers
    who wrote it; `rep` is one of their labels."""
    label, item = ReviewLabel, ReviewItem
    texts = [SYSTEM_PROMPT, Interaction.query, label.correction]
    if paired:
        texts.append(Interaction.response)
    columns = [
        digest(*texts).label("key"),
        func.count().label("up"),
        literal(0).label("down"),
        func.min(Interaction.model).label("model"),
        func.min(Interaction.intent).label("intent"),
        func.min(Interaction.project).label("project"),
        func.min(Interaction.created_at).label("created_at"),
        func.max(item.decided_at).label("voted_at"),
        func.min(Interaction.session_id).label("session_id"),
        func.min(Interaction.user_id).label("user_id"),
        func.jsonb_agg(label.reasons).filter(func.cardinality(label.reasons) > 0).label("reasons"),
        func.any_value(label.id).label("rep"),
    ]
    if with_ids:  # the manifest lists votes: a reviewer's correction has none
        columns.append(cast(null(), ARRAY(item.id.type)).label("feedback_ids"))
    return (
        select(*columns)
        .select_from(label)
        .join(item, item.id == label.item_id)
        .join(Interaction, Interaction.id == item.interaction_id)
        .where(
            label.verdict == "incorrect",
            item.verdict == "incorrect",
            label.correction.is_not(None),
            in_window(selection, item.decided_at),
            *matches(selection),
            has_text(Interaction.query),
            has_text(Interaction.response),
            has_text(label.correction),
            label.correction != Interaction.response,
            review_status_of(Interaction, selection) == "incorrect",
        )
        .group_by(literal_column("1"))
        .cte("review_fixes_paired" if paired else "review_fixes")
    )


def answer_review() -> Any:
    """LATERAL, per interaction of an offline export: its consensus verdict
    (`review_verdict`) and how it was reached (`review_consensus`: unanimous, majority or
    adjudicated, of its latest decision; `needs_adjudication` while a queue waits for an
    admin; `disagreement` when two queues decided differently); NULL where none."""
    item = aliased(ReviewItem, name="answer_item")
    lo, hi = func.min(item.verdict), func.max(item.verdict)
    waiting = func.bool_or(item.state == NEEDS_ADJUDICATION)
    latest = func.array_agg(
        aggregate_order_by(item.consensus, item.decided_at.desc()), type_=ARRAY(String)
    )
    return (
        select(
            case((or_(waiting, lo != hi), null()), else_=lo).label("review_verdict"),
            case(
                (waiting, literal(NEEDS_ADJUDICATION)),
                (lo != hi, literal("disagreement")),
                else_=cast(latest[1], String),
            ).label("review_consensus"),
        )
        .where(item.interaction_id == Interaction.id, _not_open(item))
        .lateral("review")
    )
