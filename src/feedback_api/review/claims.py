"""The claim and what a lease does next (submit, release, decline, heartbeat): each one
statement, decided by the database from the rows it locks (label edits and adjudication:
labels.py).

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

Each statement is the whole of its request's work on the database: the claim reads its
queue (closed, lease, instructions, label set) and the submit checks the reasons against
the label set in the statement itself, so a request is one round trip, and a request
whose statement writes nothing wrote nothing (they run in autocommit: kit.db).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Interval,
    Table,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal_column,
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
from feedback_api.kit.statements import frozen
from feedback_api.reasons.models import ProjectReasons
from feedback_api.review.labels import decided, needed
from feedback_api.review.models import (
    ReviewAssignment,
    ReviewItem,
    ReviewLabel,
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
_reasons = cast(Table, ProjectReasons.__table__)

_REVIEWER = bindparam("by_reviewer", type_=Text)
_ASSIGNMENT = bindparam("the_assignment", type_=Uuid)
_TOKEN = bindparam("the_token", type_=Uuid)
_QUEUE = bindparam("the_queue", type_=Uuid)


# Written into the SQL, not bound: the statements are prepared once per connection, and a
# plan made for any parameter values (PostgreSQL's generic plan, after five runs) can use
# the partial index of open items only where `state = 'open'` is in the text.
_OPEN = literal_column("'open'", Text)
_ONE: ColumnElement[int] = literal_column("1", Integer)


def _seconds(value: Any) -> ColumnElement[Any]:
    second: ColumnElement[Any] = literal_column("interval '1 second'", Interval)
    product: ColumnElement[Any] = value * second
    return product


def _claimable(*columns: Any) -> Any:
    """The queue's slots the reviewer may claim (as `claim_statement` says), as the rows
    are: `columns` of each, with no lock taken."""
    return (
        select(*columns)
        .join_from(_items, _slots, _slots.c.item_id == _items.c.id)
        .join(_queues, _queues.c.id == _items.c.queue_id)
        .where(
            _items.c.queue_id == _QUEUE,
            ~_queues.c.closed,
            _items.c.state == _OPEN,
            ~_slots.c.labelled,
            or_(_slots.c.holder.is_(None), _slots.c.leased_until < func.now()),
            or_(~(any_(_items.c.reviewers) == _REVIEWER), _slots.c.holder == _REVIEWER),
        )
    )


def claim_statement() -> Any:
    """Lease one slot of the queue's next item to the reviewer, or no row.

    The next item: open, not labelled, declined or held by the reviewer (but their own slot
    whose lease ran out is theirs again), with a slot free or whose lease ran out; items
    with labels first, then oldest first; within an item a free slot before one whose
    lease ran out (its holder may still submit until someone takes it).
    """
    pick = (
        _claimable(
            _slots.c.item_id,
            _slots.c.slot,
            _slots.c.holder.label("previous"),
            _queues.c.lease_seconds,
        )
        .order_by(
            _items.c.labels.desc(),
            _items.c.created_at,
            _items.c.interaction_id,
            _slots.c.holder.is_not(None),
            _slots.c.slot,
        )
        .limit(_ONE)
        .with_for_update(skip_locked=True, key_share=True, of=_slots)
        .cte("pick")
    )
    # The item first: its UPDATE waits for a claim or submit that holds the row, then
    # checks these conditions again on the row as that one left it.
    held = (
        update(_items)
        .where(
            _items.c.id == pick.c.item_id,
            _items.c.state == _OPEN,
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
            leased_until=func.now() + _seconds(pick.c.lease_seconds),
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
    # With it what the claim's answer shows of the queue: its instructions, whether it is
    # blind, and its project's own label set (null: the default set).
    return (
        select(
            pick.c.item_id.label("picked"),
            held.c.id.label("item_id"),
            taken.c.leased_until,
            *INTERACTION_COLUMNS,
            _queues.c.instructions,
            _queues.c.blind,
            _reasons.c.reasons.label("own_reasons"),
        )
        .select_from(pick)
        .join(_queues, _queues.c.id == _QUEUE)
        .outerjoin(_reasons, _reasons.c.project == _queues.c.project)
        .outerjoin(taken, true())
        .outerjoin(held, true())
        .outerjoin(_interactions, _interactions.c.id == held.c.interaction_id)
        .add_cte(leased)
    )


CLAIM = frozen(claim_statement())
# A claim refused on its item's re-check (the same reviewer took the item in another tab
# meanwhile, or another reviewer's label decided it) runs again with the rows as they are
# now: each refusal means a claim or a submit on that item committed since this one looked.
# One reviewer claiming from 30 tabs at once can be refused once per tab: 5 attempts left 1
# claim in 30 answered "nothing left" while items remained.
CLAIM_ATTEMPTS = 64
# Whether the queue holds a slot the reviewer may claim, as committed: a claim that found
# none it could lock asks, and when every one left is locked by statements under way (other
# claims, whose item's re-check may still refuse them and leave the slot free) it tries
# again after CLAIM_PAUSE seconds instead of answering "nothing left".
CLAIMABLE = frozen(select(_claimable(_ONE).exists()))
CLAIM_PAUSE = 0.005


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


def _reasons_allowed(reasons: Any) -> ColumnElement[bool]:
    """No reasons, or only reasons of the label set of the slot's queue's project (its own
    set, else `default_reasons`): the check of ReasonSets, in the statement."""
    own = (
        select(_reasons.c.reasons)
        .join_from(_items, _queues, _queues.c.id == _items.c.queue_id)
        .join(_reasons, _reasons.c.project == _queues.c.project)
        .where(_items.c.id == _slots.c.item_id)
        .scalar_subquery()
    )
    allowed = func.coalesce(own, bindparam("default_reasons", type_=ARRAY(Text)))
    return or_(func.cardinality(reasons) == 0, reasons.contained_by(allowed))


def submit_statement() -> Any:
    """Store the label of a current lease and count it on its item, deciding the consensus
    when it is the last one needed; no row when the lease is not current or a reason is not
    in the label set (nothing written)."""
    verdict = bindparam("new_verdict", type_=Text)
    reasons = bindparam("new_reasons", type_=ARRAY(Text))
    done = (
        update(_slots)
        .where(*_current(), _reasons_allowed(reasons))
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
                reasons,
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
            **decided(correct, incorrect, needed(_items)),
        )
        .cte("counted")
    )
    return select(*label.c).add_cte(ended).add_cte(counted)


SUBMIT = frozen(submit_statement())


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


RELEASE = frozen(_free("released", keep_reviewer=False))
DECLINE = frozen(_free("declined", keep_reviewer=True))


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


def _lease_params(assignment_id: uuid.UUID, token: uuid.UUID, reviewer: str) -> dict[str, Any]:
    # Bound parameters named unlike any column: an UPDATE takes a parameter named like one
    # of its table's columns as a value to SET.
    return {"the_assignment": assignment_id, "the_token": token, "by_reviewer": reviewer}


class ClaimRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, queue_id: uuid.UUID, reviewer: str
    ) -> tuple[uuid.UUID, uuid.UUID, AnyRow] | None:
        """(assignment id, lease token, the claimed row with its queue's instructions, blind
        and own label set), or None: nothing left for them, the queue closed or unknown."""
        assignment_id, token = uuid.uuid4(), uuid.uuid4()
        params = {**_lease_params(assignment_id, token, reviewer), "the_queue": queue_id}
        for _ in range(CLAIM_ATTEMPTS):
            row = (await self.session.execute(CLAIM, params)).one_or_none()
            if row is None:
                if not await self.session.scalar(CLAIMABLE, params):
                    return None
                await asyncio.sleep(CLAIM_PAUSE)  # every slot left is locked meanwhile
            elif row.item_id is not None:
                return assignment_id, token, row
        return None

    async def assignment(self, assignment_id: uuid.UUID) -> AnyRow | None:
        """An assignment with its queue's settings, whether it holds its slot (`current`),
        and who holds the slot now by which assignment (`holder_now`, `assignment_now`,
        `labelled_now`: that assignment's label is in)."""
        stmt = (
            select(
                _assignments,
                _items.c.queue_id,
                _queues.c.project,
                (_slots.c.assignment_id == _assignments.c.id).label("current"),
                _slots.c.holder.label("holder_now"),
                _slots.c.assignment_id.label("assignment_now"),
                _slots.c.labelled.label("labelled_now"),
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
        default_reasons: Sequence[str],
    ) -> dict[str, Any] | None:
        """The stored label (by column), or None when the lease is not current or a reason
        is not in the label set of the queue's project (`default_reasons` without its own)."""
        params = {
            **_lease_params(assignment_id, token, reviewer),
            **{f"new_{name}": value for name, value in label.items()},
            "new_label": uuid.uuid4(),
            "default_reasons": list(default_reasons),
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
