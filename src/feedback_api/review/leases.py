"""Working through a queue (review): claims and what a lease does next, each request one
statement of claims.py; the reads that say why a lease's write was refused (no SQL)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from feedback_api.auth.reviewers import Reviewer
from feedback_api.exceptions import Conflict, Forbidden, NotFound
from feedback_api.reasons.repository import ReasonSetReader
from feedback_api.reasons.service import ReasonSets, refusal
from feedback_api.review.claims import ClaimRepository
from feedback_api.review.repository import QueueRepository
from feedback_api.review.schemas import Claim, LabelOut, Lease, SubmitIn, VoteOut
from feedback_api.review.service import interaction_of, label_out


class LeaseService:
    """Claims, submits, releases, declines and heartbeats of one reviewer's leases."""

    def __init__(
        self, claims: ClaimRepository, queues: QueueRepository, default_reasons: Sequence[str]
    ) -> None:
        self.claims = claims
        self.queues = queues
        self.reasons = ReasonSets(ReasonSetReader(claims.session), default_reasons)

    async def claim(self, queue_id: uuid.UUID, reviewer: Reviewer) -> tuple[Claim, bool] | None:
        """The next item for the reviewer and whether the queue is blind; None: nothing
        left for them. A closed queue is a Conflict: "nothing left" would tell a client to
        look again later, and a closed queue hands nothing out until it is reopened."""
        claimed = await self.claims.claim(queue_id, reviewer.name)
        if claimed is None:
            queue = await self.queues.get(queue_id)
            if queue is None:
                raise NotFound(f"no review queue {queue_id}; GET /v1/review/queues lists them")
            if queue.closed:
                raise Conflict(
                    f"review queue {queue.name!r} is closed and hands out no answers; "
                    f'PATCH /v1/review/queues/{queue_id} with {{"closed": false}} reopens it'
                )
            return None
        assignment_id, token, row = claimed
        interaction = interaction_of(row)
        votes = labels = None
        if not row.blind:
            votes = [
                VoteOut.model_validate(v, from_attributes=True)
                for v in await self.claims.votes(interaction.id)
            ]
            labels = [label_out(label) for label in await self.queues.labels([row.item_id])]
        claim = Claim(
            assignment_id=assignment_id,
            lease_token=token,
            leased_until=row.leased_until,
            item_id=row.item_id,
            interaction=interaction,
            votes=votes,
            labels=labels,
            label_set=list(self.reasons.of(row.own_reasons)),
            instructions=row.instructions,
        )
        return claim, row.blind

    async def _refused(
        self,
        assignment_id: uuid.UUID,
        reviewer: Reviewer,
        what: str,
        reasons: Sequence[str] = (),
    ) -> Exception:
        """Why a lease's write found no current lease (or a reason outside the label set):
        the error to answer with."""
        row = await self.claims.assignment(assignment_id)
        if row is None:
            return NotFound(f"no review assignment {assignment_id}; claim an item first")
        if reasons:
            allowed = await self.reasons.allowed(row.project)
            if not set(reasons) <= set(allowed):
                return refusal(row.project, reasons, allowed)
        if row.reviewer != reviewer.name:
            return Forbidden(f"assignment {assignment_id} is {row.reviewer}'s, not yours")
        if row.state == "submitted":
            return Conflict(
                f"assignment {assignment_id} was submitted already; claim the next item"
            )
        if row.state in ("released", "declined"):
            return Conflict(f"assignment {assignment_id} was {row.state}; claim again to {what}")
        if not row.current and row.holder_now == reviewer.name:
            # Their own place again, by a later claim: say which assignment holds it.
            return Conflict(
                f"the lease of assignment {assignment_id} ran out and you labelled its place "
                f"since, as assignment {row.assignment_now}; nothing was stored: claim the "
                "next item"
                if row.labelled_now
                else f"the lease of assignment {assignment_id} ran out and you claimed its "
                f"place again as assignment {row.assignment_now}; nothing was stored: send "
                "that assignment and its lease_token"
            )
        if not row.current:
            return Conflict(
                f"the lease of assignment {assignment_id} ran out and someone else took its "
                f"place; nothing was stored: claim again to {what}"
            )
        return Conflict(
            f"that lease_token is not assignment {assignment_id}'s; send the lease_token its "
            "claim answered with"
        )

    async def submit(
        self, assignment_id: uuid.UUID, payload: SubmitIn, reviewer: Reviewer
    ) -> LabelOut:
        label = payload.model_dump(exclude={"lease_token"})
        stored = await self.claims.submit(
            assignment_id, payload.lease_token, reviewer.name, label, self.reasons.default
        )
        if stored is None:
            raise await self._refused(assignment_id, reviewer, "label an item", payload.reasons)
        return label_out(stored)

    async def release(self, assignment_id: uuid.UUID, token: uuid.UUID, reviewer: Reviewer) -> None:
        if not await self.claims.release(assignment_id, token, reviewer.name):
            raise await self._refused(assignment_id, reviewer, "work on an item")

    async def decline(self, assignment_id: uuid.UUID, token: uuid.UUID, reviewer: Reviewer) -> None:
        if not await self.claims.decline(assignment_id, token, reviewer.name):
            raise await self._refused(assignment_id, reviewer, "work on an item")

    async def heartbeat(
        self, assignment_id: uuid.UUID, token: uuid.UUID, reviewer: Reviewer
    ) -> Lease:
        until: datetime | None = await self.claims.heartbeat(assignment_id, token, reviewer.name)
        if until is None:
            raise await self._refused(assignment_id, reviewer, "work on an item")
        return Lease(assignment_id=assignment_id, lease_token=token, leased_until=until)
