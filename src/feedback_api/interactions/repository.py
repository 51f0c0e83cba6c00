from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import FromClause, Insert, Select, Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.changes import change_row, log_changes, utc_hour
from feedback_api.interactions.models import REUSE_INTERACTION, Interaction
from feedback_api.kit import search
from feedback_api.kit.models import (
    attribute_names,
    new_id_texts,
    was_inserted,
    written_columns,
)
from feedback_api.kit.recordset import json_recordset, json_row, value_or_default

_interactions = cast(Table, Interaction.__table__)
# Not the search words: PostgreSQL computes them.
_WRITTEN = written_columns(_interactions)
# Column name -> attribute name ("metadata" -> "meta") and back.
_ATTRIBUTES = attribute_names(Interaction)
_COLUMNS = {key: name for name, key in _ATTRIBUTES.items()}


def _logged(written: FromClause) -> Insert:
    """The change-log rows of newly inserted exchanges, for the next analytics refresh: a
    new interaction changes its day's figures and its hour's question counts."""
    return log_changes(
        select(*change_row(written, query_hour=utc_hour(written.c.created_at))).where(
            written.c.inserted
        )
    )


def _insert_many() -> Select[Any]:
    """Insert every exchange of a JSON recordset unless its request_id is stored; return
    each one's stored row and whether this statement inserted it; log what the new ones
    change for the analytics, in the same statement.

    Rows go in request_id order, and a stored one is locked FOR NO KEY UPDATE only
    (REUSE_INTERACTION): concurrent batches and vote groups touching the same request_ids
    wait for each other instead of deadlocking.
    """
    rows = json_recordset("interactions", _WRITTEN)
    written = (
        insert(_interactions)
        .from_select(
            _WRITTEN,
            select(*(value_or_default(rows, c) for c in _WRITTEN)).order_by(rows.c.request_id),
        )
        .on_conflict_do_update(index_elements=[_interactions.c.request_id], set_=REUSE_INTERACTION)
        .returning(*_WRITTEN, was_inserted())
        .cte("written")
    )
    return select(*written.c).add_cte(_logged(written).cte("logged"))


INSERT_MANY = _insert_many()


class InteractionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def words_fit(self, *texts: str | None) -> bool:
        """Whether the search words of one row's `texts` fit (kit.search.words_fit)."""
        return await search.words_fit(self.session, *texts)

    async def users_of(self, request_ids: Sequence[str]) -> dict[str, str | None]:
        """request_id -> the user_id stored with it, for those of `request_ids` logged."""
        stmt = select(Interaction.request_id, Interaction.user_id).where(
            Interaction.request_id.in_(request_ids)
        )
        return {row[0]: row[1] for row in await self.session.execute(stmt)}

    async def insert_or_get_many(
        self, rows: Sequence[dict[str, Any]]
    ) -> dict[str, tuple[dict[str, Any], bool]]:
        """Insert the exchanges whose request_id is not stored yet, in one statement whatever
        their number; a stored one is returned as it is, so two concurrent inserts of one
        request_id never fail or duplicate.

        `rows` are keyed by attribute name, each with a request_id of its own (one statement
        cannot insert and reuse the same row). Returns, by request_id, the stored row (by
        attribute name) and whether it was inserted now.
        """
        if not rows:
            return {}
        ids = new_id_texts(len(rows))
        document = [
            json_row(id_text, {_COLUMNS[key]: value for key, value in row.items()})
            for id_text, row in zip(ids, rows, strict=True)
        ]
        result = await self.session.execute(INSERT_MANY, {"interactions": document})
        columns = list(result.keys())
        keys = [_ATTRIBUTES.get(name, name) for name in columns]
        stored: dict[str, tuple[dict[str, Any], bool]] = {}
        for row in result:
            values = dict(zip(keys, row, strict=True))
            inserted = bool(values.pop("inserted"))
            stored[values["request_id"]] = (values, inserted)
        return stored

    async def get(self, interaction_id: uuid.UUID) -> Interaction | None:
        return await self.session.get(Interaction, interaction_id)

    async def find(self, request_id: str) -> Interaction | None:
        stmt = select(Interaction).where(Interaction.request_id == request_id)
        return (await self.session.scalars(stmt)).one_or_none()
