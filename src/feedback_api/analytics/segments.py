"""The grain columns every rollup and the alerts repeat, declared once.

A segment is a model, an intent and a project (intent and project may be unknown: NULL).
A cell is a segment of `GROUP BY CUBE(model, intent, project)`: any dimension may be NULL
("all"), and `grouping` (PostgreSQL's GROUPING() bitmask: 4 all models, 2 all intents, 1
all projects) tells an "all" from an unknown value. A row's grain is unique through an
index NULLS NOT DISTINCT, so that NULL equals NULL there: `grain_index`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.analytics.buckets import DIMENSIONS


class Segment:
    """A segment: model, intent, project (the finest grain of every rollup)."""

    model: Mapped[str] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(200))


class Cell:
    """A CUBE cell: the grouping bitmask and the three dimensions, any of them NULL."""

    grouping: Mapped[int] = mapped_column(SmallInteger)
    model: Mapped[str | None] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(200))


def grain_index(
    table: str,
    *before: str,
    cell: bool = False,
    after: tuple[str, ...] = (),
    name: str | None = None,
    **kw: Any,
) -> Index:
    """The unique index of a table's grain: `before`, the segment (with `grouping` first for
    a cell), then `after`; NULLS NOT DISTINCT."""
    segment = ("grouping", *DIMENSIONS) if cell else DIMENSIONS
    return Index(
        name or f"uq_{table}_grain",
        *before,
        *segment,
        *after,
        unique=True,
        postgresql_nulls_not_distinct=True,
        **kw,
    )
