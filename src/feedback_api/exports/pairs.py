"""The pairs of dpo and openai-dpo: a rejected answer against the best accepted answer to
the same prompt, and a correction (a user's or a reviewer's) against the answer it
corrects. Rows are PAIR_COLUMNS[, feedback_ids]."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CTE, Select, case, func, literal, not_, null, or_, select
from sqlalchemy.orm import aliased

from feedback_api.exports import reviewed
from feedback_api.exports.selection import Shape
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
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
    net = ex.c.up - ex.c.down
    rank = func.row_number().over(
        partition_by=ex.c.prompt,
        order_by=(positive.is_(True).desc(), (source == "review").desc(), net.desc(), ex.c.key),
    )
    ranked = select(ex, positive.label("positive"), source.label("source"), rank.label("rank")).cte(
        "ranked"
    )
    chosen, rejected = ranked.alias("c"), ranked.alias("r")
    chosen_text, rejected_text = aliased(Interaction, name="ct"), aliased(Interaction, name="rt")
    either = or_(chosen.c.source == "review", rejected.c.source == "review")
    columns = _pair_columns(
        chosen_text,
        chosen_text.response,
        rejected_text.response,
        chosen.c.up,
        rejected.c.down,
        case((either, literal("review")), else_=literal("vote")),
    )
    if with_ids:  # the votes behind a side labelled by its votes
        ids = func.array_cat(
            case((chosen.c.source == "review", null()), else_=chosen.c.feedback_ids),
            case((rejected.c.source == "review", null()), else_=rejected.c.feedback_ids),
        )
        columns.append(ids.label("feedback_ids"))
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
