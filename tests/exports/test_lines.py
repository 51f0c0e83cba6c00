"""Every line writer against `json.dumps` of its format's dict, and every offline file
against `json.dumps` / `csv.writer` / `pyarrow.table` of its rows, byte for byte: the shapes
below are the reference (what each line holds), the writers assemble the same text from
fixed parts and whole columns."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feedback_api.exports.lines import line_writer
from feedback_api.exports.offline import (
    OFFLINE_COLUMNS,
    _arrow_schema,
    csv_chunks,
    jsonl_chunks,
    parquet_chunks,
)
from feedback_api.exports.repository import EXAMPLE_COLUMNS, PAIR_COLUMNS, Shape

# Texts a dataset can hold: quotes, backslashes, control characters, line and paragraph
# separators, non-ASCII letters, emoji, a NUL, a lone surrogate (not valid UTF-8, so never
# read from PostgreSQL; still written as json.dumps writes it), empty and whitespace.
TEXTS = [
    "plain question",
    'say "hi" \\ back',
    "tab\there\nnew line\r\x00\x01\x1f\x7f end",
    "\u2028line\u2029paragraph",
    "naïve café, Привет, 你好, 🙂👍🏽",
    "\ud800 lone",
    "",
    "   ",
    "</script><!-- & ' -->",
]
INSTANTS = [
    datetime(2026, 12, 6, 3, 4, 5, 123456, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    None,
]


def _example_rows() -> list[tuple[Any, ...]]:
    rows = []
    for n, text in enumerate(TEXTS):
        other = TEXTS[(n + 3) % len(TEXTS)]
        rows.append(
            dict(
                system_prompt=None if n % 3 == 0 else other,
                query=text,
                response=other,
                up=n,
                down=(n * 7) % 5,
                model=f"model-{text}",
                intent=None if n % 2 else text,
                project=None if n % 4 == 1 else "proj ☃",
                created_at=INSTANTS[n % len(INSTANTS)],
                voted_at=INSTANTS[(n + 1) % len(INSTANTS)],
                reasons=[[], [text, "wrong"], ["wrong", "z"]][: n % 4] or None,
                correction=None if n % 2 == 0 else text,
                split_key="user",
                positive=[True, False, None][n % 3],
                label_source=["vote", "review"][n % 2],
            )
        )
    assert all(tuple(row) == EXAMPLE_COLUMNS for row in rows)
    return [tuple(row.values()) for row in rows]


def _pair_rows() -> list[tuple[Any, ...]]:
    rows = []
    for n, text in enumerate(TEXTS):
        row = dict(
            system_prompt=None if n % 2 else TEXTS[-1 - n],
            query=TEXTS[(n + 1) % len(TEXTS)],
            chosen=text,
            rejected=TEXTS[(n + 5) % len(TEXTS)],
            up=n,
            down=1,
            split_key=None,
            label_source=["review", "vote"][n % 2],
        )
        assert tuple(row) == PAIR_COLUMNS
        rows.append(tuple(row.values()))
    return rows


def _message(role: str, content: Any) -> dict[str, Any]:
    return {"role": role, "content": content}


def _prompt(r: Any) -> list[dict[str, Any]]:
    user = _message("user", r[1])
    return [user] if r[0] is None else [_message("system", r[0]), user]


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _reference(shape: Shape, r: Any) -> dict[str, Any]:
    """The line's dict, as each format documents it."""
    fmt, c = shape.format, EXAMPLE_COLUMNS.index
    if fmt == "weighted":
        return {
            "messages": [*_prompt(r), _message("assistant", r[2])],
            "weight": float(shape.positive_weight if r[c("positive")] else shape.negative_weight),
            "metadata": {
                "model": r[5],
                "intent": r[6],
                "project": r[7],
                "created_at": _instant(r[8]),
                "voted_at": _instant(r[9]),
                "up_votes": r[3],
                "down_votes": r[4],
                "reasons": sorted({reason for group in r[10] or () for reason in group}),
                "correction": r[11],
                "label_source": r[c("label_source")],
            },
        }
    if fmt == "openai":
        answer = _message("assistant", r[2])
        if shape.include_negative:
            answer["weight"] = 1 if r[c("positive")] else 0
        return {"messages": [*_prompt(r), answer]}
    if fmt == "kto":
        return {
            "prompt": _prompt(r),
            "completion": [_message("assistant", r[2])],
            "label": r[c("positive")],
            "metadata": {"label_source": r[c("label_source")]},
        }
    if fmt == "dpo":
        return {
            "prompt": _prompt(r),
            "chosen": [_message("assistant", r[2])],
            "rejected": [_message("assistant", r[3])],
            "metadata": {"label_source": r[PAIR_COLUMNS.index("label_source")]},
        }
    assert fmt == "openai-dpo"
    return {
        "input": {"messages": _prompt(r)},
        "preferred_output": [_message("assistant", r[2])],
        "non_preferred_output": [_message("assistant", r[3])],
    }


SHAPES = [
    Shape(format="weighted"),
    Shape(format="weighted", positive_weight=1.5, negative_weight=0.0),
    Shape(format="weighted", positive_weight=3, negative_weight=1e-7),
    Shape(format="openai"),
    Shape(format="openai", include_negative=True),
    Shape(format="kto"),
    Shape(format="dpo"),
    Shape(format="openai-dpo"),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.format}-{s.positive_weight}")
def test_each_line_is_json_dumps_of_its_formats_dict(shape: Shape) -> None:
    rows = _pair_rows() if shape.format in ("dpo", "openai-dpo") else _example_rows()
    write = line_writer(shape)
    for row in rows:
        line = write(row)
        assert line == json.dumps(_reference(shape, row), ensure_ascii=False)
        if "\ud800" not in line:
            assert json.loads(line) == json.loads(json.dumps(_reference(shape, row)))


# -- offline files ---------------------------------------------------------------------


def _offline_rows() -> list[tuple[Any, ...]]:
    """OFFLINE_COLUMNS rows of every kind of value (a file is UTF-8: no lone surrogate)."""
    texts = [text for text in TEXTS if "\ud800" not in text]
    rows = []
    for n, text in enumerate(texts * 2):
        other = texts[(n + 2) % len(texts)]
        values = {
            "id": uuid.UUID(int=n * 104729 + 7), "request_id": f"req-{text}",
            "created_at": INSTANTS[n % 3], "model": "m ☃", "intent": None if n % 2 else text,
            "project": None, "user_id": other or None, "session_id": None, "query": text,
            "response": other, "response_time_ms": None if n % 3 else 250 + n,
            "memory_used": [None, 0.1, 1e-7, 2.5e20, float("nan"), float("inf")][n % 6],
            "tools_called": [] if n % 2 else [text, "search"],
            "sources_used": [None, [], [{"url": text, "score": 0.5}], {"k": [1, 2.0, None]}][n % 4],
            "metadata": [{}, {"system_prompt": text, "tags": ["a", other]}, {"n": n}][n % 3],
            "feedback_count": n, "is_helpful": [True, False, None][n % 3],
            "stars": None if n % 2 else n % 5, "reasons": [] if n % 3 else [text, "wrong"],
            "comment": None if n % 2 else other, "correction": text if n % 4 == 1 else None,
            "feedback_at": INSTANTS[(n + 1) % len(INSTANTS)],
            "review_verdict": ["correct", None][n % 2], "review_consensus": None,
        }  # fmt: skip
        assert tuple(values) == tuple(OFFLINE_COLUMNS)
        rows.append(tuple(values.values()))
    return rows


async def _batches(rows: list[tuple[Any, ...]]) -> AsyncIterator[list[tuple[Any, ...]]]:
    for start in range(0, len(rows), 4):  # several batches, the last one shorter
        yield rows[start : start + 4]


async def _written(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    values = dict(zip(OFFLINE_COLUMNS, row, strict=True))
    values["id"] = str(values["id"])
    return values


def _json_cell(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


async def test_json_lines_file_is_json_dumps_of_each_rows_dict() -> None:
    rows = _offline_rows()
    expected = "".join(
        json.dumps(_as_dict(r), default=str, ensure_ascii=False) + "\n" for r in rows
    )
    assert await _written(jsonl_chunks(_batches(rows))) == expected.encode()


async def test_csv_file_is_csv_writer_of_each_row_with_its_json_cells() -> None:
    rows = _offline_rows()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(OFFLINE_COLUMNS)
    for r in rows:
        values = _as_dict(r)
        for name, kind in OFFLINE_COLUMNS.items():
            if kind in ("json", "list<string>"):
                values[name] = _json_cell(values[name])
        writer.writerow(values.values())
    assert await _written(csv_chunks(_batches(rows))) == buffer.getvalue().encode()


async def test_parquet_file_is_pyarrow_of_each_batchs_columns() -> None:
    rows = _offline_rows()
    schema = _arrow_schema()
    expected = io.BytesIO()
    with pq.ParquetWriter(expected, schema) as writer:
        async for batch in _batches(rows):  # a row group a batch (shorter than a group)
            columns: dict[str, list[Any]] = {name: [] for name in OFFLINE_COLUMNS}
            for r in batch:
                for name, value in _as_dict(r).items():
                    columns[name].append(value)
            for name, kind in OFFLINE_COLUMNS.items():
                if kind == "json":
                    columns[name] = [_json_cell(v) for v in columns[name]]
            writer.write_table(pa.table(columns, schema=schema))
    written = await _written(parquet_chunks(_batches(rows)))
    assert written == expected.getvalue()
    assert pq.read_table(pa.BufferReader(written)).num_rows == len(rows)
