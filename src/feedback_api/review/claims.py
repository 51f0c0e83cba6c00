"""The claim and what a lease does next (submit, release, decline, heartbeat), label edits
and adjudication: each decided by the database from the rows it locks.

An item's slots are rows. A claim locks one free slot (FOR NO KEY UPDATE SKIP LOCKED), then
writes the slot's item and the slot, in one statement: a slot is held by one reviewer at a
time, and what the claim checks of the item (open, who is on it already) is on the item's
row, which the claim writes too. Only the slot is skipped when locked: two reviewers
claiming one item's two slots, or one claiming while another submits on the item, each
take their slot, and the second to write the item waits for the first to commit (item
rows locked with SKIP LOCKED would hand the second a 204 while a slot is free). A claim
that read the rows before another committed finds them changed, and PostgreSQL checks its
conditions again on the new versions (READ COMMITTED's re-check of the rows it locks or
writes) instead of handing out the same place twice; when the item's re-check fails (the
same reviewer took another of its slots meanwhile) the statement says so and the claim
runs again. A submit counts its verdict on
the item's row (`correct = correct + 1`), so two last labels submitted at once both count,
and the second decides the consensus from both.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Float,
    Table,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.models import AnyRow
from feedback_api.review.models import (
    ReviewAssignment,
    ReviewItem,
    ReviewLabel,
    ReviewLabelVersion,
    ReviewQueue,
    ReviewSlot,
)
from feedback_api.review.repository import INTERACTION_COLUMNS

_items = cast(Table, ReviewItem.__table__)
_slots = cast(Table, ReviewSlot.__table__)
_queues = cast(Table, ReviewQueue.__table__)
_assignments = cast(Table, ReviewAssignment.__table__)
_labels = cast(Table, ReviewLabel.__table__)
_interactions = cast(Table, Interaction.__table__)

_REVIEWER = bindparam("by_reviewer", type_=Text)
_ASSIGNMENT = bindparam("the_assignment", type_=Uuid)
_TOKEN = bindparam("the_token", type_=Uuid)


def _seconds(value: Any) -> ColumnElement[Any]:
    return func.make_interval(0, 0, 0, 0, 0, 0, value)


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


def _needed(item: Any) -> ColumnElement[Any]:
    return (
        select(_queues.c.reviewers_per_item)
        .where(_queues.c.id == item.c.queue_id)
        .scalar_subquery()
    )


def claim_statement() -> Any:
    """Lease one slot of the queue's next item to the reviewer, or no row.

    The next item: open, not labelled, declined or held by the reviewer (but their own slot
    whose lease ran out is theirs again), with a slot free or whose lease ran out; items
    with labels first, then oldest first; within an item a free slot before one whose
    lease ran out (its holder may still submit until someone takes it).
    """
    lease = bindparam("lease_for", type_=Float)
    pick = (
        select(_slots.c.item_id, _slots.c.slot, _slots.c.holder.label("previous"))
        .join_from(_items, _slots, _slots.c.item_id == _items.c.id)
        .where(
            _items.c.queue_id == bindparam("the_queue", type_=Uuid),
            _items.c.state == "open",
            ~_slots.c.labelled,
            or_(_slots.c.holder.is_(None), _slots.c.leased_until < func.now()),
            or_(~(any_(_items.c.reviewers) == _REVIEWER), _slots.c.holder == _REVIEWER),
        )
        .order_by(
            _items.c.labels.desc(),
            _items.c.created_at,
            _items.c.interaction_id,
            _slots.c.holder.is_not(None),
            _slots.c.slot,
        )
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True, of=_slots)
        .cte("pick")
    )
    # The item first: its UPDATE waits for a claim or submit that holds the row, then
    # checks these conditions again on the row as that one left it.
    held = (
        update(_items)
        .where(
            _items.c.id == pick.c.item_id,
            _items.c.state == "open",
            or_(~(any_(_items.c.reviewers) == _REVIEWER), pick.c.previous == _REVIEWER),
        )
        .values(
            reviewers=func.array_append(
                func.array_remove(_items.c.reviewers, pick.c.previous), _REVIEWER
            )
        )
        .returning(_items.c.id, _items.c.interaction_id)
        .cte("held")
    )
    taken = (
        update(_slots)
        .where(_slots.c.item_id == held.c.id, _slots.c.slot == pick.c.slot)
        .values(
            holder=_REVIEWER,
            assignment_id=_ASSIGNMENT,
            lease_token=_TOKEN,
            leased_until=func.now() + _seconds(lease),
        )
        .returning(_slots.c.item_id, _slots.c.slot, _slots.c.leased_until)
        .cte("taken")
    )
    lease_row = insert(_assignments).from_select(
        ["id", "item_id", "slot", "reviewer", "lease_token"],
        select(_ASSIGNMENT, taken.c.item_id, taken.c.slot, _REVIEWER, _TOKEN),
    )
    leased = lease_row.cte("leased")
    # One row whenever a slot was picked: `item_id` null when the item's re-check refused.
    return (
        select(
            pick.c.item_id.label("picked"),
            held.c.id.label("item_id"),
            taken.c.leased_until,
            *INTERACTION_COLUMNS,
        )
        .select_from(pick)
        .outerjoin(taken, true())
        .outerjoin(held, true())
        .outerjoin(_interactions, _interactions.c.id == held.c.interaction_id)
        .add_cte(leased)
    )


CLAIM = claim_statement()
# A claim whose item was taken by the same reviewer in between (another tab) runs again,
# with the rows as they are now; bounded, as each further tab can cause one more.
CLAIM_ATTEMPTS = 5


def _current(*, reviewer: bool = True) -> list[ColumnElement[bool]]:
    """The slot the assignment holds now, with the token the claim gave: found through the
    assignment's row (its primary key), then the slot's."""
    conditions = [
        _assignments.c.id == _ASSIGNMENT,
        _slots.c.item_id == _assignments.c.item_id,
        _slots.c.slot == _assignments.c.slot,
        _slots.c.assignment_id == _ASSIGNMENT,
        _slots.c.lease_token == _TOKEN,
        ~_slots.c.labelled,
    ]
    if reviewer:
        conditions.append(_slots.c.holder == _REVIEWER)
    return conditions


def submit_statement() -> Any:
    """Store the label of a current lease and count it on its item, deciding the consensus
    when it is the last one needed; no row when the lease is not current."""
    verdict = bindparam("new_verdict", type_=Text)
    done = (
        update(_slots)
        .where(*_current())
        .values(labelled=True, leased_until=null())
        .returning(_slots.c.item_id)
        .cte("done")
    )
    label = (
        insert(_labels)
        .from_select(
            [
                "id",
                "item_id",
                "assignment_id",
                "reviewer",
                "verdict",
                "reasons",
                "correction",
                "note",
                "written_by",
            ],
            select(
                bindparam("new_label", type_=Uuid),
                done.c.item_id,
                _ASSIGNMENT,
                _REVIEWER,
                verdict,
                bindparam("new_reasons", type_=ARRAY(Text)),
                bindparam("new_correction", type_=Text),
                bindparam("new_note", type_=Text),
                _REVIEWER,
            ),
        )
        .returning(*_labels.c)
        .cte("label")
    )
    ended = (
        update(_assignments)
        .where(_assignments.c.id == _ASSIGNMENT, _assignments.c.item_id == done.c.item_id)
        .values(state="submitted", ended_at=func.now())
        .cte("ended")
    )
    is_correct = case((verdict == "correct", 1), else_=0)
    correct = _items.c.correct + is_correct
    incorrect = _items.c.incorrect + (1 - is_correct)
    counted = (
        update(_items)
        .where(_items.c.id == done.c.item_id)
        .values(
            labels=_items.c.labels + 1,
            correct=correct,
            incorrect=incorrect,
            **decided(correct, incorrect, _needed(_items)),
        )
        .cte("counted")
    )
    return select(*label.c).add_cte(ended).add_cte(counted)


SUBMIT = submit_statement()


def _free(state: str, *, keep_reviewer: bool) -> Any:
    """Give the slot of a current lease back (release) or skip it (decline, after which
    the item is never handed to this reviewer again); its item's id, or no row."""
    freed = (
        update(_slots)
        .where(*_current())
        .values(holder=null(), assignment_id=null(), lease_token=null(), leased_until=null())
        .returning(_slots.c.item_id)
        .cte("freed")
    )
    ended = (
        update(_assignments)
        .where(_assignments.c.id == _ASSIGNMENT, _assignments.c.item_id == freed.c.item_id)
        .values(state=state, ended_at=func.now())
        .cte("ended")
    )
    statement = select(freed.c.item_id).add_cte(ended)
    if not keep_reviewer:
        forgotten = (
            update(_items)
            .where(_items.c.id == freed.c.item_id)
            .values(reviewers=func.array_remove(_items.c.reviewers, _REVIEWER))
            .cte("forgotten")
        )
        statement = statement.add_cte(forgotten)
    return statement


RELEASE = _free("released", keep_reviewer=False)
DECLINE = _free("declined", keep_reviewer=True)


def _heartbeat() -> Any:
    lease = (
        select(_queues.c.lease_seconds)
        .join_from(_items, _queues, _queues.c.id == _items.c.queue_id)
        .where(_items.c.id == _slots.c.item_id)
        .scalar_subquery()
    )
    return (
        update(_slots)
        .where(*_current())
        .values(leased_until=func.now() + _seconds(lease))
        .returning(_slots.c.leased_until)
    )


HEARTBEAT = _heartbeat()


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


def _lease_params(assignment_id: uuid.UUID, token: uuid.UUID, reviewer: str) -> dict[str, Any]:
    # Bound parameters named unlike any column: an UPDATE takes a parameter named like one
    # of its table's columns as a value to SET.
    return {"the_assignment": assignment_id, "the_token": token, "by_reviewer": reviewer}


class ClaimRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, queue_id: uuid.UUID, reviewer: str, lease_seconds: int
    ) -> tuple[uuid.UUID, uuid.UUID, AnyRow] | None:
        """(assignment id, lease token, the claimed row), or None: nothing left for them."""
        assignment_id, token = uuid.uuid4(), uuid.uuid4()
        params = {
            **_lease_params(assignment_id, token, reviewer),
            "the_queue": queue_id,
            "lease_for": float(lease_seconds),
        }
        for _ in range(CLAIM_ATTEMPTS):
            row = (await self.session.execute(CLAIM, params)).one_or_none()
            if row is None:
                return None
            if row.item_id is not None:
                return assignment_id, token, row
        return None

    async def assignment(self, assignment_id: uuid.UUID) -> AnyRow | None:
        """An assignment with its slot's current holder and its queue's settings."""
        stmt = (
            select(
                _assignments,
                _items.c.queue_id,
                _queues.c.project,
                (_slots.c.assignment_id == _assignments.c.id).label("current"),
            )
            .join_from(_assignments, _items, _items.c.id == _assignments.c.item_id)
            .join(_queues, _queues.c.id == _items.c.queue_id)
            .join(
                _slots,
                and_(
                    _slots.c.item_id == _assignments.c.item_id,
                    _slots.c.slot == _assignments.c.slot,
                ),
            )
            .where(_assignments.c.id == assignment_id)
        )
        return (await self.session.execute(stmt)).one_or_none()

    async def submit(
        self,
        assignment_id: uuid.UUID,
        token: uuid.UUID,
        reviewer: str,
        label: dict[str, Any],
    ) -> dict[str, Any] | None:
        """The stored label (by column), or None when the lease is not current."""
        params = {
            **_lease_params(assignment_id, token, reviewer),
            **{f"new_{name}": value for name, value in label.items()},
            "new_label": uuid.uuid4(),
        }
        row = (await self.session.execute(SUBMIT, params)).one_or_none()
        return None if row is None else dict(row._mapping)

    async def release(self, assignment_id: uuid.UUID, token: uuid.UUID, reviewer: str) -> bool:
        params = _lease_params(assignment_id, token, reviewer)
        return (await self.session.execute(RELEASE, params)).first() is not None

    async def decline(self, assignment_id: uuid.UUID, token: uuid.UUID, reviewer: str) -> bool:
        params = _lease_params(assignment_id, token, reviewer)
        return (await self.session.execute(DECLINE, params)).first() is not None

    async def heartbeat(
        self, assignment_id: uuid.UUID, token: uuid.UUID, reviewer: str
    ) -> Any | None:
        params = _lease_params(assignment_id, token, reviewer)
        return (await self.session.execute(HEARTBEAT, params)).scalar_one_or_none()

    async def votes(self, interaction_id: uuid.UUID) -> list[Feedback]:
        stmt = (
            select(Feedback)
            .where(Feedback.interaction_id == interaction_id)
            .order_by(Feedback.created_at, Feedback.id)
        )
        return list((await self.session.execute(stmt)).scalars())

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
            for name, value in decided(correct, incorrect, _needed(_items)).items():
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
