"""The alerts' background work: the evaluation after each refresh, and webhook delivery.

The evaluation runs in the refresher's transaction (analytics/refresher.py calls
`evaluate_after_refresh`), so an alert that opens or resolves and its outbox row commit
with the figures that caused them. Delivery is a job of its own, leader-elected under its
own lock: a slow or dead webhook never holds up a refresh, and at most one replica sends.
"""

from __future__ import annotations

import logging

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.alerts.repository import AlertRepository, AlertWriter
from feedback_api.alerts.service import AlertRules, AlertService, Evaluation
from feedback_api.alerts.webhook import WebhookError, WebhookSender
from feedback_api.analytics.repository import AnalyticsRepository
from feedback_api.config import Settings
from feedback_api.kit.jobs import PeriodicJob, run_as_leader

logger = logging.getLogger(__name__)

DELIVERY_JOB = "alert-webhook"
# Deliveries sent per tick at most: each in a transaction of its own, so a tick with a
# backlog still gives the lock back now and then.
DELIVERIES_PER_TICK = 100


async def evaluate_after_refresh(session: AsyncSession, settings: Settings) -> Evaluation | None:
    if not settings.alerts_enabled:
        return None
    service = AlertService(
        AnalyticsRepository(session),
        AlertRepository(session),
        AlertWriter(session),
        AlertRules.from_settings(settings),
        notify=settings.alert_webhook_url is not None,
    )
    try:
        # A savepoint: should the evaluation fail, the refresh it follows still commits.
        async with session.begin_nested():
            result = await service.evaluate()
    except Exception:
        logger.exception("alerts: the evaluation failed; the next refresh tries again")
        return None
    if result.opened or result.resolved:
        logger.info(
            "alerts: %d segments tested, %d opened, %d resolved, %d still open",
            result.tested, len(result.opened), len(result.resolved), result.still_open,
        )  # fmt: skip
    return result


def retry_delay(attempts: int, settings: Settings) -> float:
    """Exponential backoff: the first retry after retry_seconds, then twice as long each time."""
    delay = settings.alert_webhook_retry_seconds * 2 ** max(0, attempts - 1)
    return float(min(delay, settings.alert_webhook_retry_max_seconds))


async def deliver_one(
    session: AsyncSession, sender: WebhookSender, client: httpx.AsyncClient, settings: Settings
) -> bool:
    """Send the oldest due delivery, and record the outcome; False when none is due."""
    writer = AlertWriter(session)
    delivery = await writer.due_delivery(settings.alert_webhook_max_attempts)
    if delivery is None:
        return False
    try:
        await sender.send(client, delivery.payload)
    except WebhookError as exc:
        attempts = delivery.attempts + 1
        if attempts >= settings.alert_webhook_max_attempts:
            logger.error("alert webhook: giving up on delivery %d: %s", delivery.id, exc)
        else:
            logger.warning("alert webhook: delivery %d failed (%s); retrying", delivery.id, exc)
        await writer.mark_failed(delivery.id, str(exc), retry_delay(attempts, settings))
    else:
        await writer.mark_delivered(delivery.id)
    return True


def webhook_delivery(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> PeriodicJob:
    assert settings.alert_webhook_url is not None
    sender = WebhookSender(
        settings.alert_webhook_url.get_secret_value(), settings.alert_webhook_timeout_seconds
    )

    async def tick() -> None:
        async with httpx.AsyncClient() as client:

            async def job(session: AsyncSession) -> bool:
                return await deliver_one(session, sender, client, settings)

            for _ in range(DELIVERIES_PER_TICK):
                # One transaction per delivery: marked delivered as soon as it is.
                ran, sent = await run_as_leader(sessionmaker, DELIVERY_JOB, job)
                if not ran or not sent:
                    return

    return PeriodicJob(DELIVERY_JOB, settings.alert_webhook_interval_seconds, tick)
