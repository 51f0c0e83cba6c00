from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StatusFilter(StrEnum):
    open = "open"
    resolved = "resolved"
    all = "all"


class AlertOut(BaseModel):
    """A regression alert, as GET /v1/alerts, the webhook and the weekly report give it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    model: str
    intent: str | None = Field(description="Null when the segment is not per intent.")
    project: str | None = Field(description="Null when the segment is not per project.")
    status: Literal["open", "resolved"]
    baseline_rate: float = Field(description="Positive share of the baseline window's votes.")
    baseline_ci_low: float = Field(description="Wilson score interval at 95 %, lower bound.")
    baseline_ci_high: float
    recent_rate: float = Field(description="Positive share of the recent window's votes.")
    recent_ci_low: float
    recent_ci_high: float
    baseline_votes: int
    recent_votes: int
    p_value: float = Field(
        description="One-sided two-proportion z-test of a drop (before the FDR control)."
    )
    opened_at: datetime
    resolved_at: datetime | None


class AlertList(BaseModel):
    items: list[AlertOut]
    recent_days: int = Field(description="The recent window the service compares now (days).")
    baseline_days: int = Field(description="The baseline window just before it (days).")


class WebhookBody(BaseModel):
    """What the webhook receives: Slack and Mattermost incoming webhooks read `text`."""

    text: str
    alert: AlertOut
