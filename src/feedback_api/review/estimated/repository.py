"""The sums the estimate of accuracy needs: the sample rules, the answers each covers (with
the sums of their vote shares), and the sampled items; no answer is shipped to Python, only
a row per group, model x intent and stratum rule, and per verdict alike.

Which answers a random sample covers: each answer of the window is matched to the sample
rules (of one queue, or of every queue) whose filters it meets and that were drawing when it
was logged (`since` <= logged, before `stopped_at`). An answer covered by several rules (of
different queues) is given to one of them, its *stratum rule*: the highest rate, then the
oldest rule. Which rule that is depends on the rules' filters only, never on the draws, so
the stratum rule's item, when there is one, was drawn with exactly its rate.

The answers are summed from what the refresher keeps over the window's whole days
(`daily_metrics`) and hours (`answer_hours`), and the sampled items' answers come from
`sampled_answers` (kept.py); only the hours the refresher has not kept yet, the window's
partial first and last hours, the hours a rule starts or stops inside, and items drawn
since the last refresh are read from the answers and votes themselves. So a request sums
a row per day and segment, however many answers a day holds (docs/review.md, "Estimated
accuracy").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import within
from feedback_api.analytics.models import AnswerHour, DailyMetric, RefreshState
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession
from feedback_api.review.estimated.kept import answer_votes
from feedback_api.review.estimated.window import (
    Bound,
    Parts,
    Rule,
    Scope,
    ceil_day,
    same,
    split_window,
)
from feedback_api.review.models import ReviewItem, ReviewQueue, ReviewRule, SampledAnswer

_i = cast(Table, Interaction.__table__)
_r = cast(Table, ReviewRule.__table__)
_items = cast(Table, ReviewItem.__table__)
_hours = cast(Table, AnswerHour.__table__)
_days = cast(Table, DailyMetric.__table__)
_sampled = cast(Table, SampledAnswer.__table__)


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


def _in_scope(scope: Scope, table: FromClause = _i) -> list[ColumnElement[bool]]:
    return [
        table.c[n] == getattr(scope, n)
        for n in ("model", "intent", "project")
        if getattr(scope, n) is not None
    ]


def _stratum(
    rules: Sequence[Rule], at: Any, table: FromClause, bound: Bound = same
) -> ColumnElement[Any]:
    """The stratum rule of a row logged at `at`: the first of `rules` that covers it, NULL
    for none. Written out rule by rule (a few rules): the planner then sees the answers as
    what they are, where a join with the rules' table looked like a handful of rows."""
    if not rules:
        return literal(None, _r.c.id.type)
    return case(
        *((_covers(rule, at, table, bound), literal(rule.id, _r.c.id.type)) for rule in rules)
    )


def _covers(rule: Rule, at: Any, table: FromClause, bound: Bound) -> ColumnElement[bool]:
    """A row (an answer, or an hour or a day of answers, in which no rule starts or stops)
    this rule covers: logged while it drew, and meeting its filters. `bound` gives the
    rule's times in `at`'s terms."""
    where = [at >= bound(rule.since)]
    if rule.stopped_at is not None:
        where.append(at < bound(rule.stopped_at))
    for name in ("model", "intent", "project"):
        if getattr(rule, name) is not None:
            where.append(table.c[name] == getattr(rule, name))
    return and_(*where)


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

    async def parts(self, scope: Scope, rules: Sequence[Rule]) -> Parts:
        """Where the window's answers are read from, given the last refresh."""
        return split_window(scope, rules, await self.kept_until())

    async def answers(self, scope: Scope, rules: Sequence[Rule], parts: Parts) -> list[Answers]:
        """Every answer of the window by group, model x intent and stratum rule."""
        d, h = _days, _hours
        sums = ("answers", "voted", "votes", "positive", "share", "squares")

        def kept(table: Table, at: Any, answers: Any, bound: Bound) -> Any:
            return select(
                table.c[scope.group_by].label("grp"),
                table.c.model,
                table.c.intent,
                _stratum(rules, at, table, bound).label("rule"),
                answers.label("answers"),
                table.c.interactions_with_feedback.label("voted"),
                table.c.feedback_count.label("votes"),
                table.c.positive,
                table.c.share_sum.label("share"),
                table.c.share_squares.label("squares"),
            ).where(*_in_scope(scope, table))

        from_days = kept(d, d.c.day, d.c.total_queries, ceil_day).where(
            d.c.grouping == 0,
            or_(false(), *(and_(d.c.day >= a.date(), d.c.day < b.date()) for a, b in parts.days)),
        )
        from_hours = kept(h, h.c.hour, h.c.answers, same).where(within(h.c.hour, parts.hours))
        # The rest: each answer's votes through the index on feedback.interaction_id.
        votes = answer_votes(_i.c.id)
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
            .where(within(_i.c.created_at, parts.raw), *_in_scope(scope))
        )
        rows = union_all(from_days, from_hours, from_answers).subquery("rows")
        key = (rows.c.grp, rows.c.model, rows.c.intent, rows.c.rule)
        stmt = select(*key, *(func.coalesce(func.sum(rows.c[n]), 0) for n in sums)).group_by(*key)
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

    async def sampled(self, scope: Scope, rules: Sequence[Rule], parts: Parts) -> list[Sampled]:
        """The items of the window's answers drawn by their stratum rule, with their
        answer's votes (as the refresh saw them in the kept hours, as they are in the others)
        and their verdict."""
        if not rules:
            return []
        s = _sampled

        def drawn(at: Any, table: FromClause) -> list[ColumnElement[bool]]:
            return [
                _items.c.rule_id.in_([rule.id for rule in rules]),
                _items.c.rule_id == _stratum(rules, at, table),
                at >= scope.since,
                at < scope.until,
                *_in_scope(scope, table),
            ]

        def rows(table: FromClause, votes: Any, positive: Any) -> Any:
            return select(
                table.c[scope.group_by].label("grp"),
                table.c.model,
                table.c.intent,
                _items.c.rule_id.label("rule"),
                votes.label("n"),
                positive.label("positive"),
                _items.c.verdict,
                _items.c.state,
            )

        kept = (
            rows(s, s.c.votes, s.c.positive)
            .select_from(_items.join(s, s.c.item_id == _items.c.id))
            .where(within(s.c.answer_at, parts.days + parts.hours), *drawn(s.c.answer_at, s))
        )
        live_votes = answer_votes(_items.c.interaction_id)
        live = (
            rows(s, live_votes.c.n, live_votes.c.positive)
            .select_from(_items.join(s, s.c.item_id == _items.c.id).join(live_votes, true()))
            .where(within(s.c.answer_at, parts.raw), *drawn(s.c.answer_at, s))
        )
        # Items drawn since the last refresh: their answer by primary key (LIMIT 1, one row
        # anyway, keeps PostgreSQL from turning the lookup into a scan of every answer).
        answer = (
            select(_i.c.id, _i.c.created_at, *(_i.c[n] for n in ("model", "intent", "project")))
            .where(_i.c.id == _items.c.interaction_id)
            .limit(1)
            .lateral("answer")
        )
        votes = answer_votes(answer.c.id)
        new = (
            rows(answer, votes.c.n, votes.c.positive)
            .select_from(_items.join(answer, true()).join(votes, true()))
            .where(
                ~exists().where(s.c.item_id == _items.c.id),
                *drawn(answer.c.created_at, answer),
            )
        )
        u = union_all(kept, live, new).subquery("items")
        y = case((u.c.verdict == "correct", 1), (u.c.verdict == "incorrect", 0), else_=null())
        key = (u.c.grp, u.c.model, u.c.intent, u.c.rule, u.c.n, u.c.positive, y)
        stmt = select(
            *key, func.count(), func.count().filter(u.c.state == "needs_adjudication")
        ).group_by(*key)
        return [
            Sampled(
                group=row[0],
                model=row[1],
                intent=row[2],
                rule=row[3],
                votes=int(row[4]),
                positive=int(row[5]),
                y=row[6],
                items=int(row[7]),
                needs_adjudication=int(row[8]),
            )
            for row in await self.session.execute(stmt)
        ]
