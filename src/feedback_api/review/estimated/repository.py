"""The sums the estimate of accuracy needs: the sample rules, the answers each covers (with
the sums of their vote shares), and the sampled items; no answer is shipped to Python, only
a row per group, model x intent and stratum rule, and per verdict alike.

Which answers a random sample covers: each answer of the window is matched to the sample
rules (of one queue, or of every queue) whose filters it meets and that were drawing when it
was logged (`since` <= logged, before `stopped_at`). An answer covered by several rules (of
different queues) is given to one of them, its *stratum rule*: the highest rate, then the
oldest rule. Which rule that is depends on the rules' filters only, never on the draws, so
the stratum rule's item, when there is one, was drawn with exactly its rate.

The answers are summed from what the refresher keeps (`answer_hours`, one row per hour and
segment) over the window's whole hours; only the hours the refresher has not kept yet, the
window's partial first and last hours, and the hours a rule starts or stops inside, are
read from the answers themselves. So a request sums some rows per hour, however many
answers an hour holds (docs/review.md, "Estimated accuracy").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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
    true,
    union_all,
)

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import HOUR, ceil_hour, floor_hour, within
from feedback_api.analytics.models import AnswerHour, RefreshState
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession
from feedback_api.review.models import ReviewItem, ReviewQueue, ReviewRule

_i = cast(Table, Interaction.__table__)
_f = cast(Table, Feedback.__table__)
_r = cast(Table, ReviewRule.__table__)
_items = cast(Table, ReviewItem.__table__)
_hours = cast(Table, AnswerHour.__table__)

Span = tuple[datetime, datetime]


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
class Rule:
    id: uuid.UUID
    rate: float
    since: datetime
    stopped_at: datetime | None
    model: str | None
    intent: str | None
    project: str | None


@dataclass(frozen=True)
class Answers:
    """The answers of a group and model x intent that one stratum rule covers (`rule` None:
    that no rule covers), their votes, and the sums of their vote shares."""

    group: str | None
    model: str
    intent: str | None
    rule: uuid.UUID | None
    answers: int
    voted_answers: int
    votes: int
    positive: int
    share_sum: float
    share_squares: float


@dataclass(frozen=True)
class Sampled:
    """Items of a stratum rule alike: group, model x intent, their answer's votes and
    thumbs-up, and verdict (1 correct, 0 incorrect, None not decided)."""

    group: str | None
    model: str
    intent: str | None
    rule: uuid.UUID
    votes: int
    positive: int
    y: int | None
    items: int
    needs_adjudication: int


def _in_scope(scope: Scope, table: Table = _i) -> list[ColumnElement[bool]]:
    return [
        table.c[n] == getattr(scope, n)
        for n in ("model", "intent", "project")
        if getattr(scope, n) is not None
    ]


def _stratum(rules: Sequence[Rule], at: Any, table: Table) -> ColumnElement[Any]:
    """The stratum rule of a row logged at `at`: the first of `rules` that covers it, NULL
    for none. Written out rule by rule (a few rules): the planner then sees the answers as
    what they are, where a join with the rules' table looked like a handful of rows."""
    if not rules:
        return literal(None, _r.c.id.type)
    return case(*((_covers(rule, at, table), literal(rule.id, _r.c.id.type)) for rule in rules))


def _covers(rule: Rule, at: Any, table: Table) -> ColumnElement[bool]:
    """A row (an answer, or an hour of answers) this rule covers: logged while it drew, and
    meeting its filters."""
    where = [at >= rule.since]
    if rule.stopped_at is not None:
        where.append(at < rule.stopped_at)
    for name in ("model", "intent", "project"):
        if getattr(rule, name) is not None:
            where.append(table.c[name] == getattr(rule, name))
    return and_(*where)


def split_window(
    scope: Scope, rules: Sequence[Rule], kept_until: datetime | None
) -> tuple[list[Span], list[Span]]:
    """The window as (kept, raw) spans: whole hours the refresher kept, in which no rule
    starts or stops, summed from `answer_hours`; the rest read from the answers."""
    first = ceil_hour(scope.since)
    last = scope.until if kept_until is None else min(scope.until, kept_until)
    last = floor_hour(last)
    if kept_until is None or first >= last:
        return [], [(scope.since, scope.until)]
    cuts = sorted(
        {
            floor_hour(t)
            for rule in rules
            for t in (rule.since, rule.stopped_at)
            if t is not None and first < t < last and floor_hour(t) != t
        }
    )
    kept: list[Span] = []
    raw: list[Span] = [(scope.since, first)] if scope.since < first else []
    start = first
    for hour in cuts:
        if start < hour:
            kept.append((start, hour))
        raw.append((hour, hour + HOUR))
        start = hour + HOUR
    if start < last:
        kept.append((start, last))
    if last < scope.until:
        raw.append((last, scope.until))
    return kept, raw


class EstimateRepository:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def now(self) -> datetime:
        return cast(datetime, (await self.session.execute(select(func.now()))).scalar_one())

    async def queue_exists(self, queue_id: uuid.UUID) -> bool:
        stmt = select(exists().where(ReviewQueue.id == queue_id))
        return bool((await self.session.execute(stmt)).scalar_one())

    async def kept_until(self) -> datetime | None:
        """The refresh the kept hours are as of; None before the first full refresh (the
        kept hours are then not whole)."""
        stmt = select(RefreshState.refreshed_at).where(
            RefreshState.id == 1, RefreshState.full_rebuild_at.is_not(None)
        )
        return cast(datetime | None, (await self.session.execute(stmt)).scalar_one_or_none())

    async def sample_rules(self, scope: Scope) -> list[Rule]:
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
        return [Rule(row[0], float(row[1]), *row[2:]) for row in await self.session.execute(stmt)]

    async def answers(self, scope: Scope, rules: Sequence[Rule]) -> list[Answers]:
        """Every answer of the window by group, model x intent and stratum rule."""
        kept, raw = split_window(scope, rules, await self.kept_until())
        h = _hours
        from_hours = select(
            h.c[scope.group_by].label("grp"),
            h.c.model,
            h.c.intent,
            _stratum(rules, h.c.hour, h).label("rule"),
            h.c.answers,
            h.c.interactions_with_feedback.label("voted"),
            h.c.feedback_count.label("votes"),
            h.c.positive,
            h.c.share_sum.label("share"),
            h.c.share_squares.label("squares"),
        ).where(within(h.c.hour, kept), *_in_scope(scope, h))
        # The hours not kept: each answer's votes through the index on feedback.interaction_id.
        votes = _answer_votes()
        share = figures.vote_share(votes.c.positive, votes.c.n)
        from_answers = (
            select(
                _i.c[scope.group_by].label("grp"),
                _i.c.model,
                _i.c.intent,
                _stratum(rules, _i.c.created_at, _i).label("rule"),
                literal(1).label("answers"),
                case((votes.c.n > 0, 1), else_=0).label("voted"),
                votes.c.n.label("votes"),
                votes.c.positive,
                share.label("share"),
                (share * share).label("squares"),
            )
            .select_from(_i.join(votes, true()))
            .where(within(_i.c.created_at, raw), *_in_scope(scope))
        )
        rows = union_all(from_hours, from_answers).subquery("rows")
        key = (rows.c.grp, rows.c.model, rows.c.intent, rows.c.rule)
        stmt = select(
            *key,
            *(
                func.coalesce(func.sum(rows.c[n]), 0)
                for n in ("answers", "voted", "votes", "positive", "share", "squares")
            ),
        ).group_by(*key)
        return [
            Answers(
                group=row[0],
                model=row[1],
                intent=row[2],
                rule=row[3],
                answers=int(row[4]),
                voted_answers=int(row[5]),
                votes=int(row[6]),
                positive=int(row[7]),
                share_sum=float(row[8]),
                share_squares=float(row[9]),
            )
            for row in await self.session.execute(stmt)
        ]

    async def sampled(self, scope: Scope, rules: Sequence[Rule]) -> list[Sampled]:
        """The items of the window's answers drawn by their stratum rule, with their
        answer's votes and their verdict."""
        if not rules:
            return []
        votes = _answer_votes()
        y = case(
            (_items.c.verdict == "correct", literal(1)),
            (_items.c.verdict == "incorrect", literal(0)),
            else_=null(),
        )
        key = (
            _i.c[scope.group_by],
            _i.c.model,
            _i.c.intent,
            _items.c.rule_id,
            votes.c.n,
            votes.c.positive,
            y,
        )
        stmt = (
            select(
                *key,
                func.count(),
                func.count().filter(_items.c.state == "needs_adjudication"),
            )
            .select_from(_items.join(_i, _i.c.id == _items.c.interaction_id).join(votes, true()))
            .where(
                _items.c.rule_id.in_([rule.id for rule in rules]),
                _items.c.rule_id == _stratum(rules, _i.c.created_at, _i),
                _i.c.created_at >= scope.since,
                _i.c.created_at < scope.until,
                *_in_scope(scope),
            )
            .group_by(*key)
        )
        return [
            Sampled(
                row[0],
                row[1],
                row[2],
                row[3],
                int(row[4]),
                int(row[5]),
                row[6],
                int(row[7]),
                int(row[8]),
            )
            for row in await self.session.execute(stmt)
        ]


def _answer_votes() -> Any:
    """An answer's votes and thumbs-up (a LATERAL subquery beside `interactions`)."""
    return (
        select(figures.votes().label("n"), figures.positive(_f.c.is_helpful).label("positive"))
        .where(_f.c.interaction_id == _i.c.id)
        .lateral("v")
    )
