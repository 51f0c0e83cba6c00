from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.repository import change_row, log_changes, utc_hour
from feedback_api.interactions.models import REUSE_INTERACTION, Interaction
from feedback_api.kit.models import new_id, was_inserted

# What an interaction's change-log row needs of it.
_LOGGED = (
    Interaction.id, Interaction.created_at, Interaction.model, Interaction.intent,
    Interaction.project,
)  # fmt: skip


class InteractionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_or_get(self, values: dict[str, Any]) -> tuple[uuid.UUID, datetime, bool]:
        """Insert unless the request_id exists; return (id, created_at, created).

        The no-op update makes PostgreSQL return the existing row in the same statement,
        so two concurrent inserts of one request_id never fail or duplicate.
        """
        new = insert(Interaction).values(id=new_id(), **values)
        written = (
            new.on_conflict_do_update(
                index_elements=[Interaction.request_id],
                set_=REUSE_INTERACTION,
            )
            .returning(*_LOGGED, was_inserted())
            .cte("written")
        )
        # A new interaction changes its day's figures and its hour's question counts: logged
        # by this same statement, for the next analytics refresh.
        logged = log_changes(
            select(*change_row(written, query_hour=utc_hour(written.c.created_at))).where(
                written.c.inserted
            )
        ).cte("logged")
        stmt = select(written.c.id, written.c.created_at, written.c.inserted).add_cte(logged)
        row = (await self.session.execute(stmt)).one()
        return row[0], row[1], bool(row[2])

    async def get(self, interaction_id: uuid.UUID) -> Interaction | None:
        return await self.session.get(Interaction, interaction_id)
