"""The rows of every dataset, as SQL: examples (one per distinct system prompt, question
and answer) labelled by their votes or their review consensus, corrections, and the pairs
of `exports.pairs`; streamed with nothing sorted, so the first line leaves after one pass
over the window and memory stays flat (docs/benchmarks/exports.md). `exports.repository` runs
them; `exports.lines` writes their lines."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import aliased, join

from feedback_api.analytics import figures
from feedback_api.exports import canonical, pairs, reviewed
from feedback_api.exports.pairs import PAIR_COLUMNS
from feedback_api.exports.selection import (
    PAIRED,
    SYSTEM_PROMPT,
    Selection,
    Shape,
    digest,
    has_text,
    in_window,
    matches,
)
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction, same_exchange
from feedback_api.kit.models import AnyRow
from feedback_api.review.models import ReviewItem, ReviewLabel


def _selected(
    selection: Selection, vote: Any = Feedback, exchange: Any = Interaction
) -> list[ColumnElement[bool]]:
    return [in_window(selection, vote.created_at), *matches(selection, exchange)]


def _example_context(
    vote: Any = Feedback, exchange: Any = Interaction, inside: Any = None, seen: Any = None
) -> list[Any]:
    """What an example (a group of votes) tells of its exchanges and votes: the metadata of
    every training format, and the reasons of the votes that gave any, as a JSON array of
    arrays (NULL for none; merged when the line is written). `inside`: only the votes for
    which it holds count; `seen` (default `inside`): the exchanges told of."""

    def only(aggregate: Any, *conditions: Any, where: Any = inside) -> Any:
        conditions = (*conditions, where) if where is not None else conditions
        return aggregate.filter(and_(*conditions)) if conditions else aggregate

    seen = inside if seen is None else seen
    return [
        only(func.min(exchange.model), where=seen).label("model"),
        only(func.min(exchange.intent), where=seen).label("intent"),
        only(func.min(exchange.project), where=seen).label("project"),
        only(func.min(exchange.created_at), where=seen).label("created_at"),
        only(func.max(vote.created_at)).label("voted_at"),
        only(func.min(exchange.session_id), where=seen).label("session_id"),
        only(func.min(exchange.user_id), where=seen).label("user_id"),
        only(func.jsonb_agg(vote.reasons), func.cardinality(vote.reasons) > 0).label("reasons"),
    ]


def grouped_examples(
    selection: Selection, shape: Shape, *, with_ids: bool, paired: bool = False
) -> CTE:
    """One row per distinct (system prompt, question, answer) with its votes in the window,
    or (when reviews label examples) a review consensus reached in the window.

    A user's latest vote is the only row they have (votes are upserted); deleted feedback
    is gone from the table; identical pairs collapse into one example labelled by the
    majority of their votes. `empty`: the question or the answer has no text (such an
    example is counted, never written). `rep`: one of its exchanges, to read the texts from.
    `prompt` (paired): the digest of the system prompt and question alone. `status`: its
    review status (`exports.reviewed`; NULL when reviews do not label examples).
    """
    system = SYSTEM_PROMPT
    columns = [
        digest(system, Interaction.query, Interaction.response).label("key"),
        figures.positive().label("up"),
        figures.negative().label("down"),
        *_example_context(),
        func.bool_or(not_(and_(has_text(Interaction.query), has_text(Interaction.response)))).label(
            "empty"
        ),
        func.any_value(Interaction.id).label("rep"),
    ]
    if paired:
        columns.append(func.any_value(digest(system, Interaction.query)).label("prompt"))
    if with_ids:
        columns.append(func.array_agg(Feedback.id).label("feedback_ids"))
    voted = (
        select(*columns)
        .select_from(Feedback)
        .join(Interaction, Interaction.id == Feedback.interaction_id)
        .where(*_selected(selection))
        .group_by(literal_column("1"))
    )
    if not shape.reviews:
        return voted.add_columns(null().label("status")).cte("ex")
    # The voted examples (hashed, as without reviews) with the few reviewed ones joined to
    # them, then the reviewed examples no vote of the window brings in: those with a
    # consensus reached in it and no twin voted on in it (an anti-join by the twins' index).
    v, r = voted.subquery("voted"), reviewed.reviewed_keys(selection, paired=paired)
    state = reviewed.status(r.c.lo, r.c.hi, r.c.waiting).label("status")
    with_votes = select(*v.c, state).select_from(v.outerjoin(r, v.c.key == r.c.key))
    rep, twin, twin_vote = (
        aliased(Interaction, name="reviewed_rep"),
        aliased(Interaction, name="voted_twin"),
        aliased(Feedback, name="voted_twin_vote"),
    )
    voted_twin = (
        select(true())
        .select_from(join(twin, twin_vote, twin_vote.interaction_id == twin.id))
        .where(same_exchange(twin, rep), *_selected(selection, twin_vote, twin))
        .exists()
    )
    only_reviewed = [
        r.c[c.name] if c.name in r.c else literal(0) if c.name in ("up", "down") else null()
        for c in columns
    ]
    if with_ids:  # typed like the votes' ids, for the UNION
        only_reviewed[-1] = cast(null(), v.c.feedback_ids.type)
    without_votes = (
        select(*(value.label(c.name) for value, c in zip(only_reviewed, columns, strict=True)))
        .add_columns(state)
        .select_from(join(r, rep, rep.id == r.c.rep))
        .where(r.c.entered, not_(voted_twin))
    )
    return union_all(with_votes, without_votes).cte("ex")


def corrections(
    selection: Selection, shape: Shape, *, paired: bool, with_ids: bool
) -> list[tuple[CTE, bool]]:
    """The corrections of an export, each a CTE and whether it is a reviewer's: users'
    (`_user_corrections`) where votes label the answer, reviewers' where reviews do."""
    if not shape.use_corrections:
        return []
    found = []
    if shape.votes:
        found.append((_user_corrections(selection, shape, paired=paired, with_ids=with_ids), False))
    if shape.reviews:
        fixes = reviewed.reviewer_corrections(selection, paired=paired, with_ids=with_ids)
        found.append((fixes, True))
    return found


def _user_corrections(selection: Selection, shape: Shape, *, paired: bool, with_ids: bool) -> CTE:
    """The corrections users gave with a thumbs-down: one row per distinct (system prompt,
    question, correction), and per answer voted down too when `paired`.

    Like the other examples: nothing of a vote on an empty question or answer, no empty
    correction, and none that repeats the answer it corrects; none on an answer a review
    labels (or disputes) when reviews label answers. `up` counts the users who wrote it;
    `down` is 0; `rep` is one of its votes.
    """
    texts = [SYSTEM_PROMPT, Interaction.query, Feedback.correction]
    if paired:
        texts.append(Interaction.response)
    columns = [
        digest(*texts).label("key"),
        func.count().label("up"),
        literal(0).label("down"),
        *_example_context(),
        func.any_value(Feedback.id).label("rep"),
    ]
    if with_ids:
        columns.append(func.array_agg(Feedback.id).label("feedback_ids"))
    unreviewed = (
        [reviewed.review_status_of(Interaction, selection).is_(None)] if shape.reviews else []
    )
    return (
        select(*columns)
        .select_from(Feedback)
        .join(Interaction, Interaction.id == Feedback.interaction_id)
        .where(
            *_selected(selection),
            not_(Feedback.is_helpful),
            Feedback.correction.is_not(None),
            has_text(Interaction.query),
            has_text(Interaction.response),
            has_text(Feedback.correction),
            Feedback.correction != Interaction.response,
            *unreviewed,
        )
        .group_by(literal_column("1"))
        .cte("fixes_paired" if paired else "fixes")
    )


# The columns of an example row (`lines_query`, SFT-like formats), in order: `positive`
# is the example's label, `label_source` where it comes from ('vote' or 'review').
EXAMPLE_COLUMNS = (
    "system_prompt", "query", "response", "up", "down", "model", "intent", "project",
    "created_at", "voted_at", "reasons", "correction", "split_key", "positive", "label_source",
)  # fmt: skip


def split_key_index(shape: Shape) -> int:
    """Where a row of `lines_query` holds its split key (a session, a user or a prompt)."""
    return (PAIR_COLUMNS if shape.format in PAIRED else EXAMPLE_COLUMNS).index("split_key")


def _split_key(ex: Any, shape: Shape, query: Any) -> Any:
    first = ex.c.session_id if shape.split_by == "session" else ex.c.user_id
    return func.coalesce(first, ex.c.user_id, ex.c.session_id, query).label("split_key")


def _correction_rows(
    fixes: CTE, shape: Shape, *, with_ids: bool, reviewer: bool
) -> Select[*tuple[Any, ...]]:
    """EXAMPLE_COLUMNS[, feedback_ids] of corrections: positive examples whose texts are
    read from the representative vote (a user's) or label (a reviewer's)."""
    exchange = aliased(Interaction, name="rep")
    if reviewer:
        label, item = aliased(ReviewLabel, name="rep_label"), aliased(ReviewItem, name="rep_item")
        response, source = label.correction, "review"
        joined = (
            fixes.join(label, label.id == fixes.c.rep)
            .join(item, item.id == label.item_id)
            .join(exchange, exchange.id == item.interaction_id)
        )
    else:
        vote = aliased(Feedback, name="rep_vote")
        response, source = vote.correction, "vote"
        joined = fixes.join(vote, vote.id == fixes.c.rep).join(
            exchange, exchange.id == vote.interaction_id
        )
    columns = [
        exchange.meta["system_prompt"].astext.label("system_prompt"),
        exchange.query.label("query"),
        response.label("response"),
        fixes.c.up, fixes.c.down, fixes.c.model, fixes.c.intent, fixes.c.project,
        fixes.c.created_at, fixes.c.voted_at, fixes.c.reasons, true().label("correction"),
        _split_key(fixes, shape, exchange.query), true().label("positive"),
        literal(source).label("label_source"),
    ]  # fmt: skip
    if with_ids:
        columns.append(fixes.c.feedback_ids)
    return select(*columns).select_from(joined)


def _example_lateral(
    selection: Selection, shape: Shape, *, with_ids: bool, only: Any = None
) -> Any:
    """LATERAL, one row for the example of the outer `Interaction`: its twins (by
    `ix_interactions_prompt_answer`), their votes in the window (`up`, `down`) and, when
    reviews label examples, their review status parts.

    The window and the filters select a twin's votes in the aggregates' FILTER clauses, not
    in a WHERE: so no plan can read the window's votes (by their time) for each vote of the
    window, as one did when the statistics were missing after a bulk load. `only`: a test
    of the outer rows alone, made before any twin is read (no twin read when it fails).
    """
    twin, twin_vote = aliased(Interaction, name="twin"), aliased(Feedback, name="twin_vote")
    inside = and_(*_selected(selection, twin_vote, twin))
    columns: list[Any] = [
        func.count().filter(and_(inside, twin_vote.is_helpful)).label("up"),
        func.count().filter(and_(inside, not_(twin_vote.is_helpful))).label("down"),
    ]
    if with_ids:
        columns.append(func.array_agg(twin_vote.id).filter(inside).label("feedback_ids"))
    if not shape.reviews:
        columns += _example_context(twin_vote, twin, inside)
        source = join(twin, twin_vote, twin_vote.interaction_id == twin.id)
    else:
        review = reviewed.twin_reviews(twin, selection)
        matched = and_(true(), *matches(selection, twin))
        has_review = or_(review.c.lo.is_not(None), review.c.waiting)
        columns += [
            *_example_context(twin_vote, twin, inside, seen=or_(inside, and_(matched, has_review))),
            func.min(review.c.lo).filter(matched).label("lo"),
            func.max(review.c.hi).filter(matched).label("hi"),
            func.bool_or(review.c.waiting).filter(matched).label("waiting"),
        ]
        source = join(twin, review, true()).outerjoin(
            twin_vote, twin_vote.interaction_id == twin.id
        )
    return (
        select(*columns)
        .select_from(source)
        .where(same_exchange(twin, Interaction), *([] if only is None else [only]))
        .lateral("example")
    )


def _example_labels(example: Any, shape: Shape) -> tuple[Any, Any, Any]:
    """(status, positive, label_source) of a row of `_example_lateral`."""
    if not shape.reviews:
        state: Any = null()
    else:
        state = reviewed.status(example.c.lo, example.c.hi, example.c.waiting)
    positive, source = reviewed.labels(shape, state, example.c.up, example.c.down)
    return state, positive, source


Keep = Callable[[Any, Any], Any]


def streamed_examples(
    selection: Selection, shape: Shape, keep: Keep, *, with_ids: bool, decided: bool = False
) -> Select[*tuple[Any, ...]]:
    """EXAMPLE_COLUMNS[, feedback_ids] of each example, one row per example, in the order
    its votes are read, with nothing grouped or sorted ahead: the first line leaves at once.

    The example is written by the first of its votes in the window
    (`canonical.first_of_example`), which looks it up (`_example_lateral`); the others read
    none of its twins. `keep(example, positive)` says which examples are written at all.
    `decided`: the examples with no vote in the window that enter it by a review consensus
    reached in it, each written by the first of those items instead
    (`canonical.first_decision`).
    """
    item = aliased(ReviewItem, name="decided")
    if decided:
        first = canonical.first_decision(selection, item)
    else:
        first = canonical.first_of_example(selection)
    example = _example_lateral(selection, shape, with_ids=with_ids, only=first)
    voted = example.c.up + example.c.down  # its votes in the window
    state, positive, source = _example_labels(example, shape)
    rows = [
        SYSTEM_PROMPT.label("system_prompt"),
        Interaction.query, Interaction.response,
        example.c.up, example.c.down, example.c.model, example.c.intent, example.c.project,
        example.c.created_at, example.c.voted_at, example.c.reasons,
        false().label("correction"), _split_key(example, shape, Interaction.query),
        positive.label("positive"), source.label("label_source"),
    ]  # fmt: skip
    if with_ids:  # the manifest lists the votes behind the lines labelled by votes
        ids = case((source == "review", null()), else_=example.c.feedback_ids)
        rows.append(ids.label("feedback_ids"))
    if decided:
        driver = join(item, Interaction, Interaction.id == item.interaction_id)
        # Only the examples no vote of the window brings in.
        where = [*reviewed.entered(selection, item), *matches(selection), voted == 0]
    else:
        driver = join(Feedback, Interaction, Interaction.id == Feedback.interaction_id)
        where = [*_selected(selection), voted > 0]
    if shape.reviews:
        where.append(reviewed.considered(shape, state))
    return (
        select(*rows)
        .select_from(driver)
        .join(example, true())
        .where(*where, keep(example, positive))
    )


def written(row: AnyRow) -> bool:
    """False for a row of `streamed_examples` on an empty (or only whitespace) question or
    answer: such an example is counted, never written. Checked here rather than in its SQL,
    where the planner, blind to how many texts match, would read the exchanges first."""
    return _VISIBLE(row[1]) is not None and _VISIBLE(row[2]) is not None


_VISIBLE = re.compile(r"\S").search


def sft_keep(shape: Shape) -> Keep:
    """Which examples an SFT-like format writes: those with a label (no ties, no disputes);
    in openai without `include_negative`, only the positive ones."""
    if shape.format == "openai" and not shape.include_negative:
        return lambda example, positive: positive.is_(True)
    return lambda example, positive: positive.is_not(None)


def lines_query(
    selection: Selection, shape: Shape, *, with_ids: bool, early: bool = True
) -> Select[*tuple[Any, ...]]:
    """The rows the export writes, one a line: EXAMPLE_COLUMNS (weighted, openai, kto) or
    PAIR_COLUMNS (dpo, openai-dpo), then feedback_ids `with_ids`. Ties (as many up as down),
    disputed examples and examples on an empty question or answer are left out; corrections
    too, unless `shape.use_corrections`.

    Nothing is sorted ahead in the SFT-like formats: their examples leave as their votes
    are read (`streamed_examples`), then those that only a review consensus brings into
    the window. The pair formats stream prompt by prompt (`pairs.streamed_pairs`) when
    `early`; otherwise (a file written whole) they group the window by digests of a few
    dozen bytes first (`grouped_examples`, hashed, not sorted): no pair before one pass
    over the window, but done about twice as soon at 1,000,000 votes (docs/benchmarks/exports.md).
    The two write the same lines, in different orders.
    """
    fixes = corrections(selection, shape, paired=shape.format in PAIRED, with_ids=with_ids)
    parts: list[Select[*tuple[Any, ...]]]
    if shape.format in PAIRED and not early:
        ex = grouped_examples(selection, shape, with_ids=with_ids, paired=True)
        parts = [pairs.pairs_query(ex, shape, with_ids=with_ids)]
        parts += [pairs.correction_pairs(f, with_ids=with_ids, reviewer=r) for f, r in fixes]
    elif shape.format in PAIRED:
        parts = [pairs.streamed_pairs(selection, shape, with_ids=with_ids)]
        if shape.reviews:
            parts.append(pairs.streamed_pairs(selection, shape, with_ids=with_ids, decided=True))
        parts += [pairs.correction_pairs(f, with_ids=with_ids, reviewer=r) for f, r in fixes]
    else:
        keep = sft_keep(shape)
        parts = [streamed_examples(selection, shape, keep, with_ids=with_ids)]
        if shape.reviews:
            parts.append(streamed_examples(selection, shape, keep, with_ids=with_ids, decided=True))
        parts += [_correction_rows(f, shape, with_ids=with_ids, reviewer=r) for f, r in fixes]
    if len(parts) == 1:
        return parts[0]
    rows = union_all(*parts).subquery("lines")
    return select(*rows.c)
