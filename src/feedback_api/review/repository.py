"""Review SQL for queues and items: queues and their progress, adding answers, item views.

The claim and the writes of a lease are in claims.py; sample rules and triggers in rules.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Table,
    Text,
    Uuid,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.feedback.listing import SEARCHED
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit import search
from feedback_api.kit.db import ReadSession
from feedback_api.kit.models import AnyRow, new_id, was_inserted, written_columns
from feedback_api.review.models import (
    ReviewAssignment,
    ReviewItem,
    ReviewLabel,
    ReviewLabelVersion,
    ReviewQueue,
    ReviewSlot,
)
from feedback_api.review.schemas import ItemFilter

_items = cast(Table, ReviewItem.__table__)
_slots = cast(Table, ReviewSlot.__table__)
_queues = cast(Table, ReviewQueue.__table__)
_interactions = cast(Table, Interaction.__table__)
# What an item shows of its answer: the columns of GET /v1/interactions/{id}.
INTERACTION_COLUMNS = written_columns(_interactions)
# The answer's columns beside an item's own, named apart: both have an `id` and a
# `created_at`.
ANSWER_PREFIX = "answer_"
_ANSWER_COLUMNS = [c.label(ANSWER_PREFIX + c.name) for c in INTERACTION_COLUMNS]


# An item's rule and inclusion probability when it is not a random sample's.
NOT_SAMPLED = (null().cast(Uuid), null().cast(Float))


def live_lease(item: Any) -> ColumnElement[bool]:
    """Someone holds a slot of the item and their lease has not run out."""
    return exists().where(
        _slots.c.item_id == item.c.id,
        ~_slots.c.labelled,
        _slots.c.holder.is_not(None),
        _slots.c.leased_until > func.now(),
    )


def status_of(item: Any) -> ColumnElement[str]:
    """pending (no label, nobody on it), in_review, done or needs_adjudication."""
    return case(
        (item.c.state != "open", item.c.state),
        (or_(item.c.labels > 0, live_lease(item)), literal("in_review")),
        else_=literal("pending"),
    )


def insert_items(
    rows: Select[Any], *also: ColumnElement[Any], sampled: bool = False
) -> Select[Any]:
    """Insert the items `rows` gives (queue_id, interaction_id, source, rule_id,
    inclusion_probability; one row per answer and queue) unless the answer is in the queue
    already, each with its queue's reviewers_per_item slots, in one statement; answers the
    number of items inserted.

    `sampled`: the rows are a random sample's, and an item the answer already had (added by
    hand or by a trigger) becomes the sample's: the draw alone decides membership, whatever
    else put the answer in the queue.
    """
    columns = ["id", "queue_id", "interaction_id", "source", "rule_id", "inclusion_probability"]
    named = zip(rows.selected_columns, columns[1:], strict=True)
    source = rows.with_only_columns(*(c.label(name) for c, name in named)).subquery("rows")
    statement = insert(_items).from_select(columns, select(func.gen_random_uuid(), *source.c))
    if sampled:
        statement = statement.on_conflict_do_update(
            index_elements=[_items.c.queue_id, _items.c.interaction_id],
            set_={
                "source": statement.excluded.source,
                "rule_id": statement.excluded.rule_id,
                "inclusion_probability": statement.excluded.inclusion_probability,
            },
            where=_items.c.inclusion_probability.is_(None),
        )
    else:
        statement = statement.on_conflict_do_nothing(
            index_elements=[_items.c.queue_id, _items.c.interaction_id]
        )
    new = statement.returning(_items.c.id, _items.c.queue_id, was_inserted()).cte("new")
    per_item = (
        select(new.c.id, func.generate_series(1, _queues.c.reviewers_per_item))
        .join_from(new, _queues, _queues.c.id == new.c.queue_id)
        .where(new.c.inserted)
    )
    slots = insert(_slots).from_select(["item_id", "slot"], per_item).cte("new_slots")
    added = func.count().filter(new.c.inserted)
    return select(added, *also).select_from(new).add_cte(slots)


def _vote_conditions(where: ItemFilter) -> list[ColumnElement[bool]]:
    """The filters of GET /v1/feedback on a vote and its answer."""
    conditions: list[ColumnElement[bool]] = []
    equal = {
        Interaction.model: where.model,
        Interaction.intent: where.intent,
        Interaction.project: where.project,
        Feedback.is_helpful: where.is_helpful,
    }
    conditions.extend(column == value for column, value in equal.items() if value is not None)
    if where.reason is not None:
        conditions.append(Feedback.reasons.contains([where.reason]))
    if where.since is not None:
        conditions.append(Feedback.created_at >= where.since)
    if where.until is not None:
        conditions.append(Feedback.created_at < where.until)
    if where.q is not None:
        conditions.append(or_(*(search.matches(words, where.q) for words in SEARCHED)))
    return conditions


class QueueRepository:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def get(self, queue_id: uuid.UUID) -> ReviewQueue | None:
        return await self.session.get(ReviewQueue, queue_id)

    async def all(self) -> list[ReviewQueue]:
        stmt = select(ReviewQueue).order_by(ReviewQueue.created_at, ReviewQueue.id)
        return list((await self.session.execute(stmt)).scalars())

    async def progress(self, queue_ids: Sequence[uuid.UUID]) -> tuple[list[AnyRow], list[AnyRow]]:
        """(queue_id, status, items) rows and (queue_id, reviewer, labels) rows."""
        status = status_of(_items).label("status")
        items = (
            select(_items.c.queue_id, status, func.count())
            .where(_items.c.queue_id.in_(queue_ids))
            .group_by(_items.c.queue_id, status)
        )
        labels = (
            select(_items.c.queue_id, ReviewLabel.reviewer, func.count())
            .join_from(ReviewLabel, _items, _items.c.id == ReviewLabel.item_id)
            .where(_items.c.queue_id.in_(queue_ids), ~ReviewLabel.adjudication)
            .group_by(_items.c.queue_id, ReviewLabel.reviewer)
        )
        return (
            list((await self.session.execute(items)).all()),
            list((await self.session.execute(labels)).all()),
        )

    async def item(self, item_id: uuid.UUID) -> AnyRow | None:
        """An item with its status and every column of its answer (named with
        ANSWER_PREFIX)."""
        stmt = (
            select(
                *_items.c,
                status_of(_items).label("status"),
                _interactions.c.request_id,
                *_ANSWER_COLUMNS,
            )
            .join_from(_items, _interactions, _interactions.c.id == _items.c.interaction_id)
            .where(_items.c.id == item_id)
        )
        return (await self.session.execute(stmt)).one_or_none()

    async def labels(self, item_ids: Sequence[uuid.UUID]) -> list[ReviewLabel]:
        stmt = (
            select(ReviewLabel)
            .where(ReviewLabel.item_id.in_(item_ids))
            .order_by(ReviewLabel.created_at, ReviewLabel.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def label(self, label_id: uuid.UUID) -> ReviewLabel | None:
        return await self.session.get(ReviewLabel, label_id)

    async def label_versions(self, label_id: uuid.UUID) -> list[ReviewLabelVersion]:
        stmt = (
            select(ReviewLabelVersion)
            .where(ReviewLabelVersion.label_id == label_id)
            .order_by(ReviewLabelVersion.version)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def items(
        self,
        queue_id: uuid.UUID,
        status: str | None,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
    ) -> list[AnyRow]:
        """Newest first, keyset-paginated on (created_at, id)."""
        status_column = status_of(_items)
        stmt = (
            select(*_items.c, status_column.label("status"), _interactions.c.request_id)
            .join_from(_items, _interactions, _interactions.c.id == _items.c.interaction_id)
            .where(_items.c.queue_id == queue_id)
            .order_by(_items.c.created_at.desc(), _items.c.id.desc())
            .limit(limit)
        )
        if status is not None:
            stmt = stmt.where(status_column == status)
        if after is not None:
            stmt = stmt.where(tuple_(_items.c.created_at, _items.c.id) < tuple_(*after))
        return list((await self.session.execute(stmt)).all())

    async def verdicts(self, queue_id: uuid.UUID) -> list[AnyRow]:
        """(item_id, reviewer, verdict) of every label of the queue (not adjudications)."""
        stmt = (
            select(ReviewLabel.item_id, ReviewLabel.reviewer, ReviewLabel.verdict)
            .join_from(ReviewLabel, _items, _items.c.id == ReviewLabel.item_id)
            .where(_items.c.queue_id == queue_id, ~ReviewLabel.adjudication)
        )
        return list((await self.session.execute(stmt)).all())

    async def declines(self, queue_id: uuid.UUID) -> list[AnyRow]:
        """(reviewer, items declined) of the queue."""
        stmt = (
            select(ReviewAssignment.reviewer, func.count())
            .join_from(ReviewAssignment, _items, _items.c.id == ReviewAssignment.item_id)
            .where(_items.c.queue_id == queue_id, ReviewAssignment.state == "declined")
            .group_by(ReviewAssignment.reviewer)
        )
        return list((await self.session.execute(stmt)).all())

    async def decided(self, queue_id: uuid.UUID) -> list[AnyRow]:
        """(item_id, verdict, thumbs up, thumbs down) of the queue's decided items."""
        stmt = (
            select(
                _items.c.id,
                _items.c.verdict,
                func.count(Feedback.id).filter(Feedback.is_helpful),
                func.count(Feedback.id).filter(~Feedback.is_helpful),
            )
            .select_from(_items)
            .outerjoin(Feedback, Feedback.interaction_id == _items.c.interaction_id)
            .where(_items.c.queue_id == queue_id, _items.c.verdict.is_not(None))
            .group_by(_items.c.id, _items.c.verdict)
        )
        return list((await self.session.execute(stmt)).all())

    async def labels_between(self, start: datetime, end: datetime) -> int:
        stmt = select(func.count()).where(
            ReviewLabel.created_at >= start, ReviewLabel.created_at < end, ~ReviewLabel.adjudication
        )
        return int(await self.session.scalar(stmt) or 0)

    async def week_verdicts(self, start: datetime, end: datetime) -> list[AnyRow]:
        """(item_id, reviewer, verdict) of every label of the items labelled in [start, end)."""
        labelled = select(ReviewLabel.item_id).where(
            ReviewLabel.created_at >= start, ReviewLabel.created_at < end, ~ReviewLabel.adjudication
        )
        stmt = select(ReviewLabel.item_id, ReviewLabel.reviewer, ReviewLabel.verdict).where(
            ReviewLabel.item_id.in_(labelled), ~ReviewLabel.adjudication
        )
        return list((await self.session.execute(stmt)).all())

    async def week_verdicts_by_queue(self, start: datetime, end: datetime) -> list[AnyRow]:
        """(queue name, item_id, verdict) of every label of the items labelled in [start, end),
        by queue (not adjudications)."""
        labelled = select(ReviewLabel.item_id).where(
            ReviewLabel.created_at >= start, ReviewLabel.created_at < end, ~ReviewLabel.adjudication
        )
        stmt = (
            select(ReviewQueue.name, ReviewLabel.item_id, ReviewLabel.verdict)
            .join_from(ReviewLabel, _items, _items.c.id == ReviewLabel.item_id)
            .join(ReviewQueue, ReviewQueue.id == _items.c.queue_id)
            .where(ReviewLabel.item_id.in_(labelled), ~ReviewLabel.adjudication)
        )
        return list((await self.session.execute(stmt)).all())

    async def week_decided(self, start: datetime, end: datetime) -> list[AnyRow]:
        """(model, verdict, thumbs up, thumbs down) of the items decided in [start, end)."""
        stmt = (
            select(
                Interaction.model,
                _items.c.verdict,
                func.count(Feedback.id).filter(Feedback.is_helpful),
                func.count(Feedback.id).filter(~Feedback.is_helpful),
            )
            .select_from(_items)
            .join(Interaction, Interaction.id == _items.c.interaction_id)
            .outerjoin(Feedback, Feedback.interaction_id == _items.c.interaction_id)
            .where(
                _items.c.decided_at >= start,
                _items.c.decided_at < end,
                _items.c.verdict.is_not(None),
            )
            .group_by(_items.c.id, Interaction.model, _items.c.verdict)
        )
        return list((await self.session.execute(stmt)).all())


class QueueWriter(QueueRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.writer = session

    async def create(self, values: dict[str, Any]) -> ReviewQueue | None:
        """The new queue, or None when its name is taken."""
        stmt = (
            insert(ReviewQueue)
            .values(id=new_id(), **values)
            .on_conflict_do_nothing(index_elements=[ReviewQueue.name])
            .returning(ReviewQueue)
        )
        return (await self.writer.execute(stmt)).scalar_one_or_none()

    async def update(self, queue_id: uuid.UUID, changes: dict[str, Any]) -> ReviewQueue | None:
        stmt = (
            update(ReviewQueue)
            .where(ReviewQueue.id == queue_id)
            .values(**changes, updated_at=func.now())
            .returning(ReviewQueue)
        )
        return (await self.writer.execute(stmt)).scalar_one_or_none()

    async def lock(self, queue_id: uuid.UUID) -> ReviewQueue | None:
        """The queue, locked until the transaction ends: its rules change one at a time."""
        stmt = select(ReviewQueue).where(ReviewQueue.id == queue_id).with_for_update()
        return (await self.writer.execute(stmt)).scalar_one_or_none()

    async def known(self, request_ids: Sequence[str]) -> list[str]:
        """The request_ids of `request_ids` that name a logged answer."""
        stmt = select(Interaction.request_id).where(Interaction.request_id.in_(request_ids))
        return list((await self.writer.execute(stmt)).scalars())

    async def add_by_request_id(self, queue_id: uuid.UUID, request_ids: Sequence[str]) -> int:
        if not request_ids:
            return 0
        rows = select(
            literal(queue_id, Uuid),
            _interactions.c.id,
            literal("manual", Text),
            *NOT_SAMPLED,
        ).where(_interactions.c.request_id.in_(request_ids))
        return int((await self.writer.execute(insert_items(rows))).scalar_one())

    async def add_by_filter(
        self, queue_id: uuid.UUID, where: ItemFilter, limit: int
    ) -> tuple[int, int]:
        """Add the answers of the newest `limit` that have a matching vote; (found, added)."""
        answers = (
            select(Feedback.interaction_id)
            .join_from(Feedback, Interaction, Interaction.id == Feedback.interaction_id)
            .where(*_vote_conditions(where))
            .group_by(Feedback.interaction_id)
            .order_by(func.max(Feedback.created_at).desc())
            .limit(limit)
            .cte("answers")
        )
        found = select(func.count()).select_from(answers).scalar_subquery()
        rows = select(
            literal(queue_id, Uuid), answers.c.interaction_id, literal("manual", Text), *NOT_SAMPLED
        )
        added, matched = (await self.writer.execute(insert_items(rows, found))).one()
        return int(matched), int(added)


async def lock_places_of_answers(session: AsyncSession, answers: ColumnElement[bool]) -> None:
    """Lock the review places of the interactions `answers` selects, for the rest of the
    transaction: their slots, then their items, as a claim does (review/claims.py), each in
    the order of its key. For a deletion of those interactions: it cascades to the items
    first and their slots after, and against a claim holding one of those slots and waiting
    for its item, PostgreSQL found a deadlock and refused one of the two."""
    of_answers = (
        select(_items.c.id)
        .join(_interactions, _interactions.c.id == _items.c.interaction_id)
        .where(answers)
    )
    slots = (
        select(_slots.c.item_id)
        .where(_slots.c.item_id.in_(of_answers))
        .order_by(_slots.c.item_id, _slots.c.slot)
        .with_for_update(of=_slots)
    )
    await session.execute(slots)
    items = (
        select(_items.c.id)
        .where(_items.c.id.in_(of_answers))
        .order_by(_items.c.id)
        .with_for_update(of=_items)
    )
    await session.execute(items)
