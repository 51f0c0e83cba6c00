from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from feedback_api.exports import WEIGHT_MAX
from feedback_api.exports.repository import Format, LabelSource
from feedback_api.kit.fields import Label, instant_in_utc_years
from feedback_api.kit.time import MAX_DAYS


def _day_or_instant(value: Any) -> Any:
    # "2026-11-02" is a whole day; "2026-11-02T00:00:00Z" an instant. Pydantic alone would
    # read both as midnight and lose the difference for an inclusive end_date. Both are
    # decided here: an instant pydantic's union refused (outside the years 1-9999 in UTC)
    # would be read again as the day it starts with.
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        # A day's window ends at the next midnight, which 9999-12-31 does not have.
        if day == date.max:
            raise ValueError("9999-12-31 is the last day there is: send a day up to 9999-12-30")
        return day
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return value  # pydantic says what is wrong with it
    return instant_in_utc_years(instant)


DayOrInstant = Annotated[datetime | date, BeforeValidator(_day_or_instant)]


class FinetuningExportRequest(BaseModel):
    """A window (`days`, or `start_date`/`end_date`), a format, optional filters."""

    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="Votes of the last N days."
    )
    start_date: DayOrInstant | None = Field(default=None, description="Inclusive.")
    end_date: DayOrInstant | None = Field(
        default=None, description="A date is inclusive (the whole day); a time is exclusive."
    )
    format: Format = "weighted"
    model: Label | None = None
    intent: Label | None = None
    project: Label | None = None
    # allow_inf_nan=False: NaN is refused as not a number, not as out of range.
    positive_weight: float | None = Field(
        default=None, gt=0, le=WEIGHT_MAX, allow_inf_nan=False, description="weighted"
    )
    negative_weight: float | None = Field(
        default=None, ge=0, le=WEIGHT_MAX, allow_inf_nan=False, description="weighted"
    )
    include_negative: bool = Field(
        default=False, description="openai: keep thumbs-down answers with assistant weight 0."
    )
    use_corrections: bool = Field(
        default=True,
        description="Turn the corrections given with thumbs-down votes into examples of "
        "their own (positive answers; in dpo / openai-dpo, chosen against the answer).",
    )
    label_source: LabelSource = Field(
        default="both",
        description="What labels an answer: `votes` (its users' votes), `reviews` (only answers "
        "with a review consensus, labelled by it) or `both` (the consensus where there is "
        "one, else the votes; answers waiting for adjudication are left out).",
    )
    output_path: str | None = Field(
        default=None, description="Not supported: the server streams the file to you."
    )
    redact: bool = Field(
        default=True,
        description="Replace personal data and secrets in the texts by typed placeholders "
        "(<EMAIL_1>). false writes them as users sent them, and needs the admin scope.",
    )

    @field_validator("output_path")
    @classmethod
    def _no_server_paths(cls, value: str | None) -> None:
        if value is not None:
            raise ValueError(
                "the server never writes to a path you choose; it streams the dataset in the "
                "response: save the body (or use `feedback-api export finetuning -o FILE`)"
            )
        return None


class Redactions(BaseModel):
    examples: int = Field(description="Examples (lines) with at least one redaction.")
    by_type: dict[str, int] = Field(
        description="Placeholders written per entity type (EMAIL, PHONE, ...)."
    )


class ExportSummary(BaseModel):
    format: str
    since: datetime
    until: datetime
    filters: dict[str, str]
    examples: int
    positives: int = Field(description="Examples whose votes are mostly thumbs up.")
    negatives: int
    pairs: int = Field(description="dpo / openai-dpo: chosen-rejected pairs of answers.")
    corrections: int = Field(
        description="Examples made of users' corrections (apart from positives and pairs): "
        "a positive answer, or in dpo / openai-dpo the chosen side against the answer voted "
        "down."
    )
    skipped_ties: int = Field(description="Examples with as many up as down votes, left out.")
    skipped_empty: int = Field(
        description="Examples whose question or answer is empty or only whitespace, left out."
    )
    desirable_weight: float | None = Field(description="For TRL's KTOTrainer.")
    undesirable_weight: float | None
    label_source: str = Field(description="votes, reviews or both.")
    from_votes: int = Field(description="Examples (or pairs) labelled by users' votes.")
    from_reviews: int = Field(
        description="Examples (or pairs) labelled by a review consensus, reviewers' "
        "corrections included."
    )
    skipped_disagreement: int = Field(
        description="Examples left out because a review queue waits for an admin's "
        "adjudication, or two queues reached different verdicts."
    )
    redacted: bool = Field(
        default=True, description="Personal data and secrets replaced by placeholders."
    )
    redactions: Redactions | None = Field(
        default=None, description="What redaction replaced (None when nothing is redacted)."
    )


class ExportRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    trigger: str
    format: str
    iso_week: str | None
    window_start: datetime
    window_end: datetime
    filters: dict[str, Any]
    examples: int
    positives: int
    negatives: int
    pairs: int
    skipped_ties: int
    desirable_weight: float | None
    undesirable_weight: float | None
    label_source: str
    from_votes: int
    from_reviews: int
    skipped_disagreement: int
    size_bytes: int
    sha256: str
    file_name: str
    redacted: bool
    redactions: Redactions | None
    created_at: datetime


class ExportRuns(BaseModel):
    items: list[ExportRunOut]
