"""The pairs of dpo and openai-dpo: a rejected answer against the best accepted answer to
the same prompt, and a correction (a user's or a reviewer's) against the answer it
corrects. Rows are PAIR_COLUMNS[, feedback_ids].

`streamed_pairs` writes them prompt by prompt as the window's votes are read (the export);
`pairs_query` from the window grouped first (the summary's counts). Both rank a prompt's
answers alike (`_order`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CTE,
    Select,
    Text,
    case,
    cast,
    exists,
    func,
    join,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased

from feedback_api.exports import reviewed
from feedback_api.exports.selection import (
    Selection,
    Shape,
    digest,
    has_text,
    in_window,
    matches,
)
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction, answer_key, prompt_key
from feedback_api.review.models import ReviewItem, ReviewLabel

# The columns of a pair row, in order.
PAIR_COLUMNS = (
    "system_prompt", "query", "chosen", "rejected", "up", "down", "split_key", "label_source",
)  # fmt: skip


def pairs_query(ex: CTE, shape: Shape, *, with_ids: bool) -> Select[*tuple[Any, ...]]:
    """Each answer labelled negative paired with the best answer labelled positive to the
    same prompt: one a review found correct first, then the best-voted. A pair's
    label_source is `review` when either side's label is a review's."""
    positive, source = reviewed.labels(shape, ex.c.status, ex.c.up, ex.c.down)
    rank = func.row_number().over(
        partition_by=ex.c.prompt, order_by=_order(positive, source, ex.c.up, ex.c.down, ex.c.key)
    )
    ranked = select(ex, positive.label("positive"), source.label("source"), rank.label("rank")).cte(
        "ranked"
    )
    chosen, rejected = ranked.alias("c"), ranked.alias("r")
    chosen_text, rejected_text = aliased(Interaction, name="ct"), aliased(Interaction, name="rt")
    ids = (chosen.c.feedback_ids, rejected.c.feedback_ids) if with_ids else (None, None)
    columns = _answer_pair_columns(
        (chosen_text, chosen.c.up, chosen.c.source, ids[0]),
        (rejected_text, rejected.c.down, rejected.c.source, ids[1]),
        with_ids=with_ids,
    )
    return (
        select(*columns)
        .select_from(chosen)
        .join(rejected, rejected.c.prompt == chosen.c.prompt)
        .join(chosen_text, chosen_text.id == chosen.c.rep)
        .join(rejected_text, rejected_text.id == rejected.c.rep)
        .where(
            chosen.c.rank == 1,
            chosen.c.positive.is_(True),
            rejected.c.positive.is_(False),
            not_(chosen.c.empty),
            not_(rejected.c.empty),
        )
    )


Side = tuple[Any, Any, Any, Any]


def _answer_pair_columns(chosen: Side, rejected: Side, *, with_ids: bool) -> list[Any]:
    """PAIR_COLUMNS[, feedback_ids] of an answer against the chosen answer, each side given
    as (its exchange, its count: up or down, its label source, its vote ids). A pair's
    label_source is `review` when either side's label is a review's."""
    (chosen_text, up, chosen_source, chosen_ids) = chosen
    (rejected_text, down, rejected_source, rejected_ids) = rejected
    either = or_(chosen_source == "review", rejected_source == "review")
    columns = _pair_columns(
        chosen_text,
        chosen_text.response,
        rejected_text.response,
        up,
        down,
        case((either, literal("review")), else_=literal("vote")),
    )
    if with_ids:  # the votes behind a side labelled by its votes
        ids = func.array_cat(
            case((chosen_source == "review", null()), else_=chosen_ids),
            case((rejected_source == "review", null()), else_=rejected_ids),
        )
        columns.append(ids.label("feedback_ids"))
    return columns


def _order(positive: Any, source: Any, up: Any, down: Any, key: Any) -> tuple[Any, ...]:
    """The order of a prompt's answers, the chosen one first: one a review found correct
    first, then the best-voted; ties by the example's digest."""
    return (positive.is_(True).desc(), (source == "review").desc(), (up - down).desc(), key)


def _pair_columns(
    exchange: Any, chosen: Any, rejected: Any, up: Any, down: Any, source: Any
) -> list[Any]:
    """PAIR_COLUMNS, the prompt read from `exchange`. The split key is the prompt: a prompt
    never sits on both sides of a train/test split."""
    system = exchange.meta["system_prompt"].astext
    return [
        system.label("system_prompt"),
        exchange.query.label("query"),
        chosen.label("chosen"),
        rejected.label("rejected"),
        up,
        down,
        (func.coalesce(system, "") + exchange.query).label("split_key"),
        source.label("label_source"),
    ]


def correction_pairs(
    fixes: CTE, *, with_ids: bool, reviewer: bool = False
) -> Select[*tuple[Any, ...]]:
    """A correction (chosen) against the answer it corrects (rejected): a user's, whose
    `rep` is their vote, or a reviewer's, whose `rep` is their label."""
    exchange = aliased(Interaction, name="rep")
    if reviewer:
        label, item = aliased(ReviewLabel, name="rep_label"), aliased(ReviewItem, name="rep_item")
        correction, source = label.correction, literal("review")
        joined = (
            fixes.join(label, label.id == fixes.c.rep)
            .join(item, item.id == label.item_id)
            .join(exchange, exchange.id == item.interaction_id)
        )
    else:
        vote = aliased(Feedback, name="rep_vote")
        correction, source = vote.correction, literal("vote")
        joined = fixes.join(vote, vote.id == fixes.c.rep).join(
            exchange, exchange.id == vote.interaction_id
        )
    columns = _pair_columns(
        exchange, correction, exchange.response, fixes.c.up, fixes.c.down, source
    )
    if with_ids:
        columns.append(fixes.c.feedback_ids)
    return select(*columns).select_from(joined)


def _same_prompt(exchange: Any, other: Any) -> Any:
    """One lookup of the first key of `ix_interactions_prompt_answer`."""
    return prompt_key(exchange.meta, exchange.query) == prompt_key(other.meta, other.query)


def _prompt_pairs(selection: Selection, shape: Shape, *, with_ids: bool) -> Any:
    """LATERAL, the pairs of the outer `Interaction`'s prompt, as `pairs_query` makes them
    from the grouped window, plus `votes`: the prompt's votes in the window.

    The prompt's answers are read by the first key of `ix_interactions_prompt_answer`,
    grouped by the second into examples (an example: one answer, with its twins), each with
    its votes in the window, its review status and whether an item of it was decided in
    the window. An example is in the window by a vote in it or (with reviews) a decision.
    As in `examples._example_lateral`, the window selects votes in FILTER clauses, never in
    a WHERE a plan could drive by.
    """
    answer, vote = aliased(Interaction, name="answer"), aliased(Feedback, name="answer_vote")
    inside = in_window(selection, vote.created_at)
    answer_system = answer.meta["system_prompt"].astext
    entered: Any = None
    columns: list[Any] = [
        func.count().filter(inside, vote.is_helpful).label("up"),
        func.count().filter(inside, not_(vote.is_helpful)).label("down"),
        func.any_value(digest(answer_system, answer.query, answer.response)).label("key"),
        func.any_value(answer.id).label("rep"),
    ]
    if with_ids:
        columns.append(func.array_agg(vote.id).filter(inside).label("feedback_ids"))
    source: Any = join(answer, vote, vote.interaction_id == answer.id, isouter=True)
    if shape.reviews:
        review = reviewed.twin_reviews(answer, selection)
        lo, hi = func.min(review.c.lo), func.max(review.c.hi)
        state = reviewed.status(lo, hi, func.bool_or(review.c.waiting))
        entered = func.min(review.c.decision).is_not(None)
        columns.append(state.label("status"))
        source = join(answer, review, true()).outerjoin(vote, vote.interaction_id == answer.id)
    else:
        columns.append(null().label("status"))
    voted = func.count().filter(inside) > 0
    examples = (
        select(*columns)
        .select_from(source)
        .where(
            _same_prompt(answer, Interaction),
            *matches(selection, answer),
        )
        .group_by(answer_key(answer.response))
        .having(voted if entered is None else or_(voted, entered))
        .correlate(Interaction)
        .subquery("prompt_examples")
    )
    positive, label = reviewed.labels(shape, examples.c.status, examples.c.up, examples.c.down)
    best = _order(positive, label, examples.c.up, examples.c.down, examples.c.key)

    def chosen(value: Any) -> Any:
        return func.first_value(value).over(order_by=best)

    sides = [
        examples.c.rep, examples.c.down, positive.label("positive"), label.label("source"),
        chosen(examples.c.rep).label("chosen_rep"), chosen(examples.c.up).label("chosen_up"),
        chosen(positive).label("chosen_positive"), chosen(cast(label, Text)).label("chosen_source"),
        func.sum(examples.c.up + examples.c.down).over().label("votes"),
    ]  # fmt: skip
    if with_ids:
        sides += [examples.c.feedback_ids, chosen(examples.c.feedback_ids).label("chosen_ids")]
    ranked = select(*sides).subquery("ranked")
    chosen_text, rejected_text = aliased(Interaction, name="ct"), aliased(Interaction, name="rt")
    ids = (ranked.c.chosen_ids, ranked.c.feedback_ids) if with_ids else (None, None)
    columns = _answer_pair_columns(
        (chosen_text, ranked.c.chosen_up.label("up"), ranked.c.chosen_source, ids[0]),
        (rejected_text, ranked.c.down, ranked.c.source, ids[1]),
        with_ids=with_ids,
    )
    return (
        select(*columns, ranked.c.votes)
        .select_from(ranked)
        .join(chosen_text, chosen_text.id == ranked.c.chosen_rep)
        .join(rejected_text, rejected_text.id == ranked.c.rep)
        .where(
            ranked.c.chosen_positive.is_(True),
            ranked.c.positive.is_(False),
            has_text(chosen_text.query),
            has_text(chosen_text.response),
            has_text(rejected_text.response),
        )
        .lateral("prompt_pairs")
    )


def streamed_pairs(
    selection: Selection, shape: Shape, *, with_ids: bool, decided: bool = False
) -> Select[*tuple[Any, ...]]:
    """PAIR_COLUMNS[, feedback_ids] of the answers' pairs, prompt by prompt in the order the
    window's votes are read, with nothing grouped or sorted ahead: the first pair leaves
    after its prompt's answers are read, not the window's.

    Each prompt's pairs (`_prompt_pairs`) are written by one of its votes in the window:
    the first in the order (answer digest, vote id), in which the prompt's index reads its
    answers (`_first_of_prompt`: it stops at the first answer with a vote in the window,
    and depends on the prompt alone, so PostgreSQL keeps it for the prompt's other votes).
    `decided`: the prompts with no vote in the window that enter it by review decisions
    reached in it, each written by the first of those items in the same order.
    """
    pairs = _prompt_pairs(selection, shape, with_ids=with_ids)
    if decided:
        item, own_vote = aliased(ReviewItem, name="decided"), aliased(Feedback, name="own_vote")
        rival_item = aliased(ReviewItem, name="rival_item")
        first = _first_of_prompt(selection, rival_item, reviewed.entered(selection, rival_item))
        driver = join(item, Interaction, Interaction.id == item.interaction_id)
        voted = select(true()).where(
            own_vote.interaction_id == Interaction.id, in_window(selection, own_vote.created_at)
        )
        where = [
            *reviewed.entered(selection, item),
            *matches(selection),
            not_(exists(voted)),  # then its prompt has a vote in the window: written by it
            first.c.id == item.id,
            pairs.c.votes == 0,
        ]
    else:
        rival_vote = aliased(Feedback, name="rival_vote")
        first = _first_of_prompt(
            selection, rival_vote, [in_window(selection, rival_vote.created_at)]
        )
        driver = join(Feedback, Interaction, Interaction.id == Feedback.interaction_id)
        where = [
            in_window(selection, Feedback.created_at),
            *matches(selection),
            first.c.id == Feedback.id,
        ]
    names = [*PAIR_COLUMNS, "feedback_ids"] if with_ids else PAIR_COLUMNS
    return (
        select(*(pairs.c[name] for name in names))
        .select_from(driver)
        .join(first, true())
        .join(pairs, true())
        .where(*where)
    )


def _first_of_prompt(selection: Selection, rival: Any, inside: list[Any]) -> Any:
    """LATERAL, the id of the first `rival` (a vote, or a review item) for which `inside`
    holds on the outer `Interaction`'s prompt, in the order (answer digest, id): read from
    the prompt's answers in their index's order, the first answer with one ends it."""
    answer = aliased(Interaction, name="rival")
    return (
        select(rival.id)
        .select_from(join(answer, rival, rival.interaction_id == answer.id))
        .where(
            _same_prompt(answer, Interaction),
            *matches(selection, answer),
            *inside,
        )
        .order_by(answer_key(answer.response), rival.id)
        .limit(1)
        .lateral("first_of_prompt")
    )
