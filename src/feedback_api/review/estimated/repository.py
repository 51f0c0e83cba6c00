"""The sums the estimate of accuracy needs, in two aggregate statements: no answer is
shipped to Python, only a row per group, inclusion rate, distinct prediction and verdict.

Which answers a random sample covers: each answer of the window is matched to the sample
rules (of one queue, or of every queue) whose filters it meets and that were drawing when it
was logged (`since` <= logged, before `stopped_at`). An answer covered by several rules (of
different queues) is given to one of them, its *stratum rule*: the highest rate, then the
oldest rule. Which rule that is depends on the rules' filters only, never on the draws, so
the stratum rule's item, when there is one, was drawn with exactly its rate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Float,
    Table,
    and_,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.postgresql import distinct_on

from feedback_api.analytics import figures
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession
from feedback_api.review.models import ReviewItem, ReviewQueue, ReviewRule
from feedback_api.review.rules import answer_filters

_i = cast(Table, Interaction.__table__)
_f = cast(Table, Feedback.__table__)
_r = cast(Table, ReviewRule.__table__)
_items = cast(Table, ReviewItem.__table__)

# When an answer has no vote and its model x intent none either: no information, a coin.
UNINFORMED = 0.5


@dataclass(frozen=True)
class Scope:
    since: datetime
    until: datetime
    model: str | None
    intent: str | None
    project: str | None
    group_by: str
    queue_id: uuid.UUID | None


@dataclass(frozen=True)
class Cell:
    """Answers of a group that share an inclusion rate, a prediction and a verdict."""

    group: str | None
    rate: float
    yhat: float
    y: int | None  # 1 correct, 0 incorrect, None not reviewed
    answers: int
    sampled: int
    needs_adjudication: int
    votes: int
    positive: int
    voted_answers: int


def _in_scope(scope: Scope) -> list[ColumnElement[bool]]:
    where = [_i.c.created_at >= scope.since, _i.c.created_at < scope.until]
    for name in ("model", "intent", "project"):
        value = getattr(scope, name)
        if value is not None:
            where.append(_i.c[name] == value)
    return where


class EstimateRepository:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def now(self) -> datetime:
        return cast(datetime, (await self.session.execute(select(func.now()))).scalar_one())

    async def queue_exists(self, queue_id: uuid.UUID) -> bool:
        stmt = select(exists().where(ReviewQueue.id == queue_id))
        return bool((await self.session.execute(stmt)).scalar_one())

    async def all_answers(self, scope: Scope) -> dict[str | None, int]:
        group = _i.c[scope.group_by]
        stmt = select(group, func.count()).where(*_in_scope(scope)).group_by(group)
        return {row[0]: int(row[1]) for row in await self.session.execute(stmt)}

    async def cells(self, scope: Scope) -> list[Cell]:
        rule_conditions = [
            _r.c.kind == "sample",
            _i.c.created_at >= _r.c.since,
            or_(_r.c.stopped_at.is_(None), _i.c.created_at < _r.c.stopped_at),
            *answer_filters(_r, _i),
        ]
        if scope.queue_id is not None:
            rule_conditions.append(_r.c.queue_id == scope.queue_id)
        covered = (
            select(
                _i.c.id,
                _i.c.model,
                _i.c.intent,
                _i.c[scope.group_by].label("grp"),
                _r.c.id.label("rule_id"),
                _r.c.sample_rate.label("rate"),
            )
            .select_from(_i)
            .join(_r, and_(*rule_conditions))
            .where(*_in_scope(scope))
            .ext(distinct_on(_i.c.id))
            .order_by(_i.c.id, _r.c.sample_rate.desc(), _r.c.id)
            .cte("covered")
        )
        c = covered
        per_answer = (
            select(
                c.c.id,
                c.c.model,
                c.c.intent,
                c.c.grp,
                c.c.rule_id,
                c.c.rate,
                func.count(_f.c.id).label("votes"),
                figures.positive(_f.c.is_helpful).label("positive"),
            )
            .select_from(c)
            .outerjoin(_f, _f.c.interaction_id == c.c.id)
            .group_by(c.c.id, c.c.model, c.c.intent, c.c.grp, c.c.rule_id, c.c.rate)
            .cte("per_answer")
        )
        a = per_answer
        # The voted accuracy of each model x intent over the covered answers of the window:
        # the prediction of an answer nobody voted on.
        segment = (
            select(
                a.c.model,
                a.c.intent,
                (
                    sa_cast(func.sum(a.c.positive), Float) / func.nullif(func.sum(a.c.votes), 0)
                ).label("accuracy"),
            )
            .group_by(a.c.model, a.c.intent)
            .cte("segment")
        )
        s = segment
        yhat = case(
            (a.c.votes > 0, sa_cast(a.c.positive, Float) / a.c.votes),
            else_=func.coalesce(s.c.accuracy, literal(UNINFORMED, Float)),
        ).label("yhat")
        y = case(
            (_items.c.verdict == "correct", literal(1)),
            (_items.c.verdict == "incorrect", literal(0)),
            else_=null(),
        ).label("y")
        stmt = (
            select(
                a.c.grp,
                a.c.rate,
                yhat,
                y,
                func.count().label("answers"),
                func.count(_items.c.id).label("sampled"),
                func.count().filter(_items.c.state == "needs_adjudication").label("adjudicate"),
                func.coalesce(func.sum(a.c.votes), 0).label("votes"),
                func.coalesce(func.sum(a.c.positive), 0).label("positive"),
                func.count().filter(a.c.votes > 0).label("voted_answers"),
            )
            .select_from(a)
            .join(
                s,
                and_(
                    s.c.model == a.c.model,
                    s.c.intent.is_not_distinct_from(a.c.intent),
                ),
            )
            .outerjoin(
                _items,
                and_(_items.c.rule_id == a.c.rule_id, _items.c.interaction_id == a.c.id),
            )
            .group_by(a.c.grp, a.c.rate, yhat, y)
        )
        rows: list[Any] = list(await self.session.execute(stmt))
        return [
            Cell(
                group=row[0],
                rate=float(row[1]),
                yhat=float(row[2]),
                y=None if row[3] is None else int(row[3]),
                answers=int(row[4]),
                sampled=int(row[5]),
                needs_adjudication=int(row[6]),
                votes=int(row[7]),
                positive=int(row[8]),
                voted_answers=int(row[9]),
            )
            for row in rows
        ]
