from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, tuple_, update
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

    async def upsert(self, values: dict[str, Any]) -> tuple[uuid.UUID, bool]:
        """Insert the vote, or replace the same user's vote on that interaction.

        One statement, so concurrent votes of one user leave exactly one row (the unique
        constraint arbitrates) instead of racing a read against a write.
        """
        insert_stmt = insert(Feedback).values(id=uuid.uuid4(), **values)
        stmt = insert_stmt.on_conflict_do_update(
            constraint="uq_feedback_interaction_user",
            set_={
                "is_helpful": insert_stmt.excluded.is_helpful,
                "stars": insert_stmt.excluded.stars,
                "comment": insert_stmt.excluded.comment,
                "metadata": insert_stmt.excluded.metadata,
                "updated_at": func.now(),
            },
        ).returning(Feedback.id, was_inserted())
        row = (await self.session.execute(stmt)).one()
        return row[0], bool(row[1])

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
