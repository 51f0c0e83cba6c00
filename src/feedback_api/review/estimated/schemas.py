from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

GroupBy = Literal["model", "intent", "project"]
GROUP_BY: tuple[str, ...] = ("model", "intent", "project")


class EstimateWindow(BaseModel):
    since: datetime = Field(description="The answers' time, inclusive.")
    until: datetime = Field(description="The answers' time, exclusive.")


class EstimatedAccuracyItem(BaseModel):
    model: str | None = Field(default=None, description="The group (with group_by=model).")
    intent: str | None = Field(default=None, description="The group (with group_by=intent).")
    project: str | None = Field(default=None, description="The group (with group_by=project).")
    answers: int = Field(
        description="Answers of the group in the window that a random-sample rule covered: "
        "the population the estimate is about."
    )
    all_answers: int = Field(description="Every answer of the group in the window.")
    voted_answers: int = Field(description="Of `answers`, those with at least one vote.")
    votes: int = Field(description="The votes on `answers`.")
    voted_accuracy: float | None = Field(description="Thumbs-up / votes on `answers`.")
    voted_ci_low: float | None
    voted_ci_high: float | None
    sampled: int = Field(description="Random-sample items among `answers`.")
    reviewed: int = Field(description="Sampled items with a consensus verdict.")
    pending: int = Field(description="Sampled items without a verdict yet (not a tie).")
    needs_adjudication: int = Field(description="Sampled items whose labels are tied.")
    reviewed_accuracy: float | None = Field(
        description="Mean verdict (correct = 1) of the reviewed items, each weighted by "
        "1 / inclusion_probability (Hajek)."
    )
    reviewed_ci_low: float | None
    reviewed_ci_high: float | None
    estimated_accuracy: float | None = Field(
        description="PPI++ estimate of the share of correct answers among `answers`."
    )
    estimated_ci_low: float | None
    estimated_ci_high: float | None
    vote_bias: float | None = Field(description="voted_accuracy - estimated_accuracy.")
    warning: str | None = Field(
        default=None, description="Set when the estimate rests on few (or no) reviews."
    )


class EstimatedAccuracy(BaseModel):
    as_of: datetime = Field(description="When these figures were computed.")
    window: EstimateWindow
    group_by: GroupBy
    items: list[EstimatedAccuracyItem]


class EstimatedModelFigures(BaseModel):
    model: str
    answers: int = Field(description="The model's answers a random-sample rule covered.")
    reviewed: int = Field(description="Sampled answers with a consensus verdict.")
    estimated_accuracy: float = Field(description="PPI++ estimate (as estimated-accuracy).")
    estimated_ci_low: float
    estimated_ci_high: float
    standard_error: float = Field(description="Of the estimate: its interval's half-width / z.")
    voted_accuracy: float | None = Field(description="Thumbs-up / votes on the same answers.")
    vote_bias: float | None = Field(description="voted_accuracy - estimated_accuracy.")
    warning: str | None = Field(description="Set when the estimate rests on few reviews.")


class EstimatedComparison(BaseModel):
    """Two models' estimated accuracies and their difference (GET /v1/metrics/compare with
    basis=estimated)."""

    basis: Literal["estimated"] = "estimated"
    as_of: datetime
    window: EstimateWindow
    intent: str | None
    project: str | None
    model_a: EstimatedModelFigures
    model_b: EstimatedModelFigures
    difference: float = Field(description="estimated accuracy of model_a minus model_b's.")
    difference_ci_low: float = Field(
        description="95 % normal interval: difference -+ z sqrt(se_a^2 + se_b^2)."
    )
    difference_ci_high: float
    standard_error: float = Field(description="sqrt(se_a^2 + se_b^2): independent samples.")
    z: float = Field(description="difference / standard_error (0 when that is 0).")
    p_value: float = Field(description="Two-sided: erfc(|z| / sqrt 2); 1.0 when z is 0.")
    significant: bool = Field(description="p_value < alpha.")
    alpha: float
