"""Sending one webhook body: the only HTTP the alerts make (httpx)."""

from __future__ import annotations

from typing import Any

import httpx

from feedback_api import __version__


class WebhookError(Exception):
    """The receiver did not take the body; the message says why (kept with the delivery)."""


class WebhookSender:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    async def send(self, client: httpx.AsyncClient, body: dict[str, Any]) -> None:
        try:
            response = await client.post(
                self.url,
                json=body,
                timeout=self.timeout,
                headers={"User-Agent": f"feedback-api/{__version__}"},
            )
        except httpx.HTTPError as exc:
            # Never the URL itself in the message: it carries the webhook's secret.
            raise WebhookError(f"{type(exc).__name__}: the webhook did not answer") from None
        if not response.is_success:
            raise WebhookError(f"the webhook answered {response.status_code}")
