"""Offline analysis files: interactions joined with their latest vote, as CSV, JSON Lines
or Parquet, streamed batch by batch.

Each batch is turned into columns first (`zip(*rows)`, in C): a column's values are
converted by one `map` (the id to text, the JSON columns to JSON text), CSV's cells a column
at a time, and Parquet's columns are handed to Arrow whole, without a dict per row.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from feedback_api.exports.lines import json_text
from feedback_api.exports.repository import ExportRepository, interactions_query
from feedback_api.privacy.redaction.rows import redacted

if TYPE_CHECKING:
    from feedback_api.privacy.redaction.redactor import Redactor

# The columns of every offline file, in order, each with its type: the name of an
# interactions column, of one of the latest vote's or of the answer's review consensus
# (`interactions_query`). A `json` column is JSON text in CSV and Parquet, a list one JSON
# text in CSV; the id is written as text.
OFFLINE_COLUMNS = {
    "id": "uuid", "request_id": "string", "created_at": "timestamp", "model": "string",
    "intent": "string", "project": "string", "user_id": "string", "session_id": "string",
    "query": "string", "response": "string", "response_time_ms": "int32",
    "memory_used": "float64", "tools_called": "list<string>", "sources_used": "json",
    "metadata": "json", "feedback_count": "int64", "is_helpful": "bool", "stars": "int16",
    "reasons": "list<string>", "comment": "string", "correction": "string",
    "feedback_at": "timestamp", "review_verdict": "string", "review_consensus": "string",
}  # fmt: skip
_KINDS = list(OFFLINE_COLUMNS.values())
_ID = list(OFFLINE_COLUMNS).index("id")
_JSON_IN_CSV = [i for i, kind in enumerate(_KINDS) if kind in ("json", "list<string>")]
_JSON_IN_PARQUET = [i for i, kind in enumerate(_KINDS) if kind == "json"]
# What an offline export redacts: the texts, and every string in the tools and the JSON
# columns (the system prompt is in the metadata).
_OFFLINE_TEXTS = [
    list(OFFLINE_COLUMNS).index(name) for name in ("query", "response", "comment", "correction")
]
_OFFLINE_VALUES = [
    list(OFFLINE_COLUMNS).index(name) for name in ("tools_called", "sources_used", "metadata")
]


def _arrow_schema() -> Any:
    import pyarrow as pa  # loaded on the first Parquet export only

    types = {
        "uuid": pa.string(), "string": pa.string(), "json": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"), "int16": pa.int16(), "int32": pa.int32(),
        "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
        "list<string>": pa.list_(pa.string()),
    }  # fmt: skip
    return pa.schema([(name, types[kind]) for name, kind in OFFLINE_COLUMNS.items()])


def _json_or_none(value: Any) -> str | None:
    """A JSON column's value as JSON text (`json.dumps`), None as None (an empty cell)."""
    return None if value is None else json_text(value)


def _quoted(value: Any) -> str:
    """The id and the timestamps in a JSON line: their text (`str`: `2026-12-01
    09:30:00+00:00`, as `json.dumps(default=str)` wrote them), which holds nothing to
    escape."""
    return "null" if value is None else f'"{value}"'


# A JSON line: {"id": %s, "request_id": %s, ...} filled with each column's JSON text.
_JSONL_LINE = "{" + ", ".join(f"{json_text(name)}: %s" for name in OFFLINE_COLUMNS) + "}"
_JSONL_VALUE = [_quoted if kind in ("uuid", "timestamp") else json_text for kind in _KINDS]


def _columns(rows: Sequence[Any]) -> list[Sequence[Any]]:
    """The batch's columns, each a tuple of its values in row order."""
    return list(zip(*rows, strict=True))


class OfflineExport:
    """Interactions joined with their latest vote, as CSV, JSON Lines or Parquet."""

    media_types: ClassVar[dict[str, str]] = {
        "csv": "text/csv; charset=utf-8",
        "jsonl": "application/x-ndjson",
        "parquet": "application/vnd.apache.parquet",
    }

    def __init__(self, repository: ExportRepository, redactor: Redactor | None = None) -> None:
        self.repository = repository
        self.redactor = redactor

    async def _batches(self, fmt: str, since: datetime, until: datetime) -> AsyncIterator[Any]:
        # CSV and JSON Lines write the times as text, which PostgreSQL makes for less.
        query = interactions_query(since, until, OFFLINE_COLUMNS, times_as_text=fmt != "parquet")
        rows = self.repository.stream(query)
        async for batch in rows:
            if batch:
                yield await redacted(self.redactor, batch, _OFFLINE_TEXTS, _OFFLINE_VALUES)

    async def stream(self, fmt: str, since: datetime, until: datetime) -> AsyncIterator[bytes]:
        writer = {"csv": csv_chunks, "jsonl": jsonl_chunks}.get(fmt, parquet_chunks)
        async for chunk in writer(self._batches(fmt, since, until)):
            yield chunk


async def jsonl_chunks(batches: AsyncIterator[Sequence[Any]]) -> AsyncIterator[bytes]:
    """Each row (OFFLINE_COLUMNS) as `json.dumps(row as a dict, default=str,
    ensure_ascii=False)` writes it, a line each; batches must not be empty."""
    async for rows in batches:
        values = [list(map(f, c)) for f, c in zip(_JSONL_VALUE, _columns(rows), strict=True)]
        lines = [_JSONL_LINE % line for line in zip(*values, strict=True)]
        yield ("\n".join(lines) + "\n").encode()


def _csv_text(value: str | None) -> str:
    """A text cell as `csv.writer` (QUOTE_MINIMAL) writes it: in quotes, its own quotes
    doubled, when it holds a comma, a quote or a line break; None empty."""
    if value is None:
        return ""
    if '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if "," in value or "\n" in value or "\r" in value:
        return '"' + value + '"'
    return value


def _csv_texts(column: Sequence[str | None]) -> list[str]:
    """A column of text cells (`_csv_text`): most columns (models, intents, ids) need no
    quotes anywhere, which one search of the column's joined text tells."""
    joined = "\x1f".join(filter(None, column))
    if '"' in joined or "," in joined or "\n" in joined or "\r" in joined:
        return list(map(_csv_text, column))
    return [value or "" for value in column]


def _csv_plain(column: Sequence[Any]) -> list[str]:
    """A column of values whose text never needs quotes (ids, times, numbers, booleans):
    `str()` of each, as `csv.writer` writes them (a float's `str` is its `repr`)."""
    return ["" if value is None else str(value) for value in column]


# How each kind of column becomes its CSV cells.
_CSV_CELLS = [
    _csv_texts if kind in ("string", "json", "list<string>") else _csv_plain for kind in _KINDS
]
_CSV_HEADER = ",".join(OFFLINE_COLUMNS) + "\r\n"


async def csv_chunks(batches: AsyncIterator[Sequence[Any]]) -> AsyncIterator[bytes]:
    """A header, then each row (OFFLINE_COLUMNS) as `csv.writer` writes it (QUOTE_MINIMAL,
    lines ended by CRLF), the JSON and list columns as JSON text; batches must not be empty.

    Written here, not by `csv.writer`: CPython's writer looks up every character of every
    cell in the line terminator by a function call, a fifth of a CSV export's CPU
    (docs/benchmarks/exports.md). The cells are made a column at a time and joined in C; the bytes
    are `csv.writer`'s (tests/exports/test_lines.py)."""
    yield _CSV_HEADER.encode()
    async for rows in batches:
        columns = _columns(rows)
        for i in _JSON_IN_CSV:
            columns[i] = list(map(_json_or_none, columns[i]))
        cells = [cells_of(column) for cells_of, column in zip(_CSV_CELLS, columns, strict=True)]
        yield ("\r\n".join(map(",".join, zip(*cells, strict=True))) + "\r\n").encode()


async def parquet_chunks(batches: AsyncIterator[Sequence[Any]]) -> AsyncIterator[bytes]:
    """A Parquet file of the rows (OFFLINE_COLUMNS, `_arrow_schema`), handed out as it is
    written, a row group a batch; batches must not be empty."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema()
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, schema)
    async for rows in batches:
        columns = _columns(rows)
        columns[_ID] = list(map(str, columns[_ID]))
        for i in _JSON_IN_PARQUET:
            columns[i] = list(map(_json_or_none, columns[i]))
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)]
        # A row group a batch (5,000 rows): smaller groups measured no less memory, the
        # growth of a first Parquet export being pyarrow's own loading (docs/benchmarks/exports.md).
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        yield sink.take()
    writer.close()
    yield sink.take()


class _Chunks(io.RawIOBase):
    """A write-only file whose contents are handed out as they are written."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
