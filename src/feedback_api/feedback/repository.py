from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Select,
    String,
    Uuid,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.models import AnyRow, new_id, was_inserted

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


_CONTEXT_COLUMNS = (
    Interaction.request_id,
    Interaction.query,
    Interaction.response,
    Interaction.model,
    Interaction.intent,
    Interaction.project,
    Interaction.session_id,
)
_VOTE_COLUMNS = (
    Feedback.id,
    Feedback.interaction_id,
    Feedback.is_helpful,
    Feedback.stars,
    Feedback.comment,
    Feedback.user_id,
    Feedback.meta,
    Feedback.created_at,
    Feedback.updated_at,
)


_INTERACTION_KEYS = (
    "request_id", "query", "response", "model", "intent", "project", "user_id", "session_id",
    "response_time_ms", "sources_used", "tools_called", "memory_used", "meta",
)  # fmt: skip
_VOTE_KEYS = ("is_helpful", "stars", "comment", "user_id", "meta", "created_at")


def _param(prefix: str, model: Any, key: str) -> Any:
    value = bindparam(f"{prefix}_{key}", type_=model.__mapper__.c[key].type)
    # An absent created_at means "now", decided by the database in both tables.
    return func.coalesce(value, func.now()) if key == "created_at" else value


@cache
def _submit_statement(*, with_context: bool) -> Select[Any]:
    """The single-vote statement, built once: constructing SQLAlchemy CTEs per request
    costs more CPU than PostgreSQL spends executing them."""
    if with_context:
        keys = (*_INTERACTION_KEYS, "created_at")
        values = {key: _param("i", Interaction, key) for key in keys}
        new = insert(Interaction).values(id=bindparam("i_id", type_=Interaction.id.type), **values)
        context = (
            new.on_conflict_do_update(
                index_elements=[Interaction.request_id],
                # A no-op update, so that RETURNING yields the row in both cases.
                set_={"request_id": new.excluded.request_id},
            )
            .returning(Interaction.id, *_CONTEXT_COLUMNS)
            .cte("i")
        )
    else:
        context = (
            select(Interaction.id, *_CONTEXT_COLUMNS)
            .where(Interaction.request_id == bindparam("i_request_id"))
            .cte("i")
        )
    columns = [Feedback.__mapper__.c[key] for key in _VOTE_KEYS]
    source = select(
        bindparam("v_id", type_=Feedback.id.type),
        context.c.id,
        *(_param("v", Feedback, key) for key in _VOTE_KEYS),
    )
    upsert = insert(Feedback).from_select(
        [Feedback.__table__.c.id, Feedback.__table__.c.interaction_id, *columns], source
    )
    written = (
        upsert.on_conflict_do_update(
            constraint="uq_feedback_interaction_user", set_=_replace_vote(upsert)
        )
        .returning(*_VOTE_COLUMNS, was_inserted())
        .cte("f")
    )
    return select(
        written.c.id,
        written.c.interaction_id,
        context.c.request_id,
        written.c.is_helpful,
        written.c.stars,
        written.c.comment,
        context.c.query,
        context.c.response,
        context.c.model,
        context.c.intent,
        context.c.project,
        written.c.user_id,
        context.c.session_id,
        written.c.meta,
        written.c.created_at,
        written.c.updated_at,
        written.c.inserted,
    ).join_from(written, context, context.c.id == written.c.interaction_id)


@dataclass(frozen=True)
class VoteEntry:
    """One vote to record: its column values and where its interaction comes from."""

    vote: dict[str, Any]
    interaction: dict[str, Any] | None = None  # values of an interaction to insert or reuse
    request_id: str | None = None  # or the request_id of a logged one

    @property
    def request_key(self) -> str | None:
        return self.interaction["request_id"] if self.interaction is not None else self.request_id


def _columns(
    rows: list[dict[str, Any]], names: Sequence[str], *, json_columns: Sequence[str]
) -> dict[str, list[Any]]:
    """Rows to one array per column, for the `unnest` statements below."""
    params = {name: [row.get(name) for row in rows] for name in names}
    for name in json_columns:
        params[name] = [None if v is None else json.dumps(v) for v in params[name]]
    return params


# Set-wise writes for batches: one statement however many rows, with one array parameter
# per column, so the SQL text (and its prepared plan) is the same for every batch size.
_BULK_INTERACTION_COLUMNS = ("id", *_INTERACTION_KEYS, "created_at")
_INTERACTION_JSON = ("sources_used", "tools_called", "meta")
_BULK_INTERACTIONS = text("""
INSERT INTO interactions (id, request_id, query, response, model, intent, project, user_id,
    session_id, response_time_ms, sources_used, tools_called, memory_used, metadata, created_at)
SELECT id, request_id, query, response, model, intent, project, user_id, session_id,
    response_time_ms, sources_used::jsonb, coalesce(tools_called::jsonb, '[]'),
    memory_used, coalesce(meta::jsonb, '{}'), coalesce(created_at, now())
FROM unnest(
    CAST(:id AS uuid[]), CAST(:request_id AS text[]), CAST(:query AS text[]),
    CAST(:response AS text[]), CAST(:model AS text[]), CAST(:intent AS text[]),
    CAST(:project AS text[]), CAST(:user_id AS text[]), CAST(:session_id AS text[]),
    CAST(:response_time_ms AS integer[]), CAST(:sources_used AS text[]),
    CAST(:tools_called AS text[]), CAST(:memory_used AS float8[]), CAST(:meta AS text[]),
    CAST(:created_at AS timestamptz[])
) AS u(id, request_id, query, response, model, intent, project, user_id, session_id,
       response_time_ms, sources_used, tools_called, memory_used, meta, created_at)
ON CONFLICT (request_id) DO UPDATE SET request_id = excluded.request_id
RETURNING id, request_id
""")
_BULK_VOTE_COLUMNS = ("id", "interaction_id", *_VOTE_KEYS)
_BULK_VOTES = text("""
INSERT INTO feedback (id, interaction_id, is_helpful, stars, comment, user_id, metadata,
    created_at)
SELECT id, interaction_id, is_helpful, stars, comment, user_id, coalesce(meta::jsonb, '{}'),
    coalesce(created_at, now())
FROM unnest(
    CAST(:id AS uuid[]), CAST(:interaction_id AS uuid[]), CAST(:is_helpful AS boolean[]),
    CAST(:stars AS smallint[]), CAST(:comment AS text[]), CAST(:user_id AS text[]),
    CAST(:meta AS text[]), CAST(:created_at AS timestamptz[])
) AS u(id, interaction_id, is_helpful, stars, comment, user_id, meta, created_at)
ON CONFLICT ON CONSTRAINT uq_feedback_interaction_user DO UPDATE SET
    is_helpful = excluded.is_helpful, stars = excluded.stars, comment = excluded.comment,
    metadata = excluded.metadata, updated_at = now()
RETURNING id, interaction_id, user_id, xmax = 0 AS inserted
""")


def _replace_vote(new: Any) -> dict[str, Any]:
    """What a user's new vote replaces in their stored one."""
    return {
        "is_helpful": new.excluded.is_helpful,
        "stars": new.excluded.stars,
        "comment": new.excluded.comment,
        "metadata": new.excluded.metadata,
        "updated_at": func.now(),
    }


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

    async def submit(self, entry: VoteEntry) -> tuple[AnyRow, bool] | None:
        """Record a vote in one statement; return (its view row, whether it is new).

        With `entry.interaction` (column values) that interaction is inserted, or reused
        when its request_id is already logged; with `entry.request_id` the vote goes to the
        logged interaction, and None means there is none. A second vote of the same user on
        the same interaction replaces the first: the unique constraint arbitrates inside the
        statement, so concurrent votes never race a read against a write. One round trip
        instead of three keeps ingestion close to PostgreSQL's own insert rate.
        """
        params = {f"v_{key}": entry.vote.get(key) for key in _VOTE_KEYS}
        if entry.interaction is not None:
            keys = (*_INTERACTION_KEYS, "created_at")
            params.update({f"i_{key}": entry.interaction.get(key) for key in keys})
            params["i_id"] = new_id()
        else:
            params["i_request_id"] = entry.request_id
        params["v_id"] = new_id()
        stmt = _submit_statement(with_context=entry.interaction is not None)
        row = cast("AnyRow | None", (await self.session.execute(stmt, params)).one_or_none())
        return None if row is None else (row, bool(row.inserted))

    async def submit_many(self, entries: Sequence[VoteEntry]) -> list[tuple[AnyRow, bool] | None]:
        """Record many votes in four statements, whatever their number; one result per entry.

        The same rules as `submit`, applied in the order given: within one batch, a later
        vote of the same user on the same interaction replaces the earlier one.
        """
        # 1. Interactions that come with their context: insert, or reuse by request_id.
        new_interactions: dict[str, dict[str, Any]] = {}
        for entry in entries:
            if entry.interaction is not None:
                new_interactions.setdefault(entry.interaction["request_id"], entry.interaction)
        ids: dict[str | None, uuid.UUID] = {}
        if new_interactions:
            rows = [{"id": new_id(), **v} for v in new_interactions.values()]
            params = _columns(rows, _BULK_INTERACTION_COLUMNS, json_columns=_INTERACTION_JSON)
            result = await self.session.execute(_BULK_INTERACTIONS, params)
            ids.update({r.request_id: r.id for r in result})
        # 2. Interactions named by reference.
        wanted = list({e.request_id for e in entries if e.interaction is None and e.request_id})
        if wanted:
            known = select(Interaction.id, Interaction.request_id).where(
                Interaction.request_id == any_(bindparam("wanted", type_=ARRAY(String)))
            )
            result = await self.session.execute(known, {"wanted": wanted})
            ids.update({r.request_id: r.id for r in result})
        # 3. The votes; the last one per (interaction, user) is the one that stays.
        targets: list[tuple[uuid.UUID, str | None] | None] = []
        last: dict[tuple[uuid.UUID, str | None], dict[str, Any]] = {}
        for entry in entries:
            interaction_id = ids.get(entry.request_key)
            if interaction_id is None:
                targets.append(None)
                continue
            key = (interaction_id, entry.vote.get("user_id"))
            targets.append(key)
            last[key] = {"interaction_id": interaction_id, **entry.vote}
        written: dict[tuple[uuid.UUID, str | None], tuple[uuid.UUID, bool]] = {}
        if last:
            rows = [{"id": new_id(), **v} for v in last.values()]
            params = _columns(rows, _BULK_VOTE_COLUMNS, json_columns=("meta",))
            for r in await self.session.execute(_BULK_VOTES, params):
                written[(r.interaction_id, r.user_id)] = (r.id, bool(r.inserted))
        # 4. Their representations.
        views: dict[uuid.UUID, AnyRow] = {}
        if written:
            shown = (
                select(*VIEW_COLUMNS)
                .join(Interaction)
                .where(Feedback.id == any_(bindparam("ids", type_=ARRAY(Uuid))))
            )
            result = await self.session.execute(shown, {"ids": [i for i, _ in written.values()]})
            views = {r.id: r for r in result}
        results: list[tuple[AnyRow, bool] | None] = []
        reported: set[tuple[uuid.UUID, str | None]] = set()
        for target in targets:
            if target is None:
                results.append(None)
                continue
            feedback_id, inserted = written[target]
            results.append((views[feedback_id], inserted and target not in reported))
            reported.add(target)
        return results

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
