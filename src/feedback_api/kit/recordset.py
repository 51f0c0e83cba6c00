"""Many rows as one JSON parameter: the set-wise statements' input (votes, exchanges)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    DefaultClause,
    FromClause,
    bindparam,
    column,
    func,
    literal_column,
)
from sqlalchemy.sql.expression import TableValuedAlias


def json_recordset(name: str, columns: Iterable[Column[Any]]) -> TableValuedAlias:
    """`json_to_recordset(:name) AS name_rows(column type, ...)`: rows as one JSON document.

    One parameter whatever the number of rows, so the statement (and its prepared plan) is the
    same for every group, and encoding it is one C-level `json.dumps`; an array parameter per
    column is checked element by element in Python by asyncpg (docs/benchmarks.md).
    """
    return (
        func.json_to_recordset(bindparam(name, type_=JSON))
        .table_valued(*(column(c.name, c.type) for c in columns))
        .render_derived(name=f"{name}_rows", with_types=True)
    )


def value_or_default(rows: FromClause, column_: Column[Any]) -> ColumnElement[Any]:
    """A row's value for `column_`, or the column's server default where the row has none
    (a JSON row leaves out what the client did not send)."""
    default = column_.server_default
    if not isinstance(default, DefaultClause):
        return rows.c[column_.name]
    arg = default.arg
    return func.coalesce(rows.c[column_.name], literal_column(arg) if isinstance(arg, str) else arg)


def json_row(id_text: str, values: dict[str, Any]) -> dict[str, Any]:
    """One row of a recordset: its id (as text) and its values, a client's time as ISO 8601."""
    row = {"id": id_text, **values}
    if row.get("created_at") is not None:  # a time the client gave: ISO 8601, with its zone
        row["created_at"] = row["created_at"].isoformat()
    return row
