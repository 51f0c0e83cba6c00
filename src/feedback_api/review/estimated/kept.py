"""`sampled_answers`, kept by the refresher: each random-sample item's answer as the refresh
saw it (logged when, its segment, its votes and thumbs-up). The estimate of accuracy reads
the reviewed sample's predictions from it, at the same refresh as the answers' sums it takes
them out of (answer_hours, daily_metrics), instead of looking up every item's answer and
votes when asked.

A rollup family like those of analytics/ (rollup.py): rebuilt from the tables on a full
refresh; on an ordinary one, the items drawn since get their row, and the rows of answers
whose votes changed (the change log's answer hours) are recomputed. An erased answer takes
its items, and their rows, with it.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, exists, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import in_hours
from feedback_api.analytics.rollup import Tick
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.review.models import ReviewItem, SampledAnswer

_i = cast(Table, Interaction.__table__)
_f = cast(Table, Feedback.__table__)
_items = cast(Table, ReviewItem.__table__)
_sampled = cast(Table, SampledAnswer.__table__)
_COLUMNS = ("item_id", "answer_at", "model", "intent", "project", "votes", "positive")


def answer_votes(answer_id: ColumnElement[Any]) -> Any:
    """An answer's votes (`n`) and thumbs-up (`positive`), a LATERAL subquery beside the
    rows that give `answer_id`: through the index on feedback.interaction_id."""
    return (
        select(figures.votes().label("n"), figures.positive(_f.c.is_helpful).label("positive"))
        .where(_f.c.interaction_id == answer_id)
        .lateral("v")
    )


def _drawn() -> Any:
    """The rows of every random-sample item, from its answer and the answer's votes."""
    votes = answer_votes(_i.c.id)
    return (
        select(
            _items.c.id,
            _i.c.created_at,
            _i.c.model,
            _i.c.intent,
            _i.c.project,
            votes.c.n,
            votes.c.positive,
        )
        .select_from(_items.join(_i, _i.c.id == _items.c.interaction_id).join(votes, true()))
        .where(_items.c.source == "sample")
    )


class SampledAnswers:
    async def rebuild(self, tick: Tick) -> None:
        await tick.session.execute(delete(SampledAnswer))
        await tick.session.execute(insert(SampledAnswer).from_select(_COLUMNS, _drawn()))

    async def slide(self, tick: Tick) -> None:
        """Nothing is kept per window."""

    async def apply(self, tick: Tick) -> None:
        hours = tick.changes.answer_hours
        s = _sampled
        if hours:
            votes = answer_votes(_items.c.interaction_id)
            now = (
                select(s.c.item_id, votes.c.n, votes.c.positive)
                .select_from(s.join(_items, _items.c.id == s.c.item_id).join(votes, true()))
                .where(in_hours(s.c.answer_at, hours))
                .subquery("now")
            )
            await tick.session.execute(
                update(s)
                .where(
                    s.c.item_id == now.c.item_id,
                    or_(s.c.votes != now.c.n, s.c.positive != now.c.positive),
                )
                .values(votes=now.c.n, positive=now.c.positive)
            )
        # The items drawn since the last refresh (a few: an anti-join over the sample's).
        new = _drawn().where(~exists().where(s.c.item_id == _items.c.id))
        await tick.session.execute(
            insert(SampledAnswer).from_select(_COLUMNS, new).on_conflict_do_nothing()
        )
