"""The weekly model-performance report (its JSON form; markdown and HTML render the same)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from feedback_api.alerts.schemas import AlertOut
from feedback_api.review.estimated.schemas import EstimatedAccuracyItem
from feedback_api.review.schemas import ReviewWeek


class Accuracy(BaseModel):
    votes: int
    positive: int
    accuracy: float = Field(description="positive / votes")
    accuracy_ci_low: float = Field(description="Wilson score interval, 95 %")
    accuracy_ci_high: float


class Change(BaseModel):
    """This week's accuracy against the previous week's, with the two-proportion test."""

    previous: Accuracy
    difference: float = Field(description="this week's accuracy minus last week's")
    difference_ci_low: float
    difference_ci_high: float
    p_value: float
    significant: bool = Field(description="p_value < alpha: a real change, not noise")


class IntentAccuracy(Accuracy):
    intent: str | None


class DownvotedQuestion(BaseModel):
    query: str
    downvotes: int
    votes: int
    last_comment: str | None = Field(description="The latest comment left with a down-vote.")


class DownvoteReason(BaseModel):
    reason: str
    downvotes: int = Field(description="Down-votes that gave this reason (a vote may give many)")
    share_of_downvotes: float = Field(
        description="Of all the model's down-votes on this week's answers (by the answer's "
        "day, like every figure of the report): /v1/metrics/reasons' share_of_down_votes "
        "for the model over the week's seven days"
    )


class ModelDay(BaseModel):
    """One model's UTC day of the week: its answers and the votes on them."""

    date: date
    volume: int
    accuracy: Accuracy | None = Field(description="Null when nobody voted on that day's answers")


class ModelWeek(BaseModel):
    model: str
    volume: int = Field(description="Interactions answered by the model this week")
    feedback_rate: float | None = Field(
        description="Share of the week's interactions with at least one vote (0-1): the "
        "daily metrics' feedback_rate over the week's days"
    )
    accuracy: Accuracy | None = Field(description="Null when nobody voted")
    avg_stars: float | None
    change: Change | None = Field(description="Null when either week has no votes")
    response_time_p50_ms: float | None
    response_time_p95_ms: float | None
    worst_intents: list[IntentAccuracy] = Field(
        description="Lowest accuracy first, among intents with enough votes"
    )
    most_downvoted: list[DownvotedQuestion]
    downvotes: int = Field(description="Thumbs-down votes on the model's answers this week")
    downvote_reasons: list[DownvoteReason] = Field(
        description="Why answers were voted down: the reasons given, most frequent first"
    )
    downvotes_without_reason: int
    days: list[ModelDay] = Field(description="Monday to Sunday: the model's daily series")


class DayVolume(BaseModel):
    date: date
    volume: int
    votes: int
    positive: int


class QueueAlpha(BaseModel):
    queue: str
    items: int = Field(description="Items labelled this week that have 2 or more labels")
    krippendorff_alpha: float | None = Field(
        description="Nominal, over those items' labels; null when undefined"
    )


class EstimatedWeek(BaseModel):
    """How good the week's answers were, not only what voters said: per model, the PPI++
    estimate over the answers a random sample covered (GET /v1/metrics/estimated-accuracy
    over the week), beside the voted accuracy of the same answers."""

    models: list[EstimatedAccuracyItem] = Field(
        description="Models with answers a random-sample rule covered, busiest first"
    )
    queues: list[QueueAlpha] = Field(
        description="Each review queue's agreement on the items labelled this week"
    )


class WeeklyReport(BaseModel):
    week: str = Field(description="ISO week, e.g. 2026-W47")
    previous_week: str
    start: datetime = Field(description="Monday 00:00 UTC, inclusive")
    end: datetime = Field(description="The next Monday 00:00 UTC, exclusive")
    complete: bool = Field(description="False while the week is still running")
    generated_at: datetime
    alpha: float
    min_votes: int = Field(description="Fewest votes for an intent to be ranked")
    volume: int
    votes: int
    positive: int
    models: list[ModelWeek] = Field(description="Busiest model first")
    days: list[DayVolume]
    alerts: list[AlertOut] = Field(
        description="Regression alerts open at some time of the week, oldest first"
    )
    review: ReviewWeek | None = Field(
        default=None, description="Review queues: labels, alpha, votes against reviews per model"
    )
    estimated: EstimatedWeek | None = Field(
        default=None,
        description="Estimated accuracy (reviewed random sample and thumbs) against voted",
    )
