"""Reasons: the labels a vote may carry, and a project's label set.

The rules live here once: for FEEDBACK_REASONS, for `PUT /v1/projects/{project}/reasons`
and for the reasons of a vote.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from feedback_api.kit.fields import storable_text

DEFAULT_REASONS = ("incorrect", "incomplete", "unsafe", "off_topic", "too_long", "other")
MAX_LABELS = 50
MAX_LABEL_LENGTH = 40
MAX_VOTE_REASONS = 10
_LABEL = re.compile(rf"[a-z0-9_]{{1,{MAX_LABEL_LENGTH}}}")


def check_label_set(labels: list[str]) -> list[str]:
    """A label set as given, or ValueError with the rule it breaks."""
    if not labels:
        raise ValueError("a label set needs at least one label")
    if len(labels) > MAX_LABELS:
        raise ValueError(f"a label set has at most {MAX_LABELS} labels; got {len(labels)}")
    for index, label in enumerate(labels):
        if not _LABEL.fullmatch(label):
            what = "an empty label" if not label.strip() else f"{label!r} is not a label"
            raise ValueError(
                f"label {index + 1}: {what}; a label is 1-{MAX_LABEL_LENGTH} lowercase letters, "
                "digits or _ (e.g. off_topic)"
            )
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise ValueError(f"{label!r} is in the label set twice; list each label once")
        seen.add(label)
    return labels


def _merge(reasons: list[str]) -> list[str]:
    merged = list(dict.fromkeys(reasons))  # duplicates within one vote count once, in order
    if len(merged) > MAX_VOTE_REASONS:
        raise ValueError(
            f"a vote has at most {MAX_VOTE_REASONS} reasons; got {len(merged)} different ones"
        )
    return merged


# Any short text: whether it is a label of the project's set is checked against that set, so
# that the answer can list the labels that are allowed.
ReasonText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LABEL_LENGTH),
    AfterValidator(storable_text),
]
VoteReasons = Annotated[
    list[ReasonText],
    Field(
        max_length=10 * MAX_VOTE_REASONS,
        description=f"Up to {MAX_VOTE_REASONS} labels of the project's label set "
        "(GET /v1/projects/{project}/reasons); duplicates are merged.",
    ),
    AfterValidator(_merge),
]
LabelSet = Annotated[list[str], AfterValidator(check_label_set)]


class ReasonSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reasons: LabelSet = Field(
        description=f"1-{MAX_LABELS} labels, each 1-{MAX_LABEL_LENGTH} lowercase letters, "
        "digits or _; listed once each."
    )


class ReasonSetOut(BaseModel):
    project: str
    reasons: list[str]
    source: Literal["project", "default"] = Field(
        description="project: the project's own set; default: FEEDBACK_REASONS."
    )
