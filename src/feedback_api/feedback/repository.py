from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

import asyncpg
from sqlalchemy import delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import REUSE_INTERACTION_SQL, Interaction
from feedback_api.kit.models import AnyRow, new_id_texts

# The columns of one feedback with its interaction's context: what GET answers with.
VIEW_COLUMNS = (
    Feedback.id,
    Feedback.interaction_id,
    Interaction.request_id,
    Feedback.is_helpful,
    Feedback.stars,
    Feedback.comment,
    Interaction.query,
    Interaction.response,
    Interaction.model,
    Interaction.intent,
    Interaction.project,
    Feedback.user_id,
    Interaction.session_id,
    Feedback.meta,
    Feedback.created_at,
    Feedback.updated_at,
)


@dataclass(frozen=True)
class VoteEntry:
    """One vote to record: its column values and where its interaction comes from."""

    vote: dict[str, Any]
    interaction: dict[str, Any] | None = None  # values of an interaction to insert or reuse
    request_id: str | None = None  # or the request_id of a logged one

    @property
    def request_key(self) -> str | None:
        return self.interaction["request_id"] if self.interaction is not None else self.request_id


# The batch statement: one per group of votes, however many. The rows come as two JSON
# documents (`json_to_recordset`), so the text (and prepared plan) is the same for every size,
# and encoding them is one C-level `json.dumps`: asyncpg checks every element of an array
# parameter in Python (about a seventh of a vote's CPU with one array per column). Being one
# statement it is atomic without BEGIN/COMMIT round trips. Interactions that come with their
# context are inserted or reused by request_id (`new`); those named by reference are looked up
# (`known`); the votes go to either, and a user's second vote on an interaction replaces the
# first. Rows are written in a fixed order (request_id; interaction, user), and a reused
# interaction is locked FOR NO KEY UPDATE only (see REUSE_INTERACTION), so that two concurrent
# groups touching the same rows wait for each other instead of deadlocking.
SUBMIT_VOTES = text(
    """
WITH new AS (
    INSERT INTO interactions (id, request_id, query, response, model, intent, project,
        user_id, session_id, response_time_ms, sources_used, tools_called, memory_used,
        metadata, created_at)
    SELECT id, request_id, query, response, model, intent, project, user_id, session_id,
        response_time_ms, sources_used, coalesce(tools_called, '[]'), memory_used,
        coalesce(meta, '{}'), coalesce(created_at, now())
    FROM json_to_recordset(CAST(:interactions AS json))
        AS u(id uuid, request_id text, query text, response text, model text, intent text,
             project text, user_id text, session_id text, response_time_ms integer,
             sources_used jsonb, tools_called jsonb, memory_used float8, meta jsonb,
             created_at timestamptz)
    ORDER BY request_id
    ON CONFLICT (request_id) DO UPDATE SET """
    + REUSE_INTERACTION_SQL
    + """
    RETURNING id, request_id, query, response, model, intent, project, session_id
), known AS (
    SELECT id, request_id, query, response, model, intent, project, session_id
    FROM interactions WHERE request_id = ANY(CAST(:wanted AS text[]))
), target AS (
    SELECT * FROM new UNION ALL SELECT * FROM known
), written AS (
    INSERT INTO feedback (id, interaction_id, is_helpful, stars, comment, user_id, metadata,
        created_at)
    SELECT v.id, t.id, v.is_helpful, v.stars, v.comment, v.user_id, coalesce(v.meta, '{}'),
        coalesce(v.created_at, now())
    FROM json_to_recordset(CAST(:votes AS json))
        AS v(id uuid, request_key text, is_helpful boolean, stars smallint, comment text,
             user_id text, meta jsonb, created_at timestamptz)
    JOIN target t ON t.request_id = v.request_key
    ORDER BY t.id, v.user_id NULLS LAST
    ON CONFLICT ON CONSTRAINT uq_feedback_interaction_user DO UPDATE SET
        is_helpful = excluded.is_helpful, stars = excluded.stars, comment = excluded.comment,
        metadata = excluded.metadata, updated_at = now()
    RETURNING id, interaction_id, is_helpful, stars, comment, user_id, metadata, created_at,
        updated_at, xmax = 0 AS inserted
)
SELECT w.id, w.interaction_id, t.request_id, w.is_helpful, w.stars, w.comment, t.query,
    t.response, t.model, t.intent, t.project, w.user_id, t.session_id, w.metadata AS meta,
    w.created_at, w.updated_at, w.inserted
FROM written w JOIN target t ON t.id = w.interaction_id
"""
)
# The same statement for asyncpg itself: $1, $2, ... and the parameter names in that order.
_SUBMIT_VOTES_ASYNCPG = SUBMIT_VOTES.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
_SUBMIT_VOTES_NAMES = tuple(_SUBMIT_VOTES_ASYNCPG.positiontup or ())


class VoteView(NamedTuple):
    """One feedback with its interaction's context, as the batch statement returns it."""

    id: uuid.UUID
    interaction_id: uuid.UUID
    request_id: str
    is_helpful: bool
    stars: int | None
    comment: str | None
    query: str | None
    response: str | None
    model: str | None
    intent: str | None
    project: str | None
    user_id: str | None
    session_id: str | None
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None


def _json_row(id_text: str, values: dict[str, Any]) -> dict[str, Any]:
    row = {"id": id_text, **values}
    if row.get("created_at") is not None:  # a time the client gave: ISO 8601, with its zone
        row["created_at"] = row["created_at"].isoformat()
    return row


def _rows_json(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON document, for `json_to_recordset` above.

    Every value is one JSON has (`_json_row`): plain `json.dumps` is the C encoder's fast path.
    """
    return json.dumps(rows)


Fetch = Callable[[dict[str, Any]], Awaitable[Sequence[Sequence[Any]]]]


async def submit_votes(
    fetch: Fetch, entries: Sequence[VoteEntry]
) -> list[tuple[VoteView, bool] | None]:
    """Record votes in one statement, whatever their number; one result per entry.

    `fetch(parameters)` runs SUBMIT_VOTES and returns its rows. With `entry.interaction`
    (column values) that interaction is inserted, or reused when its request_id is already
    logged; with `entry.request_id` the vote goes to the logged interaction, and None means
    there is none. A second vote of the same user on the same interaction replaces the first:
    the unique constraint arbitrates inside the statement, so concurrent votes never race a
    read against a write. Entries count as written one after another in the order given:
    within one call, a later vote of the same user on the same interaction replaces the
    earlier one (the first is reported as created, the later ones as replacing it). A vote
    by reference finds an interaction that another entry of the call brings with its
    context, wherever that entry stands.
    """
    new: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.interaction is not None:
            new.setdefault(entry.interaction["request_id"], entry.interaction)
    wanted = sorted(
        {e.request_id for e in entries if e.interaction is None and e.request_id} - set(new)
    )
    # The last vote per (interaction, user) is the one that stays; request_id names the
    # interaction as well as its id does. It keeps the first one's creation time, as a
    # replacing vote written after it would.
    last: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    final: dict[tuple[str | None, str | None], int] = {}
    for index, entry in enumerate(entries):
        key = (entry.request_key, entry.vote.get("user_id"))
        vote = {"request_key": entry.request_key, **entry.vote}
        if key in last:
            vote["created_at"] = last[key].get("created_at")
        last[key], final[key] = vote, index
    ids = iter(new_id_texts(len(new) + len(last)))
    interactions = [_json_row(next(ids), values) for values in new.values()]
    votes = [_json_row(next(ids), values) for values in last.values()]
    records = await fetch(
        {"interactions": _rows_json(interactions), "wanted": wanted, "votes": _rows_json(votes)}
    )
    written: dict[tuple[str | None, str | None], tuple[VoteView, bool]] = {}
    for record in records:
        *fields, inserted = tuple(record)
        view = VoteView(*fields)
        written[(view.request_id, view.user_id)] = (view, bool(inserted))
    results: list[tuple[VoteView, bool] | None] = []
    reported: set[tuple[str | None, str | None]] = set()
    for index, entry in enumerate(entries):
        key = (entry.request_key, entry.vote.get("user_id"))
        outcome = written.get(key)
        if outcome is None:
            results.append(None)
            continue
        view, inserted = outcome
        if index != final[key]:  # replaced within this call: its answer shows its own vote
            view = view._replace(
                is_helpful=entry.vote["is_helpful"],
                stars=entry.vote.get("stars"),
                comment=entry.vote.get("comment"),
                meta=entry.vote.get("meta") or {},
            )
        results.append((view, inserted and key not in reported))
        reported.add(key)
    return results


class BulkVoteRepository:
    """Votes written on a raw asyncpg connection: the ingestion hot path (group commit).

    Below SQLAlchemy on purpose: its session, pool checkout, BEGIN and COMMIT cost about
    0.5 ms of CPU per transaction and its execution 0.17 ms per statement, several times what
    the same work costs on asyncpg itself.
    The one statement is atomic by itself: no BEGIN/COMMIT round trips.
    """

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def submit_many(self, entries: Sequence[VoteEntry]) -> list[tuple[VoteView, bool] | None]:
        """`submit_votes` on this connection."""

        async def fetch(parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
            sql = _SUBMIT_VOTES_ASYNCPG.string
            rows = await self.connection.fetch(sql, *(parameters[n] for n in _SUBMIT_VOTES_NAMES))
            return cast("Sequence[Sequence[Any]]", rows)

        return await submit_votes(fetch, entries)


@dataclass(frozen=True)
class FeedbackFilter:
    model: str | None = None
    intent: str | None = None
    project: str | None = None
    user_id: str | None = None
    is_helpful: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def submit(self, entry: VoteEntry) -> tuple[VoteView, bool] | None:
        """`submit_votes` for one vote, in this session's transaction (which the caller
        commits: an Idempotency-Key claim commits with it)."""

        async def fetch(parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
            return (await self.session.execute(SUBMIT_VOTES, parameters)).all()

        [written] = await submit_votes(fetch, [entry])
        return written

    async def get_view(self, feedback_id: uuid.UUID) -> AnyRow | None:
        stmt = select(*VIEW_COLUMNS).join(Interaction).where(Feedback.id == feedback_id)
        return (await self.session.execute(stmt)).one_or_none()

    async def update(self, feedback_id: uuid.UUID, changes: dict[str, Any]) -> bool:
        stmt = (
            update(Feedback)
            .where(Feedback.id == feedback_id)
            .values(**changes, updated_at=func.now())
            .returning(Feedback.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def delete(self, feedback_id: uuid.UUID) -> bool:
        stmt = delete(Feedback).where(Feedback.id == feedback_id).returning(Feedback.id)
        return (await self.session.execute(stmt)).first() is not None

    async def list(
        self,
        where: FeedbackFilter,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
    ) -> list[AnyRow]:
        """Newest first, keyset-paginated on (created_at, id): page N costs what page 1 does."""
        stmt = select(*VIEW_COLUMNS).join(Interaction)
        conditions = {
            Interaction.model: where.model,
            Interaction.intent: where.intent,
            Interaction.project: where.project,
            Feedback.user_id: where.user_id,
            Feedback.is_helpful: where.is_helpful,
        }
        for column, value in conditions.items():
            if value is not None:
                stmt = stmt.where(column == value)
        if where.since is not None:
            stmt = stmt.where(Feedback.created_at >= where.since)
        if where.until is not None:
            stmt = stmt.where(Feedback.created_at < where.until)
        if after is not None:
            stmt = stmt.where(tuple_(Feedback.created_at, Feedback.id) < tuple_(*after))
        stmt = stmt.order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(limit)
        return list((await self.session.execute(stmt)).all())
