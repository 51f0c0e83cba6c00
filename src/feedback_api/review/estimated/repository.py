"""The sums the estimate of accuracy needs: the sample rules, then two aggregate statements;
no answer is shipped to Python, only a row per group, inclusion rate, model x intent, count of an
answer's votes and thumbs-up, and verdict.

Which answers a random sample covers: each answer of the window is matched to the sample
rules (of one queue, or of every queue) whose filters it meets and that were drawing when it
was logged (`since` <= logged, before `stopped_at`). An answer covered by several rules (of
different queues) is given to one of them, its *stratum rule*: the highest rate, then the
oldest rule. Which rule that is depends on the rules' filters only, never on the draws, so
the stratum rule's item, when there is one, was drawn with exactly its rate.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
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

from feedback_api.analytics import figures
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession
from feedback_api.review.models import ReviewItem, ReviewQueue, ReviewRule

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

    async def sample_rules(self, scope: Scope) -> list[Any]:
        """The sample rules that drew in the window (of the queue asked for), in the order
        that picks an answer's stratum rule: highest rate first, then the oldest."""
        stmt = (
            select(
                _r.c.id,
                _r.c.sample_rate,
                _r.c.since,
                _r.c.stopped_at,
                _r.c.model,
                _r.c.intent,
                _r.c.project,
            )
            .where(
                _r.c.kind == "sample",
                _r.c.since < scope.until,
                or_(_r.c.stopped_at.is_(None), _r.c.stopped_at > scope.since),
            )
            .order_by(_r.c.sample_rate.desc(), _r.c.id)
        )
        if scope.queue_id is not None:
            stmt = stmt.where(_r.c.queue_id == scope.queue_id)
        return list(await self.session.execute(stmt))

    async def cells(self, scope: Scope) -> list[Cell]:
        rules = await self.sample_rules(scope)
        if not rules:
            return []
        # The stratum rule of each answer, the first of `rules` that covers it, written out
        # rule by rule (a few rules): the planner then sees the answers of the window as
        # what they are, where a join with the rules' table looked like a handful of rows
        # and led it to a million index probes and sorts on disk.
        matches = [(_covers(rule), literal(rule.id, _r.c.id.type)) for rule in rules]
        covered = (
            select(
                _i.c.id,
                _i.c.model,
                _i.c.intent,
                _i.c[scope.group_by].label("grp"),
                case(*matches).label("rule_id"),
            )
            .where(*_in_scope(scope), or_(*(match for match, _ in matches)))
            .subquery("covered")
        )
        # Each answer's votes, summed once over the window's answers: a hash join, where a
        # join per covered answer probes the votes' index a million times.
        voted = (
            select(
                _f.c.interaction_id,
                func.count().label("votes"),
                figures.positive(_f.c.is_helpful).label("positive"),
            )
            .select_from(_f.join(_i, _i.c.id == _f.c.interaction_id))
            .where(*_in_scope(scope))
            .group_by(_f.c.interaction_id)
            .subquery("voted")
        )
        c, v = covered, voted
        votes = func.coalesce(v.c.votes, 0)
        positive = func.coalesce(v.c.positive, 0)
        y = case(
            (_items.c.verdict == "correct", literal(1)),
            (_items.c.verdict == "incorrect", literal(0)),
            else_=null(),
        )
        # Answers alike for the estimate: group, stratum, their own votes, verdict; the
        # prediction of an answer nobody voted on (its model x intent's voted accuracy) is
        # set below from these same rows, not by a second pass over the answers.
        stmt = (
            select(
                c.c.grp,
                c.c.model,
                c.c.intent,
                c.c.rule_id,
                votes,
                positive,
                y,
                func.count(),
                func.count(_items.c.id),
                func.count().filter(_items.c.state == "needs_adjudication"),
            )
            .select_from(c)
            .outerjoin(v, v.c.interaction_id == c.c.id)
            .outerjoin(
                _items,
                and_(_items.c.rule_id == c.c.rule_id, _items.c.interaction_id == c.c.id),
            )
            .group_by(c.c.grp, c.c.model, c.c.intent, c.c.rule_id, votes, positive, y)
        )
        rates = {rule.id: float(rule.sample_rate) for rule in rules}
        rows: list[Any] = [
            (row[0], row[1], row[2], rates[row[3]], *row[4:])
            for row in await self.session.execute(stmt)
        ]
        return _cells(rows)


def _covers(rule: Any) -> ColumnElement[bool]:
    """An answer this rule covers: logged while it drew, and meeting its filters."""
    where = [_i.c.created_at >= rule.since]
    if rule.stopped_at is not None:
        where.append(_i.c.created_at < rule.stopped_at)
    for name in ("model", "intent", "project"):
        if getattr(rule, name) is not None:
            where.append(_i.c[name] == getattr(rule, name))
    return and_(*where)


def _cells(rows: list[Any]) -> list[Cell]:
    """Cells from (group, model, intent, rate, an answer's votes, its thumbs-up, verdict,
    answers, sampled, to adjudicate) rows. Yhat: the answer's share of thumbs-up when it has
    votes; else the voted accuracy of its model x intent over the covered answers of the
    window; else UNINFORMED."""
    segment_votes: dict[tuple[str, str | None], int] = defaultdict(int)
    segment_positive: dict[tuple[str, str | None], int] = defaultdict(int)
    for _, model, intent, _, votes, positive, _, answers, _, _ in rows:
        segment_votes[(model, intent)] += int(votes) * int(answers)
        segment_positive[(model, intent)] += int(positive) * int(answers)
    merged: dict[tuple[Any, ...], list[int]] = {}
    for group, model, intent, rate, votes, positive, y, answers, sampled, adjudicate in rows:
        votes, positive, answers = int(votes), int(positive), int(answers)
        if votes:
            yhat = positive / votes
        elif segment_votes[(model, intent)]:
            yhat = segment_positive[(model, intent)] / segment_votes[(model, intent)]
        else:
            yhat = UNINFORMED
        key = (group, float(rate), yhat, None if y is None else int(y))
        sums = merged.setdefault(key, [0, 0, 0, 0, 0, 0])
        for index, value in enumerate(
            (answers, int(sampled), int(adjudicate), votes * answers, positive * answers)
        ):
            sums[index] += value
        sums[5] += answers if votes else 0
    return [
        Cell(
            group=group,
            rate=rate,
            yhat=yhat,
            y=y,
            answers=sums[0],
            sampled=sums[1],
            needs_adjudication=sums[2],
            votes=sums[3],
            positive=sums[4],
            voted_answers=sums[5],
        )
        for (group, rate, yhat, y), sums in merged.items()
    ]
