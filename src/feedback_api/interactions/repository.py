from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.interactions.models import REUSE_INTERACTION, Interaction
from feedback_api.kit.models import new_id, was_inserted


class InteractionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_or_get(
        self, values: dict[str, Any]
    ) -> tuple[uuid.UUID, datetime, str | None, bool]:
        """Insert unless the request_id exists; return (id, created_at, user_id, created) of
        the stored row.

        The no-op update makes PostgreSQL return the existing row in the same statement,
        so two concurrent inserts of one request_id never fail or duplicate.
        """
        new = insert(Interaction).values(id=new_id(), **values)
        stmt = new.on_conflict_do_update(
            index_elements=[Interaction.request_id],
            set_=REUSE_INTERACTION,
        ).returning(Interaction.id, Interaction.created_at, Interaction.user_id, was_inserted())
        row = (await self.session.execute(stmt)).one()
        return row[0], row[1], row[2], bool(row[3])

    async def users_of(self, request_ids: Sequence[str]) -> dict[str, str | None]:
        """request_id -> the user_id stored with it, for those of `request_ids` logged."""
        stmt = select(Interaction.request_id, Interaction.user_id).where(
            Interaction.request_id.in_(request_ids)
        )
        return {row[0]: row[1] for row in await self.session.execute(stmt)}

    async def get(self, interaction_id: uuid.UUID) -> Interaction | None:
        return await self.session.get(Interaction, interaction_id)
