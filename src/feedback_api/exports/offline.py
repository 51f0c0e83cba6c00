"""Offline analysis files: interactions joined with their latest vote, as CSV, JSON Lines
or Parquet, streamed batch by batch.

Each batch is turned into columns first (`zip(*rows)`, in C): a column's values are
converted by one `map` (the id to text, the JSON columns to JSON text), and CSV's rows and
Parquet's columns are handed to `csv` and Arrow whole, without a dict per row.
"""

from __future__ import annotations

import csv
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

    async def _batches(self, since: datetime, until: datetime) -> AsyncIterator[Any]:
        rows = self.repository.stream(interactions_query(since, until, OFFLINE_COLUMNS))
        async for batch in rows:
            if batch:
                yield await redacted(self.redactor, batch, _OFFLINE_TEXTS, _OFFLINE_VALUES)

    async def stream(self, fmt: str, since: datetime, until: datetime) -> AsyncIterator[bytes]:
        writer = {"csv": csv_chunks, "jsonl": jsonl_chunks}.get(fmt, parquet_chunks)
        async for chunk in writer(self._batches(since, until)):
            yield chunk


async def jsonl_chunks(batches: AsyncIterator[Sequence[Any]]) -> AsyncIterator[bytes]:
    """Each row (OFFLINE_COLUMNS) as `json.dumps(row as a dict, default=str,
    ensure_ascii=False)` writes it, a line each; batches must not be empty."""
    async for rows in batches:
        values = [list(map(f, c)) for f, c in zip(_JSONL_VALUE, _columns(rows), strict=True)]
        lines = [_JSONL_LINE % line for line in zip(*values, strict=True)]
        yield ("\n".join(lines) + "\n").encode()


async def csv_chunks(batches: AsyncIterator[Sequence[Any]]) -> AsyncIterator[bytes]:
    """A header, then each row (OFFLINE_COLUMNS) as `csv.writer` writes it, the JSON and
    list columns as JSON text; batches must not be empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(OFFLINE_COLUMNS)
    async for rows in batches:
        columns = _columns(rows)
        for i in _JSON_IN_CSV:
            columns[i] = list(map(_json_or_none, columns[i]))
        # csv writes the id and the timestamps by str(), as they are.
        writer.writerows(zip(*columns, strict=True))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


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
        # growth of a first Parquet export being pyarrow's own loading (docs/benchmarks.md).
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
