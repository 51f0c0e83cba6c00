"""The rows of a JSON recordset parameter: written by a typed serializer, read by PostgreSQL
as `json.dumps` would have written them."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Float, Integer, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, asyncpg

from feedback_api.kit.recordset import JsonRows, json_recordset

COLUMNS = [
    Column("name", Text),
    Column("count", Integer),
    Column("share", Float),
    Column("flag", Boolean),
    Column("labels", ARRAY(Text)),
    Column("extra", JSONB),
    Column("at", DateTime(timezone=True)),
]


def _writer() -> Any:
    bind = json_recordset("rows", COLUMNS).element.clauses.clauses[0]  # type: ignore[attr-defined]
    assert isinstance(bind.type, JsonRows)
    return bind.type.bind_processor(asyncpg.dialect())  # type: ignore[no-untyped-call]


def test_rows_are_the_json_that_json_dumps_writes() -> None:
    write = _writer()
    rows: list[dict[str, Any]] = [
        {"id": "0192f0c1", "name": "caf\u00e9 \u2603 \U0001f600", "count": 3, "share": 0.1},
        {"id": "x", "name": 'a\n\t"\\\x1f/', "flag": True, "labels": ["a", "b"], "at": None},
        {"name": None, "count": 10**30, "share": 1e16, "extra": {"k": [1, 2.5, None, {"n": -0.0}]}},
        # Values of another type than the column's are written as what they are.
        {"name": 7, "count": "seven", "flag": 1, "labels": "l", "extra": [True], "share": 2},
        {"at": "2026-12-05T23:00:00+00:00", "extra": "text", "unknown": {"a": 1}},
        {},
    ]
    # A key that names no column is left out: json_to_recordset reads the columns only.
    columns = {"id", *(c.name for c in COLUMNS)}
    read = [{k: v for k, v in row.items() if k in columns} for row in rows]
    for row, expected in zip(rows, read, strict=True):
        assert json.loads(write([row])) == json.loads(json.dumps([expected])), row
    assert json.loads(write(rows)) == json.loads(json.dumps(read))


def test_what_the_serializer_cannot_write_is_written_as_before() -> None:
    write = _writer()
    # A float that is not a number: as json.dumps writes it (which PostgreSQL refuses).
    nan = write([{"share": math.nan, "extra": {"x": math.inf}}])
    assert nan.replace(" ", "") == json.dumps(
        [{"share": math.nan, "extra": {"x": math.inf}}]
    ).replace(" ", "")
    # Half of a UTF-16 pair: json.dumps escapes it.
    half = [{"name": "\ud800", "extra": {"\udfff": 1}}]
    assert write(half) == json.dumps(half)
