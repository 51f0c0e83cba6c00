"""What an export takes (its window and filters, its format and label source) and the SQL
expressions every part of it shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Text, and_, cast, func

from feedback_api.interactions.models import Interaction

FORMATS = ("weighted", "openai", "kto", "dpo", "openai-dpo")
Format = Literal["weighted", "openai", "kto", "dpo", "openai-dpo"]
PAIRED = ("dpo", "openai-dpo")

# Where an example's label comes from: its users' votes, its reviewers' consensus, or the
# consensus where there is one and the votes elsewhere (docs/exports.md).
LABEL_SOURCES = ("votes", "reviews", "both")
LabelSource = Literal["votes", "reviews", "both"]


@dataclass(frozen=True)
class Selection:
    """Which feedback goes into an export: votes cast (and review consensus reached) in
    [since, until), on exchanges that match the filters."""

    since: datetime
    until: datetime
    model: str | None = None
    intent: str | None = None
    project: str | None = None

    def filters(self) -> dict[str, str]:
        return {k: v for k in ("model", "intent", "project") if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class Shape:
    """How examples are written, and labelled."""

    format: Format = "weighted"
    positive_weight: float = 2.0
    negative_weight: float = 0.5
    include_negative: bool = False  # openai: keep thumbs-down answers with weight 0
    split_by: Literal["session", "user"] = "session"
    use_corrections: bool = True  # a thumbs-down's correction is an example of its own
    label_source: LabelSource = "both"

    @property
    def votes(self) -> bool:
        """Whether answers without a review consensus are labelled by their votes."""
        return self.label_source != "reviews"

    @property
    def reviews(self) -> bool:
        """Whether review consensus labels answers."""
        return self.label_source != "votes"


SYSTEM_PROMPT = Interaction.meta["system_prompt"].astext


def has_text(value: Any) -> ColumnElement[bool]:
    """Not empty and not only whitespace: something a model can learn from."""
    return cast(value.regexp_match(r"\S"), Text) == "true"


def digest(*texts: Any) -> Any:
    """A 128-bit digest of several texts (NULL and '' apart): the group key of an example.

    Grouping by the digest rather than by the texts keeps each group's state a few dozen
    bytes, so PostgreSQL hashes a week of votes without sorting their texts; the texts are
    read once per example afterwards, from one representative row (`rep`).
    """
    return func.md5(cast(func.row(*texts), Text))


def matches(selection: Selection, exchange: Any = Interaction) -> list[ColumnElement[bool]]:
    """The exchange meets the selection's filters."""
    return [getattr(exchange, k) == v for k, v in selection.filters().items()]


def in_window(selection: Selection, instant: Any) -> ColumnElement[bool]:
    return and_(instant >= selection.since, instant < selection.until)
