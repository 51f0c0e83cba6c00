"""Sample rules and triggers: their SQL, and the statements that apply them.

A sample rule takes each answer logged from `since` on that matches its filters with
probability `sample_rate`, decided by a keyed hash of the rule and the answer's request_id:
the first 52 bits of sha256(hash_key || request_id), as a fraction of 2^52, under the rate.
The same answer and rule always give the same draw, and nothing a voter does changes it.
Each application is one INSERT ... SELECT over the answers, however many there are.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    Text,
    and_,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import (
    cast as sa_cast,
)
from sqlalchemy.dialects.postgresql import BIT, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession
from feedback_api.kit.models import new_id
from feedback_api.review.models import ReviewRule
from feedback_api.review.repository import NOT_SAMPLED, insert_items

_rules = cast(Table, ReviewRule.__table__)
_interactions = cast(Table, Interaction.__table__)
_feedback = cast(Table, Feedback.__table__)

HASH_BITS = 52  # exact in a double
# How far back each pass looks again, by the time in the ids (UUIDv7) of answers and votes:
# a row whose transaction commits later than this after its id was made would be missed.
# Writes commit within the statement timeout; this is well past it.
LATE_COMMIT = timedelta(minutes=5)


def draw(hash_key: str, request_id: str) -> float:
    """The draw of an answer for a rule, in [0, 1): it joins when the draw < sample_rate.
    (What the SQL computes, for anyone who wants to check a sample.)"""
    digest = hashlib.sha256((hash_key + request_id).encode()).hexdigest()
    return float(int(digest[: HASH_BITS // 4], 16) / 2**HASH_BITS)


def _draw(rule: Any, interaction: Any) -> ColumnElement[Any]:
    digest = func.encode(
        func.sha256(func.convert_to(rule.c.hash_key + interaction.c.request_id, "UTF8")), "hex"
    )
    bits = sa_cast(literal("x", Text) + func.substr(digest, 1, HASH_BITS // 4), BIT(HASH_BITS))
    return sa_cast(bits, BigInteger) / float(2**HASH_BITS)


def answer_filters(rule: Any, interaction: Any) -> list[ColumnElement[bool]]:
    return [
        or_(rule.c[name].is_(None), rule.c[name] == interaction.c[name])
        for name in ("model", "intent", "project")
    ]


def id_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 made at `moment`: rows with ids from it on were made since."""
    return uuid.UUID(int=int(moment.timestamp() * 1000) << 80)


def sample_statement(*, new: bool, floor: uuid.UUID | None = None) -> Any:
    """Insert the draws of the active sample rules: over every answer since each rule's
    `since` for rules never applied (`new`), else over answers with ids from `floor` on."""
    r, i = _rules, _interactions
    conditions = [
        r.c.kind == "sample",
        r.c.stopped_at.is_(None),
        r.c.scanned_to.is_(None) if new else r.c.scanned_to.is_not(None),
        i.c.created_at >= r.c.since,
        *answer_filters(r, i),
        _draw(r, i) < r.c.sample_rate,
    ]
    if floor is not None:
        conditions.append(i.c.id >= floor)
    rows = (
        select(r.c.queue_id, i.c.id, literal("sample", Text), r.c.id, r.c.sample_rate)
        .select_from(r)
        .join(i, and_(*conditions))
        .ext(distinct_on(r.c.queue_id, i.c.id))
    )
    return insert_items(rows, sampled=True)


def trigger_statement(*, new: bool, floor: uuid.UUID | None = None) -> Any:
    """Insert the answers of votes that match an active trigger: every vote since each
    trigger's `since` for triggers never applied (`new`), else votes with ids from `floor`."""
    r, i, f = _rules, _interactions, _feedback
    conditions = [
        r.c.kind == "trigger",
        r.c.stopped_at.is_(None),
        r.c.scanned_to.is_(None) if new else r.c.scanned_to.is_not(None),
        f.c.created_at >= r.c.since,
        or_(r.c.vote_is_helpful.is_(None), r.c.vote_is_helpful == f.c.is_helpful),
        or_(r.c.vote_reason.is_(None), r.c.vote_reason == func.any(f.c.reasons)),
        or_(
            r.c.vote_with_comment.is_(None),
            r.c.vote_with_comment == (func.coalesce(func.length(f.c.comment), 0) > 0),
        ),
        *answer_filters(r, i),
    ]
    if floor is not None:
        conditions.append(f.c.id >= floor)
    rows = (
        select(r.c.queue_id, i.c.id, literal("trigger", Text), *NOT_SAMPLED)
        .select_from(f)
        .join(i, i.c.id == f.c.interaction_id)
        .join(r, and_(*conditions))
        .ext(distinct_on(r.c.queue_id, i.c.id))
    )
    return insert_items(rows)


class RuleReader:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def of_queue(self, queue_id: uuid.UUID) -> list[ReviewRule]:
        stmt = (
            select(ReviewRule)
            .where(ReviewRule.queue_id == queue_id)
            .order_by(ReviewRule.created_at, ReviewRule.id)
        )
        return list((await self.session.execute(stmt)).scalars())


class RuleRepository(RuleReader):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.writer = session

    async def create(self, values: dict[str, Any]) -> ReviewRule:
        rule = ReviewRule(id=new_id(), hash_key=uuid.uuid4().hex, **values)
        self.writer.add(rule)
        await self.writer.flush()
        await self.writer.refresh(rule)
        return rule

    async def stop(self, queue_id: uuid.UUID, rule_id: uuid.UUID) -> ReviewRule | None:
        stmt = (
            update(ReviewRule)
            .where(ReviewRule.id == rule_id, ReviewRule.queue_id == queue_id)
            .values(stopped_at=func.coalesce(ReviewRule.stopped_at, func.now()))
            .returning(ReviewRule)
        )
        return (await self.writer.execute(stmt)).scalar_one_or_none()

    async def apply(self) -> int:
        """Apply every active rule to what was logged (or voted) since its last pass; the
        number of items added. A rule's first pass reads back to its `since`."""
        now = (await self.writer.execute(select(func.now()))).scalar_one()
        last = await self.writer.scalar(
            select(func.min(ReviewRule.scanned_to)).where(
                ReviewRule.stopped_at.is_(None), ReviewRule.scanned_to.is_not(None)
            )
        )
        added = 0
        for statement in (sample_statement(new=True), trigger_statement(new=True)):
            added += (await self.writer.execute(statement)).scalar_one()
        if last is not None:
            floor = id_floor(last - LATE_COMMIT)
            for statement in (
                sample_statement(new=False, floor=floor),
                trigger_statement(new=False, floor=floor),
            ):
                added += (await self.writer.execute(statement)).scalar_one()
        await self.writer.execute(
            update(ReviewRule).where(ReviewRule.stopped_at.is_(None)).values(scanned_to=now)
        )
        return int(added)
