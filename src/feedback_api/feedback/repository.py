from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, delete, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.models import was_inserted

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


@dataclass(frozen=True)
class VoteEntry:
    """One vote to record: its column values and where its interaction comes from."""

    vote: dict[str, Any]
    interaction: dict[str, Any] | None = None  # values of an interaction to insert or reuse
    request_id: str | None = None  # or the request_id of a logged one

    @property
    def request_key(self) -> str | None:
        return self.interaction["request_id"] if self.interaction is not None else self.request_id


def _uniform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A multi-row VALUES needs the same keys in every row: absent created_at means now()."""
    keys = {key for row in rows for key in row}
    if "created_at" in keys:
        for row in rows:
            row.setdefault("created_at", func.now())
    return rows


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

    async def submit(self, entry: VoteEntry) -> tuple[Row[Any], bool] | None:
        """Record a vote in one statement; return (its view row, whether it is new).

        With `entry.interaction` (column values) that interaction is inserted, or reused
        when its request_id is already logged; with `entry.request_id` the vote goes to the
        logged interaction, and None means there is none. A second vote of the same user on the
        same interaction replaces the first: the unique constraint arbitrates inside the
        statement, so concurrent votes never race a read against a write. One round trip
        instead of three keeps ingestion close to PostgreSQL's own insert rate.
        """
        vote = entry.vote
        if entry.interaction is not None:
            new = insert(Interaction).values(id=uuid.uuid4(), **entry.interaction)
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
                .where(Interaction.request_id == entry.request_id)
                .cte("i")
            )
        # `vote` is keyed like the ORM (`meta` is the column "metadata").
        columns = {key: Feedback.__mapper__.c[key] for key in vote}
        source = select(
            literal(uuid.uuid4(), Feedback.id.type),
            context.c.id,
            *(literal(vote[key], column.type) for key, column in columns.items()),
        )
        upsert = insert(Feedback).from_select(
            [Feedback.__table__.c.id, Feedback.__table__.c.interaction_id, *columns.values()],
            source,
        )
        written = (
            upsert.on_conflict_do_update(
                constraint="uq_feedback_interaction_user",
                set_=_replace_vote(upsert),
            )
            .returning(*_VOTE_COLUMNS, was_inserted())
            .cte("f")
        )
        stmt = select(
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
        row = cast("Row[Any] | None", (await self.session.execute(stmt)).one_or_none())
        return None if row is None else (row, bool(row.inserted))

    async def submit_many(self, entries: Sequence[VoteEntry]) -> list[tuple[Row[Any], bool] | None]:
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
            values = [{"id": uuid.uuid4(), **v} for v in new_interactions.values()]
            new = insert(Interaction).values(_uniform(values))
            logged = new.on_conflict_do_update(
                index_elements=[Interaction.request_id],
                set_={"request_id": new.excluded.request_id},
            ).returning(Interaction.id, Interaction.request_id)
            ids.update({r.request_id: r.id for r in await self.session.execute(logged)})
        # 2. Interactions named by reference.
        wanted = {e.request_id for e in entries if e.interaction is None and e.request_id}
        if wanted:
            known = select(Interaction.id, Interaction.request_id).where(
                Interaction.request_id.in_(wanted)
            )
            ids.update({r.request_id: r.id for r in await self.session.execute(known)})
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
            values = [{"id": uuid.uuid4(), **v} for v in last.values()]
            votes = insert(Feedback).values(_uniform(values))
            upserted = votes.on_conflict_do_update(
                constraint="uq_feedback_interaction_user",
                set_=_replace_vote(votes),
            ).returning(Feedback.id, Feedback.interaction_id, Feedback.user_id, was_inserted())
            for r in await self.session.execute(upserted):
                written[(r.interaction_id, r.user_id)] = (r.id, bool(r.inserted))
        # 4. Their representations.
        views: dict[uuid.UUID, Row[Any]] = {}
        if written:
            shown = (
                select(*VIEW_COLUMNS)
                .join(Interaction)
                .where(Feedback.id.in_([fid for fid, _ in written.values()]))
            )
            views = {r.id: r for r in await self.session.execute(shown)}
        results: list[tuple[Row[Any], bool] | None] = []
        reported: set[tuple[uuid.UUID, str | None]] = set()
        for target in targets:
            if target is None:
                results.append(None)
                continue
            feedback_id, inserted = written[target]
            results.append((views[feedback_id], inserted and target not in reported))
            reported.add(target)
        return results

    async def get_view(self, feedback_id: uuid.UUID) -> Row[Any] | None:
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
    ) -> list[Row[Any]]:
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
