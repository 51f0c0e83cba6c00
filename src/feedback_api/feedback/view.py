"""The feedback-with-context view: what a vote shows (every column it has, and its
exchange's), as GET answers and the vote statement returns it."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, FromClause, Table

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
