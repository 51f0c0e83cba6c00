"""Labels after their submit: edits (each old version kept) and adjudication, and how an
item's verdict counts decide its state and consensus (used by the submit too)."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, case, func, literal, null, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.review.models import ReviewItem, ReviewLabel, ReviewLabelVersion, ReviewQueue

_items = cast(Table, ReviewItem.__table__)
_queues = cast(Table, ReviewQueue.__table__)


def decided(
    correct: ColumnElement[Any], incorrect: ColumnElement[Any], needed: ColumnElement[Any]
) -> dict[str, ColumnElement[Any]]:
    """An item's state, verdict, consensus and decision time from its verdict counts.

    All labels in: all alike is `unanimous`, a strict majority is `majority`, a tie needs
    adjudication. Fewer labels than needed: open, no verdict.
    """
    complete = (correct + incorrect) >= needed
    verdict = case(
        (~complete, null()),
        (correct > incorrect, literal("correct")),
        (incorrect > correct, literal("incorrect")),
        else_=null(),
    )
    consensus = case(
        (~complete, null()),
        (or_(correct == 0, incorrect == 0), literal("unanimous")),
        (correct != incorrect, literal("majority")),
        else_=null(),
    )
    state = case(
        (~complete, literal("open")),
        (correct == incorrect, literal("needs_adjudication")),
        else_=literal("done"),
    )
    return {
        "state": state,
        "verdict": verdict,
        "consensus": consensus,
        "decided_at": case((and_(complete, correct != incorrect), func.now()), else_=null()),
    }


def needed(item: Any) -> ColumnElement[Any]:
    """How many labels the item needs: its queue's reviewers_per_item."""
    return (
        select(_queues.c.reviewers_per_item)
        .where(_queues.c.id == item.c.queue_id)
        .scalar_subquery()
    )


def version_of(label: ReviewLabel) -> dict[str, Any]:
    """A label's contents as one version of it (review_label_versions' columns)."""
    return {
        "version": label.version,
        "verdict": label.verdict,
        "reasons": label.reasons,
        "correction": label.correction,
        "note": label.note,
        "written_by": label.written_by,
        "written_at": label.updated_at,
    }


class LabelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def item_of(self, label_id: uuid.UUID) -> uuid.UUID | None:
        """The item a label is of (which never changes), read without a lock."""
        stmt = select(ReviewLabel.item_id).where(ReviewLabel.id == label_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def lock_label(self, label_id: uuid.UUID) -> ReviewLabel | None:
        stmt = select(ReviewLabel).where(ReviewLabel.id == label_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def rewrite_label(
        self, label: ReviewLabel, changes: dict[str, Any], writer: str
    ) -> ReviewLabel:
        """Keep the label as it is as a version, then change it; recount its item's
        verdicts if the verdict changed (an adjudication sets the item's verdict)."""
        before, adjudication = label.verdict, label.adjudication
        await self.session.execute(
            insert(ReviewLabelVersion).values(label_id=label.id, **version_of(label))
        )
        stmt = (
            update(ReviewLabel)
            .where(ReviewLabel.id == label.id)
            .values(
                **changes,
                version=ReviewLabel.version + 1,
                written_by=writer,
                updated_at=func.now(),
            )
            .returning(ReviewLabel)
        )
        new = (await self.session.execute(stmt)).scalar_one()
        if adjudication:
            await self._adjudicated(new.item_id, new.verdict)
        elif new.verdict != before:
            moved = 1 if new.verdict == "correct" else -1
            correct = _items.c.correct + moved
            incorrect = _items.c.incorrect - moved
            values: dict[str, Any] = {"correct": correct, "incorrect": incorrect}
            adjudicated = _items.c.consensus == "adjudicated"
            for name, value in decided(correct, incorrect, needed(_items)).items():
                # An adjudicated item keeps the adjudication's decision.
                values[name] = case((adjudicated, _items.c[name]), else_=value)
            await self.session.execute(
                update(_items).where(_items.c.id == new.item_id).values(**values)
            )
        return new

    async def lock_item(self, item_id: uuid.UUID) -> ReviewItem | None:
        stmt = select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def adjudication(self, item_id: uuid.UUID) -> ReviewLabel | None:
        stmt = select(ReviewLabel).where(ReviewLabel.item_id == item_id, ReviewLabel.adjudication)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def adjudicate(
        self, item_id: uuid.UUID, values: dict[str, Any], writer: str
    ) -> ReviewLabel:
        stmt = (
            insert(ReviewLabel)
            .values(
                id=uuid.uuid4(),
                item_id=item_id,
                reviewer=writer,
                written_by=writer,
                adjudication=True,
                **values,
            )
            .returning(ReviewLabel)
        )
        label = (await self.session.execute(stmt)).scalar_one()
        await self._adjudicated(item_id, label.verdict)
        return label

    async def _adjudicated(self, item_id: uuid.UUID, verdict: str) -> None:
        await self.session.execute(
            update(_items)
            .where(_items.c.id == item_id)
            .values(state="done", verdict=verdict, consensus="adjudicated", decided_at=func.now())
        )
