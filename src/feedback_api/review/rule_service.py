"""Sample rules and triggers: what a rule may be, and their views (no SQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from feedback_api.exceptions import Conflict, NotFound
from feedback_api.reasons.service import ReasonSets
from feedback_api.review.models import ReviewRule
from feedback_api.review.repository import QueueRepository, QueueWriter
from feedback_api.review.rules import RuleReader, RuleRepository
from feedback_api.review.schemas import RuleCreate, RuleOut, VoteTrigger

FILTERS = ("model", "intent", "project")


def rule_out(rule: ReviewRule) -> RuleOut:
    on_vote = None
    if rule.kind == "trigger":
        on_vote = VoteTrigger(
            is_helpful=rule.vote_is_helpful,
            reason=rule.vote_reason,
            with_comment=rule.vote_with_comment,
        )
    return RuleOut.model_validate(
        {
            **{name: getattr(rule, name) for name in RuleOut.model_fields if name != "on_vote"},
            "on_vote": on_vote,
        }
    )


def overlaps(rule: ReviewRule, values: dict[str, object]) -> bool:
    """Whether an answer could be in both samples: filters that allow one answer, over
    times that meet. Two samples of one queue never overlap, so each sampled item has one
    rule and one inclusion probability."""
    for name in FILTERS:
        mine, theirs = values.get(name), getattr(rule, name)
        if mine is not None and theirs is not None and mine != theirs:
            return False
    since = values["since"]
    assert isinstance(since, datetime)
    return rule.stopped_at is None or rule.stopped_at > since


class RuleService:
    def __init__(self, rules: RuleReader, queues: QueueRepository, label_sets: ReasonSets) -> None:
        self.rules = rules
        self.queues = queues
        self.label_sets = label_sets  # a trigger's reason is one of theirs

    async def _queue(self, queue_id: uuid.UUID, *, lock: bool = False) -> None:
        if lock and isinstance(self.queues, QueueWriter):
            found = await self.queues.lock(queue_id)
        else:
            found = await self.queues.get(queue_id)
        if found is None:
            raise NotFound(f"no review queue {queue_id}; GET /v1/review/queues lists them")

    async def list(self, queue_id: uuid.UUID) -> list[RuleOut]:
        await self._queue(queue_id)
        return [rule_out(rule) for rule in await self.rules.of_queue(queue_id)]

    async def create(self, queue_id: uuid.UUID, payload: RuleCreate) -> RuleOut:
        assert isinstance(self.rules, RuleRepository)
        # Locked: two rules added at once are checked against each other.
        await self._queue(queue_id, lock=True)
        values: dict[str, object] = {
            "queue_id": queue_id,
            "since": payload.since or datetime.now(UTC),
            **{name: getattr(payload, name) for name in FILTERS},
        }
        if payload.on_vote is not None:
            if payload.on_vote.reason is not None:
                # A reason that no vote the rule looks at may carry: it would never fire.
                await self.label_sets.check_filter(
                    "on_vote.reason", payload.project, payload.on_vote.reason
                )
            values.update(
                kind="trigger",
                vote_is_helpful=payload.on_vote.is_helpful,
                vote_reason=payload.on_vote.reason,
                vote_with_comment=payload.on_vote.with_comment,
            )
        else:
            values.update(kind="sample", sample_rate=payload.sample_rate)
            for rule in await self.rules.of_queue(queue_id):
                if rule.kind == "sample" and overlaps(rule, values):
                    raise Conflict(
                        f"sample rule {rule.id} of this queue draws from the same answers; "
                        "an answer is drawn by one rule of a queue: stop that rule first "
                        "(DELETE it), narrow the filters, or use another queue"
                    )
        return rule_out(await self.rules.create(values))

    async def stop(self, queue_id: uuid.UUID, rule_id: uuid.UUID) -> RuleOut:
        assert isinstance(self.rules, RuleRepository)
        rule = await self.rules.stop(queue_id, rule_id)
        if rule is None:
            raise NotFound(f"queue {queue_id} has no rule {rule_id}")
        return rule_out(rule)
