"""Idempotency-Key for ingestion: a retry returns the first answer and writes nothing new.

The key is claimed with an INSERT in the request's own transaction. A concurrent retry's
INSERT waits on the unique index until the first request commits (then it finds the stored
answer) or rolls back (then it goes ahead itself): PostgreSQL enforces it, not a lock of ours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import SmallInteger, String, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.errors import InvalidInput
from feedback_api.models import Base, created_at_column
from feedback_api.scheduler import PeriodicJob, run_as_leader

JSON = "application/json"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retry with the same key: the first answer returns, nothing is written twice.",
    ),
]


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    response: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at_column()


class Idempotency:
    """One request's use of an Idempotency-Key."""

    def __init__(self, session: AsyncSession, principal: str, key: str, request: str) -> None:
        if not 1 <= len(key) <= 255:
            raise InvalidInput("Idempotency-Key must be 1 to 255 characters")
        self.session = session
        self.principal = principal
        self.key = key
        self.fingerprint = hashlib.sha256(request.encode()).hexdigest()

    async def replay(self) -> tuple[int, Any] | None:
        """Claim the key; the stored (status, body) if an earlier request already used it."""
        claim = (
            insert(IdempotencyKey)
            .values(principal=self.principal, key=self.key, fingerprint=self.fingerprint)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if (await self.session.execute(claim)).first() is not None:
            return None
        stored = (
            await self.session.execute(
                select(IdempotencyKey).where(
                    IdempotencyKey.principal == self.principal, IdempotencyKey.key == self.key
                )
            )
        ).scalar_one()
        if stored.fingerprint != self.fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was used for a different request; "
                "use a new key for a new request"
            )
        return int(stored.status_code or 200), stored.response

    async def remember(self, status_code: int, body: Any) -> None:
        stored = await self.session.get(IdempotencyKey, (self.principal, self.key))
        assert stored is not None  # claimed by replay() in this transaction
        stored.status_code = status_code
        stored.response = body


async def forget_older_than(session: AsyncSession, hours: int) -> int:
    cutoff = func.now() - timedelta(hours=hours)
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at < cutoff)
        .returning(IdempotencyKey.key)
    )
    return len(result.all())


async def run_once(
    session: AsyncSession,
    principal: str,
    key: str | None,
    request: str,
    produce: Callable[[], Awaitable[tuple[int, BaseModel]]],
) -> Response:
    """Answer `produce()`'s (status, body), or the stored answer to an earlier use of `key`."""
    if key is None:
        status, body = await produce()
        return Response(body.model_dump_json(), status_code=status, media_type=JSON)
    once = Idempotency(session, principal, key, request)
    replayed = await once.replay()
    if replayed is not None:
        status, content = replayed
        return JSONResponse(content, status_code=status, headers={"Idempotent-Replayed": "true"})
    status, body = await produce()
    await once.remember(status, body.model_dump(mode="json"))
    return Response(body.model_dump_json(), status_code=status, media_type=JSON)


def idempotency_cleanup(
    sessionmaker: async_sessionmaker[AsyncSession], ttl_hours: int
) -> PeriodicJob:
    """Hourly: forget keys older than FEEDBACK_IDEMPOTENCY_TTL_HOURS (leader-elected)."""

    async def tick() -> None:
        await run_as_leader(
            sessionmaker, "idempotency-cleanup", lambda s: forget_older_than(s, ttl_hours)
        )

    return PeriodicJob("idempotency-cleanup", 3600, tick)
