"""All SQL of the alerts: the alerts and the webhook outbox.

The votes per segment come from the analytics' rollup (AnalyticsRepository.segment_votes).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.alerts.models import OPEN, Alert, AlertDelivery
from feedback_api.kit.db import ReadSession
from feedback_api.kit.models import new_id


class AlertRepository:
    """The alerts' reads (any session, a read replica's included)."""

    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def now(self) -> datetime:
        value: datetime = (await self.session.execute(select(func.now()))).scalar_one()
        return value

    async def alerts(self, status: str | None, limit: int) -> list[Alert]:
        """Newest first; `status` None: open and resolved."""
        stmt = select(Alert).order_by(Alert.opened_at.desc(), Alert.id).limit(limit)
        if status is not None:
            stmt = stmt.where(Alert.status == status)
        return list((await self.session.execute(stmt)).scalars())

    async def active_between(self, start: datetime, end: datetime) -> list[Alert]:
        """Alerts open at some moment of [start, end): opened before its end, and not
        resolved before its start."""
        stmt = (
            select(Alert)
            .where(
                Alert.opened_at < end,
                Alert.resolved_at.is_(None) | (Alert.resolved_at >= start),
            )
            .order_by(Alert.opened_at, Alert.model, Alert.intent, Alert.project)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def open_count(self) -> int:
        stmt = select(func.count()).select_from(Alert).where(Alert.status == OPEN)
        return int(await self.session.scalar(stmt) or 0)


class AlertWriter:
    """The evaluation's and the delivery job's writes, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_alerts(self) -> list[Alert]:
        stmt = select(Alert).where(Alert.status == OPEN).with_for_update()
        return list((await self.session.execute(stmt)).scalars())

    async def open_alert(self, values: dict[str, Any]) -> Alert | None:
        """Insert an open alert; None when the segment has one already (the unique index)."""
        stmt = insert(Alert).values(id=new_id(), **values).on_conflict_do_nothing().returning(Alert)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def flush(self) -> None:
        await self.session.flush()

    async def enqueue(self, alert_id: uuid.UUID, event: str, payload: dict[str, Any]) -> None:
        self.session.add(
            AlertDelivery(
                alert_id=alert_id, event=event, payload=payload, next_attempt_at=func.now()
            )
        )

    async def due_delivery(self, max_attempts: int) -> AlertDelivery | None:
        """The oldest delivery due now, locked; one another transaction holds is skipped."""
        stmt = (
            select(AlertDelivery)
            .where(
                AlertDelivery.delivered_at.is_(None),
                AlertDelivery.next_attempt_at <= func.now(),
                AlertDelivery.attempts < max_attempts,
            )
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def mark_delivered(self, delivery_id: int) -> None:
        await self.session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id)
            .values(delivered_at=func.now(), attempts=AlertDelivery.attempts + 1, last_error=None)
        )

    async def mark_failed(self, delivery_id: int, error: str, retry_in_seconds: float) -> None:
        await self.session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id)
            .values(
                attempts=AlertDelivery.attempts + 1,
                last_error=error[:1000],
                next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, retry_in_seconds),
            )
        )
