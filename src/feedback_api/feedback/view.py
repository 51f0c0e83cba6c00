"""The feedback-with-context view: what a vote shows (every column it has, and its
exchange's), as GET answers and the vote statement returns it."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, FromClause, Integer, Table, Text, case, literal_column
from sqlalchemy import cast as sql_cast

from feedback_api.feedback.models import Feedback
from feedback_api.kit.models import written_columns

_feedback = cast(Table, Feedback.__table__)
# What a statement writes and an answer shows: not the columns PostgreSQL computes.
# Written by the vote statement from the vote's exchange, never sent or shown: not a column
# of the view.
_COPIED = frozenset({"exchange_words"})
FEEDBACK_COLUMNS = [c for c in written_columns(_feedback) if c.name not in _COPIED]

# What a vote shows of its interaction. With every column of the vote, this is the
# feedback-with-context view that GET answers with and the vote statement returns.
CONTEXT_COLUMNS = ("request_id", "query", "response", "model", "intent", "project", "session_id")


def view_columns(feedback: FromClause, interaction: FromClause) -> list[ColumnElement[Any]]:
    """The feedback-with-context columns, from the feedback and interaction tables or CTEs."""
    return [
        *(feedback.c[c.name] for c in FEEDBACK_COLUMNS),
        *(interaction.c[name] for name in CONTEXT_COLUMNS),
    ]


# The view in the order a vote's answer (FeedbackOut) shows its fields, with the thumb
# that `is_helpful` stores as `rating` (+1 or -1) and the ids as text: what a batch's
# statement returns, so that each row is its item's answer as it is serialized
# (feedback/schemas.py). As text, an id is written as it is; the driver's own UUID type
# costs pydantic's serializer more than a third of the answer (docs/benchmarks/ingest.md).
ANSWER_COLUMNS = (
    "id", "interaction_id", "request_id", "rating", "is_helpful", "stars", "reasons",
    "comment", "correction", "query", "response", "model", "intent", "project", "user_id",
    "session_id", "metadata", "created_at", "updated_at",
)  # fmt: skip


ID_COLUMNS = ("id", "interaction_id")


def answer_columns(feedback: FromClause, interaction: FromClause) -> list[ColumnElement[Any]]:
    """The view's columns in ANSWER_COLUMNS' order, `rating` computed from `is_helpful`,
    the ids as their canonical text (PostgreSQL writes a uuid as `str(uuid.UUID)` does)."""
    columns = {c.name: c for c in view_columns(feedback, interaction)}
    # The two values written into the SQL, not bound: no parameters to send with each group.
    up, down = literal_column("1", Integer), literal_column("-1", Integer)
    columns["rating"] = case((feedback.c.is_helpful, up), else_=down).label("rating")
    for name in ID_COLUMNS:
        columns[name] = sql_cast(feedback.c[name], Text).label(name)
    return [columns[name] for name in ANSWER_COLUMNS]
