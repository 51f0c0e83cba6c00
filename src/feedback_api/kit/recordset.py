"""Many rows as one JSON parameter: the set-wise statements' input (votes, exchanges)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ConfigDict, TypeAdapter
from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    DefaultClause,
    Float,
    FromClause,
    Integer,
    String,
    Uuid,
    bindparam,
    column,
    func,
    literal_column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import TableValuedAlias
from sqlalchemy.types import TypeEngine, UserDefinedType
from typing_extensions import TypedDict


def json_recordset(name: str, columns: Iterable[Column[Any]]) -> TableValuedAlias:
    """`json_to_recordset(:name) AS name_rows(column type, ...)`: rows as one JSON document.

    One parameter whatever the number of rows, so the statement (and its prepared plan) is the
    same for every group, and encoding it is one call (`JsonRows`); an array parameter per
    column would have asyncpg check each element in Python.
    """
    columns = list(columns)
    fields = tuple((c.name, _python_type(c.type)) for c in columns)
    return (
        func.json_to_recordset(bindparam(name, type_=JsonRows(fields)))
        .table_valued(*(column(c.name, c.type) for c in columns))
        .render_derived(name=f"{name}_rows", with_types=True)
    )


def _python_type(sql_type: TypeEngine[Any]) -> Any:
    """What a row's value for a column of `sql_type` is in Python: ids and times as text
    (`json_row`), JSON values anything."""
    if isinstance(sql_type, String | Uuid | DateTime):
        return str
    if isinstance(sql_type, Boolean):
        return bool
    if isinstance(sql_type, Integer):
        return int
    if isinstance(sql_type, Float):
        return float
    if isinstance(sql_type, ARRAY) and isinstance(sql_type.item_type, String):
        return list[str]
    return Any


class JsonRows(UserDefinedType[list[dict[str, Any]]]):
    """A recordset's rows as a JSON parameter, written by pydantic's serializer from the
    rows' declared fields (`fields`: each column's name and Python type; every one may be
    missing or None; "id" is text).

    Typed, the serializer writes each value by its field's type: a third of the
    instructions `json.dumps` takes for the rows of a vote (docs/benchmarks/ingest.md). A value of
    another type is written as its own type (no warning), a float that is not a number as
    `json.dumps` writes it; rows it cannot write (a text with half of a UTF-16 pair) are
    written by `json.dumps`, as before. A key that names no column is left out, as
    `json_to_recordset` would ignore it. No cast in the SQL: `json_to_recordset` takes json.
    """

    cache_ok = True

    def __init__(self, fields: tuple[tuple[str, Any], ...]) -> None:
        self.fields = fields
        annotations = {"id": str | None, **{n: t | None for n, t in fields}}
        row: Any = TypedDict("Row", annotations, total=False)  # type: ignore[misc]
        self._rows = TypeAdapter(list[row], config=ConfigDict(ser_json_inf_nan="constants"))

    def get_col_spec(self, **kw: Any) -> str:
        return "JSON"

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str]:
        dump = self._rows.dump_json

        def process(rows: Any) -> str:
            try:
                return dump(rows, warnings=False).decode()
            except ValueError:
                return json.dumps(rows)

        return process


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
