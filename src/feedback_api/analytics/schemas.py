from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, computed_field


class AccuracyItem(BaseModel):
    model: str | None = None
    intent: str | None = None
    project: str | None = None
    total: int = Field(description="Votes in the group.")
    positive: int
    negative: int
    accuracy: float = Field(description="positive / total.")
    accuracy_ci_low: float = Field(description="Wilson score interval at 95 %, lower bound.")
    accuracy_ci_high: float
    avg_stars: float | None
    last_feedback_at: datetime | None


class AccuracyReport(BaseModel):
    as_of: datetime | None = Field(description="When the figures were refreshed.")
    group_by: list[str]
    min_total: int
    items: list[AccuracyItem]


class Window(BaseModel):
    since: datetime
    until: datetime
    days: float


class FeedbackStats(BaseModel):
    as_of: datetime | None
    window: Window
    model: str | None
    intent: str | None
    project: str | None
    total_feedback: int
    positive: int
    negative: int
    positive_pct: float | None = Field(description="0-100; null without feedback.")
    negative_pct: float | None
    corrections: int = Field(description="Votes that carry a correction.")
    unique_voters: int = Field(description="People who voted (distinct user ids) in the window.")
    unique_sessions: int
    avg_memory_used: float | None
    avg_response_time_ms: float | None
    avg_stars: float | None

    @computed_field(  # type: ignore[prop-decorator]
        description="Deprecated: the same number as unique_voters, under its old name; removed in "
        "the next release.",
        # Marked in the OpenAPI schema only: `deprecated=` would warn at every response.
        json_schema_extra={"deprecated": True},
    )
    @property
    def unique_users(self) -> int:
        return self.unique_voters


class DailyItem(BaseModel):
    date: date
    total_queries: int
    feedback_count: int
    feedback_rate: float | None = Field(
        description="Share of the day's interactions with at least one vote (0-1), the "
        "weekly report's feedback_rate over one day."
    )
    positive: int
    negative: int
    corrections: int = Field(description="Votes on the day's answers that carry a correction.")
    positive_ratio: float | None = Field(description="positive / (positive + negative).")
    avg_response_time_ms: float | None
    p95_response_time_ms: float | None
    unique_askers: int = Field(description="People who asked (distinct user ids) that day.")

    @computed_field(  # type: ignore[prop-decorator]
        description="Deprecated: the same number as unique_askers, under its old name; removed in "
        "the next release.",
        # Marked in the OpenAPI schema only: `deprecated=` would warn at every response.
        json_schema_extra={"deprecated": True},
    )
    @property
    def unique_users(self) -> int:
        return self.unique_askers


class DailyMetrics(BaseModel):
    as_of: datetime | None
    since: date
    until: date
    items: list[DailyItem]


class Dimension(StrEnum):
    model = "model"
    intent = "intent"
    project = "project"


class Basis(StrEnum):
    """What /v1/metrics/compare compares: the voted accuracies (as of the last refresh) or
    the estimated ones (PPI++ over a window, docs/review.md)."""

    votes = "votes"
    estimated = "estimated"


class DailySeries(BaseModel):
    """One group's days; only the dimension grouped by is present (null: no value)."""

    model: str | None = None
    intent: str | None = None
    project: str | None = None
    items: list[DailyItem]


class GroupedDailyMetrics(BaseModel):
    """`GET /v1/metrics/daily?group_by=...`: a series per value, most votes first."""

    as_of: datetime | None
    since: date
    until: date
    group_by: Dimension
    series: list[DailySeries]


class TopQuery(BaseModel):
    query: str
    count: int


class TopQueries(BaseModel):
    as_of: datetime | None
    days: int
    items: list[TopQuery]


class ModelFigures(BaseModel):
    model: str
    total: int
    positive: int
    negative: int
    accuracy: float
    accuracy_ci_low: float
    accuracy_ci_high: float


class Comparison(BaseModel):
    basis: Literal["votes"] = Field(default="votes", description="What is compared: votes.")
    as_of: datetime | None
    intent: str | None
    project: str | None
    model_a: ModelFigures
    model_b: ModelFigures
    difference: float = Field(description="accuracy of model_a minus that of model_b.")
    difference_ci_low: float = Field(description="95 % interval of the difference (Newcombe).")
    difference_ci_high: float
    z: float
    p_value: float = Field(
        description="Two-sided pooled two-proportion z-test (1.0 when both sides are unanimous)."
    )
    significant: bool = Field(description="p_value < alpha.")
    alpha: float


class RefreshResult(BaseModel):
    as_of: datetime
    duration_ms: float
    full: bool = Field(description="Whether every rollup was rebuilt from the tables.")


class ReasonItem(BaseModel):
    reason: str
    model: str | None = Field(description="null: all models of the slice.")
    up_votes: int
    down_votes: int
    share_of_down_votes: float | None = Field(
        description="down_votes / every down-vote of the slice (with or without a reason), "
        "votes counted on the UTC day of the answer voted on, like /v1/metrics/daily; null "
        "without down-votes. Over a week's days: the weekly report's share_of_downvotes."
    )


class DayWindow(BaseModel):
    since: date = Field(description="First UTC day, included.")
    until: date = Field(description="Last UTC day, included.")
    days: int


class ReasonMetrics(BaseModel):
    as_of: datetime | None = Field(description="When the figures were refreshed.")
    window: DayWindow
    items: list[ReasonItem] = Field(
        description="Per reason and model, then for all models (model null); a vote counts "
        "once for each of its reasons, on the UTC day of the answer voted on (a vote cast "
        "today on an answer of 3 days ago counts 3 days ago, as in /v1/metrics/daily)."
    )
