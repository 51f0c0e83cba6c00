from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import asyncpg
from pydantic import ValidationError

from feedback_api.exceptions import AppError, NotFound, describe_validation_errors
from feedback_api.feedback.repository import (
    BulkVoteRepository,
    FeedbackFilter,
    FeedbackRepository,
    VoteEntry,
    VoteView,
)
from feedback_api.feedback.schemas import (
    BatchResult,
    FeedbackCreate,
    FeedbackOut,
    FeedbackPage,
    FeedbackUpdate,
)
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.service import (
    IngestRules,
    check_not_in_future,
    interaction_values,
)
from feedback_api.kit.driver_errors import concerns_one_write
from feedback_api.kit.group_commit import GroupCommit
from feedback_api.kit.pagination import decode_cursor, encode_cursor

logger = logging.getLogger(__name__)


VoteGroup = GroupCommit[VoteEntry, "tuple[VoteView, bool] | None"]


def vote_group(pool: asyncpg.Pool, *, acquire_timeout: float, writers: int) -> VoteGroup:
    """Votes from concurrent requests, written together by the one batch statement.

    `writers` at a time, each on a connection of `pool`; `acquire_timeout` makes a database
    that gives no connection a 503, not a hang.
    """

    # Every pooled connection may be broken at once (after an outage), and each is dropped
    # when found: one attempt more than there are connections reaches a fresh one.
    attempts = pool.get_max_size() + 1

    async def write(entries: Sequence[VoteEntry]) -> list[tuple[VoteView, bool] | None]:
        for _ in range(attempts - 1):
            try:
                return await _write_once(pool, acquire_timeout, entries)
            except asyncpg.InternalClientError:
                # A pooled connection that a server going away left mid-protocol: asyncpg
                # refuses to send on it, so nothing was sent. A fresh connection either
                # succeeds or meets the outage itself (a 503); a bug fails every time (a 500).
                continue
        return await _write_once(pool, acquire_timeout, entries)

    return GroupCommit(write, retry_alone=concerns_one_write, writers=writers)


async def _write_once(
    pool: asyncpg.Pool, acquire_timeout: float, entries: Sequence[VoteEntry]
) -> list[tuple[VoteView, bool] | None]:
    connection = await pool.acquire(timeout=acquire_timeout)
    try:
        return await BulkVoteRepository(connection).submit_many(entries)
    except asyncpg.InternalClientError:
        connection.terminate()  # never back into the pool
        raise
    finally:
        await _release(pool, connection)


async def _release(pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
    """Back to the pool; a connection that fails its reset there is dropped by asyncpg.

    That failure (a database that went down mid-protocol) comes after the statement, which
    has committed or failed by then: it must not change the answer to the write.
    """
    try:
        await pool.release(connection)
    except Exception:
        logger.warning("dropped a database connection after a write", exc_info=True)


def feedback_fields(row: Any) -> dict[str, Any]:
    """The representation of one stored vote, as FeedbackOut's fields."""
    return {
        "id": row.id,
        "interaction_id": row.interaction_id,
        "request_id": row.request_id,
        "rating": 1 if row.is_helpful else -1,
        "is_helpful": row.is_helpful,
        "stars": row.stars,
        "comment": row.comment,
        "query": row.query,
        "response": row.response,
        "model": row.model,
        "intent": row.intent,
        "project": row.project,
        "user_id": row.user_id,
        "session_id": row.session_id,
        "metadata": row.meta,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def feedback_out(row: Any) -> FeedbackOut:
    # Validating a dict (in pydantic's core) costs less than model_construct's Python.
    return FeedbackOut.model_validate(feedback_fields(row))


def _unknown_request_id(request_id: str | None) -> str:
    return (
        f"no interaction with request_id {request_id!r}: log it first with "
        "POST /v1/interactions, or send the feedback with query, response and model"
    )


def vote_entry(payload: FeedbackCreate, rules: IngestRules) -> VoteEntry:
    """The rows one vote writes, from a body validated once already."""
    check_not_in_future(payload.created_at, rules.max_future_skew_seconds)
    is_helpful, stars = payload.vote()
    vote: dict[str, Any] = {
        "is_helpful": is_helpful,
        "stars": stars,
        "comment": payload.comment,
        "user_id": rules.pseudonym(payload.user_id),
        "meta": payload.metadata or {},
    }
    if payload.created_at is not None:
        vote["created_at"] = payload.created_at
    if not payload.has_context:
        return VoteEntry(vote, request_id=payload.request_id)
    return VoteEntry(
        vote,
        interaction=interaction_values(payload, payload.request_id, payload.created_at, rules),
    )


def _vote_outcome(
    payload: FeedbackCreate, written: tuple[VoteView, bool] | None
) -> tuple[FeedbackOut, bool]:
    if written is None:
        raise NotFound(_unknown_request_id(payload.request_id))
    row, created = written
    return feedback_out(row), created


class VoteIntake:
    """Votes from many requests, committed together (group commit).

    Each call returns once the transaction holding its votes has committed; the votes of one
    call are always in one transaction.
    """

    def __init__(self, votes: VoteGroup, batches: VoteGroup, rules: IngestRules) -> None:
        # Apart: single votes gain from large groups (one writer), batches are large
        # already and gain from running side by side (docs/benchmarks.md).
        self.votes = votes
        self.batches = batches
        self.rules = rules

    async def close(self) -> None:
        """Wait until every vote handed in so far is written (at shutdown)."""
        await self.votes.close()
        await self.batches.close()

    async def submit(self, payload: FeedbackCreate) -> tuple[FeedbackOut, bool]:
        """Record a vote; returns it and whether it is new (False: it replaced one)."""
        [written] = await self.votes.write([vote_entry(payload, self.rules)])
        return _vote_outcome(payload, written)

    async def submit_batch(self, items: list[Any]) -> BatchResult:
        """Validate every item on its own, then record the valid ones in one transaction."""
        results: dict[int, dict[str, Any]] = {}
        accepted: list[tuple[int, VoteEntry]] = []
        for index, raw in enumerate(items):
            try:
                accepted.append((index, vote_entry(FeedbackCreate.model_validate(raw), self.rules)))
            except ValidationError as exc:
                message, _ = describe_validation_errors(list(exc.errors()))
                results[index] = {"index": index, "status": 422, "error": message}
            except AppError as exc:
                results[index] = {"index": index, "status": exc.status_code, "error": exc.message}
        written = await self.batches.write([entry for _, entry in accepted])
        for (index, entry), outcome in zip(accepted, written, strict=True):
            if outcome is None:
                error = _unknown_request_id(entry.request_id)
                results[index] = {"index": index, "status": 404, "error": error}
            else:
                row, created = outcome
                status = 201 if created else 200
                results[index] = {
                    "index": index,
                    "status": status,
                    "feedback": feedback_fields(row),
                }
        ordered = [results[i] for i in range(len(items))]
        # One validation of the whole answer (in pydantic's core) instead of 2,000 models.
        return BatchResult.model_validate(
            {
                "created": sum(r["status"] == 201 for r in ordered),
                "replaced": sum(r["status"] == 200 for r in ordered),
                "failed": sum(r["status"] >= 400 for r in ordered),
                "results": ordered,
            }
        )


class FeedbackService:
    """Feedback in one session: the caller's transaction decides when it commits."""

    def __init__(
        self,
        feedback: FeedbackRepository,
        interactions: InteractionRepository,
        rules: IngestRules,
    ) -> None:
        self.feedback = feedback
        self.interactions = interactions
        self.rules = rules

    async def submit(self, payload: FeedbackCreate) -> tuple[FeedbackOut, bool]:
        """Record a vote in this session; returns it and whether it is new."""
        return _vote_outcome(payload, await self.feedback.submit(vote_entry(payload, self.rules)))

    async def get(self, feedback_id: uuid.UUID) -> FeedbackOut:
        row = await self.feedback.get_view(feedback_id)
        if row is None:
            raise NotFound(f"no feedback with id {feedback_id}")
        return feedback_out(row)

    async def update(self, feedback_id: uuid.UUID, payload: FeedbackUpdate) -> FeedbackOut:
        changes = payload.changes()
        if changes and not await self.feedback.update(feedback_id, changes):
            raise NotFound(f"no feedback with id {feedback_id}")
        return await self.get(feedback_id)

    async def delete(self, feedback_id: uuid.UUID) -> None:
        if not await self.feedback.delete(feedback_id):
            raise NotFound(f"no feedback with id {feedback_id}")

    async def list(self, where: FeedbackFilter, limit: int, cursor: str | None) -> FeedbackPage:
        after = decode_cursor(cursor) if cursor else None
        if where.user_id is not None:
            where = replace(where, user_id=self.rules.pseudonym(where.user_id))
        rows = await self.feedback.list(where, limit + 1, after)
        items = [feedback_out(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return FeedbackPage(items=items, next_cursor=next_cursor)
