from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.exceptions import InvalidInput
from feedback_api.idempotency.models import IdempotencyKey


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
