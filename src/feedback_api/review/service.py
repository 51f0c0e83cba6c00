"""Review rules: queues, adding answers, claims and labels, consensus views (no SQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from feedback_api.auth.reviewers import Reviewer
from feedback_api.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from feedback_api.interactions.schemas import InteractionOut
from feedback_api.kit.models import AnyRow
from feedback_api.kit.pagination import decode_cursor, encode_cursor
from feedback_api.reasons.repository import ReasonSetReader
from feedback_api.reasons.service import ReasonSets
from feedback_api.review.agreement import (
    alpha_interval,
    alpha_nominal,
    pairs,
    percent_agreement,
    votes_vs_reviews,
)
from feedback_api.review.labels import LabelRepository, version_of
from feedback_api.review.models import ReviewLabel, ReviewQueue
from feedback_api.review.repository import (
    ANSWER_PREFIX,
    INTERACTION_COLUMNS,
    QueueRepository,
    QueueWriter,
)
from feedback_api.review.schemas import (
    Agreement,
    Consensus,
    ItemDetail,
    ItemOut,
    ItemPage,
    ItemsAdd,
    ItemsAdded,
    LabelHistory,
    LabelIn,
    LabelOut,
    LabelVersion,
    PairAgreement,
    QueueCreate,
    QueueOut,
    QueueProgress,
    QueueUpdate,
    ReviewerAgreement,
    VotesVsReviews,
)

STATUSES = ("pending", "in_review", "done", "needs_adjudication")
_INTERACTION_FIELDS = [column.name for column in INTERACTION_COLUMNS]


def interaction_of(row: AnyRow, prefix: str = "") -> InteractionOut:
    """The answer of a row holding its columns, each named `prefix` + the column's name."""
    mapping = row._mapping
    return InteractionOut.model_validate(
        {name: mapping[prefix + name] for name in _INTERACTION_FIELDS}
    )


def label_out(label: ReviewLabel | dict[str, Any]) -> LabelOut:
    if isinstance(label, dict):
        return LabelOut.model_validate(label)
    return LabelOut.model_validate(label, from_attributes=True)


def consensus_reasons(labels: Sequence[LabelOut], verdict: str | None) -> list[str]:
    """Reasons named by more than half the labels with the verdict; an adjudication's own."""
    for label in labels:
        if label.adjudication:
            return list(label.reasons)
    agreeing = [label for label in labels if label.verdict == verdict]
    counts = Counter(reason for label in agreeing for reason in label.reasons)
    return [reason for reason, n in counts.items() if n * 2 > len(agreeing)]


class QueueReader:
    """What read keys see: queues with progress, items with their labels and consensus."""

    def __init__(self, repository: QueueRepository) -> None:
        self.repository = repository

    async def queue(self, queue_id: uuid.UUID) -> ReviewQueue:
        queue = await self.repository.get(queue_id)
        if queue is None:
            raise NotFound(f"no review queue {queue_id}; GET /v1/review/queues lists them")
        return queue

    async def with_progress(self, queues: Sequence[ReviewQueue]) -> list[QueueOut]:
        items, labels = await self.repository.progress([q.id for q in queues])
        by_status: dict[uuid.UUID, dict[str, int]] = {
            q.id: dict.fromkeys(STATUSES, 0) for q in queues
        }
        for queue_id, status, count in items:
            by_status[queue_id][status] = int(count)
        per_reviewer: dict[uuid.UUID, dict[str, int]] = {q.id: {} for q in queues}
        for queue_id, reviewer, count in labels:
            per_reviewer[queue_id][reviewer] = int(count)
        return [
            QueueOut.model_validate(
                {
                    **{k: getattr(q, k) for k in QueueOut.model_fields if k != "progress"},
                    "progress": QueueProgress.model_validate(
                        {"items": by_status[q.id], "labels": per_reviewer[q.id]}
                    ),
                }
            )
            for q in queues
        ]

    async def get(self, queue_id: uuid.UUID) -> QueueOut:
        [out] = await self.with_progress([await self.queue(queue_id)])
        return out

    async def list(self) -> list[QueueOut]:
        return await self.with_progress(await self.repository.all())

    async def item(self, item_id: uuid.UUID) -> ItemDetail:
        row = await self.repository.item(item_id)
        if row is None:
            raise NotFound(
                f"no review item {item_id}; GET /v1/review/queues/{{id}}/items lists them"
            )
        labels = [label_out(label) for label in await self.repository.labels([item_id])]
        consensus = Consensus(
            verdict=row.verdict,
            method=row.consensus,
            decided_at=row.decided_at,
            reasons=consensus_reasons(labels, row.verdict) if row.verdict else [],
        )
        return ItemDetail.model_validate(
            {
                **_item_fields(row),
                "interaction": interaction_of(row, ANSWER_PREFIX),
                "labels": labels,
                "consensus": consensus,
            }
        )

    async def items(
        self, queue_id: uuid.UUID, status: str | None, limit: int, cursor: str | None
    ) -> ItemPage:
        await self.queue(queue_id)
        after = decode_cursor(cursor) if cursor else None
        rows = await self.repository.items(queue_id, status, limit, after)
        next_cursor = (
            encode_cursor(rows[-1].created_at, rows[-1].id) if len(rows) == limit else None
        )
        return ItemPage(
            items=[ItemOut.model_validate(_item_fields(r)) for r in rows], next_cursor=next_cursor
        )

    async def agreement(self, queue_id: uuid.UUID) -> Agreement:
        await self.queue(queue_id)
        verdicts = await self.repository.verdicts(queue_id)
        declines = await self.repository.declines(queue_id)
        decided = await self.repository.decided(queue_id)
        # A thousand resamples of a large queue: off the event loop.
        return await asyncio.to_thread(agreement_of, verdicts, declines, decided)

    async def label_history(self, label_id: uuid.UUID, only_by: str | None = None) -> LabelHistory:
        """Every version of a label; Forbidden unless it is `only_by`'s, when given."""
        label = await self.repository.label(label_id)
        if label is None:
            raise NotFound(f"no review label {label_id}")
        if only_by is not None and label.reviewer != only_by:
            raise Forbidden(
                f"label {label_id} is another reviewer's; a review key reads its own labels' "
                "history only"
            )
        versions = [
            LabelVersion.model_validate(v, from_attributes=True)
            for v in await self.repository.label_versions(label_id)
        ]
        current = LabelVersion.model_validate(version_of(label))
        return LabelHistory(label_id=label_id, versions=[*versions, current])


def agreement_of(
    verdicts: Sequence[AnyRow], declines: Sequence[AnyRow], decided: Sequence[AnyRow]
) -> Agreement:
    """The agreement figures of a queue from its labels, declines and decided items."""
    by_item: dict[Any, dict[str, str]] = {}
    for item_id, reviewer, verdict in verdicts:
        by_item.setdefault(item_id, {})[reviewer] = verdict
    units = [list(labels.values()) for labels in by_item.values()]
    low, high = alpha_interval(units)
    consensus = {row[0]: row[1] for row in decided}
    labels, matched, on_decided = Counter[str](), Counter[str](), Counter[str]()
    for item_id, reviewer, verdict in verdicts:
        labels[reviewer] += 1
        if item_id in consensus:
            on_decided[reviewer] += 1
            matched[reviewer] += verdict == consensus[item_id]
    declined = {reviewer: int(n) for reviewer, n in declines}
    reviewers = [
        ReviewerAgreement(
            reviewer=name,
            labels=labels[name],
            declined=declined.get(name, 0),
            agreement_with_consensus=matched[name] / on_decided[name] if on_decided[name] else None,
        )
        for name in sorted(set(labels) | set(declined))
    ]
    return Agreement(
        items_with_2_or_more_labels=sum(len(unit) >= 2 for unit in units),
        krippendorff_alpha=alpha_nominal(units),
        alpha_ci_low=low,
        alpha_ci_high=high,
        percent_agreement=percent_agreement(units),
        pairs=[PairAgreement.model_validate(pair, from_attributes=True) for pair in pairs(by_item)],
        reviewers=reviewers,
        votes_vs_reviews=VotesVsReviews.model_validate(
            votes_vs_reviews([(verdict, up, down) for _, verdict, up, down in decided])
        ),
    )


def _item_fields(row: AnyRow) -> dict[str, Any]:
    mapping = row._mapping
    return {
        "id": mapping["id"],
        "queue_id": mapping["queue_id"],
        "interaction_id": mapping["interaction_id"],
        "request_id": mapping["request_id"],
        "status": mapping["status"],
        "source": mapping["source"],
        "rule_id": mapping["rule_id"],
        "inclusion_probability": mapping["inclusion_probability"],
        "labels_count": mapping["labels"],
        "created_at": mapping["created_at"],
    }


class QueueService(QueueReader):
    """Managing queues, labels and adjudications (working through a queue: leases.py)."""

    def __init__(
        self, repository: QueueWriter, labels: LabelRepository, default_reasons: Sequence[str]
    ) -> None:
        super().__init__(repository)
        self.writer = repository
        self.labels = labels
        self.reasons = ReasonSets(ReasonSetReader(repository.writer), default_reasons)

    async def create(self, payload: QueueCreate) -> QueueOut:
        queue = await self.writer.create(payload.model_dump())
        if queue is None:
            raise Conflict(
                f"a review queue named {payload.name!r} exists already; choose another name"
            )
        [out] = await self.with_progress([queue])
        return out

    async def update(self, queue_id: uuid.UUID, payload: QueueUpdate) -> QueueOut:
        changes = payload.model_dump(exclude_none=True)
        queue = (
            await self.writer.update(queue_id, changes) if changes else await self.queue(queue_id)
        )
        if queue is None:
            raise NotFound(f"no review queue {queue_id}; GET /v1/review/queues lists them")
        [out] = await self.with_progress([queue])
        return out

    async def add(self, queue_id: uuid.UUID, payload: ItemsAdd) -> ItemsAdded:
        await self.queue(queue_id)
        if payload.request_ids is not None:
            wanted = list(dict.fromkeys(payload.request_ids))
            known = set(await self.writer.known(wanted))
            added = await self.writer.add_by_request_id(queue_id, sorted(known))
            unknown = [r for r in wanted if r not in known]
            return ItemsAdded(added=added, already_queued=len(known) - added, unknown=unknown)
        assert payload.filter is not None  # the schema asks for one of the two
        if payload.filter.reason is not None:
            # A reason no vote it looks at may carry: it would add nothing, whatever the votes.
            await self.reasons.check_filter(
                "filter.reason", payload.filter.project, payload.filter.reason
            )
        found, added = await self.writer.add_by_filter(queue_id, payload.filter, payload.limit)
        return ItemsAdded(added=added, already_queued=found - added, unknown=[])

    async def _check_reasons(self, project: str | None, reasons: Sequence[str]) -> None:
        await self.reasons.check(project, reasons)

    async def edit_label(
        self, label_id: uuid.UUID, payload: LabelIn, reviewer: Reviewer
    ) -> LabelOut:
        item_id = await self.labels.item_of(label_id)
        if item_id is None:
            raise NotFound(f"no review label {label_id}")
        # The item before the label: the order an adjudication locks them in (it rewrites
        # the item's adjudication label), so an edit and an adjudication of one item wait
        # for each other instead of deadlocking.
        await self.labels.lock_item(item_id)
        label = await self.labels.lock_label(label_id)
        if label is None:  # gone meanwhile
            raise NotFound(f"no review label {label_id}")
        if label.reviewer != reviewer.name and not reviewer.admin:
            raise Forbidden(
                f"label {label_id} is {label.reviewer}'s; only they or an admin may change it"
            )
        item = await self.writer.item(label.item_id)
        queue = await self.queue(item.queue_id) if item is not None else None
        await self._check_reasons(queue.project if queue else None, payload.reasons)
        return label_out(
            await self.labels.rewrite_label(label, payload.model_dump(), reviewer.name)
        )

    async def adjudicate(
        self, item_id: uuid.UUID, payload: LabelIn, reviewer: Reviewer
    ) -> ItemDetail:
        item = await self.labels.lock_item(item_id)
        if item is None:
            raise NotFound(f"no review item {item_id}")
        if item.state == "open":
            raise Conflict(
                f"item {item_id} has {item.labels} of its labels so far; adjudicate it once "
                "they are all in: a tie (status needs_adjudication), or a consensus to overrule "
                "(status done)"
            )
        queue = await self.queue(item.queue_id)
        await self._check_reasons(queue.project, payload.reasons)
        existing = await self.labels.adjudication(item_id)
        if existing is None:
            await self.labels.adjudicate(item_id, payload.model_dump(), reviewer.name)
        else:
            await self.labels.rewrite_label(existing, payload.model_dump(), reviewer.name)
        return await self.item(item_id)


def check_status(status: str | None) -> str | None:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    return status
