"""The exports' own writing, without the database: microseconds per row of each writer.

    python bench/bench_export_lines.py [--rows 100000] [--repeat 5] [--formats kto,csv,...]
    PYTHONPATH=OLD_CHECKOUT/src python bench/bench_export_lines.py    # another version's code

Rows shaped like bench_export's fill (one vote per exchange, short texts, no reasons), every
tenth with a system prompt, a correction, reasons, unicode and quotes, as plain tuples: each
fine-tuning format's line writer (`exports.lines`) and each offline file (CSV, JSON Lines,
Parquet, through `OfflineExport.stream`) over them in batches of 5,000, the best of
`--repeat` runs. What bench_export's server spends besides: the rows read from PostgreSQL
(asyncpg, SQLAlchemy), redaction, HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feedback_api.exports.lines import line_writer
from feedback_api.exports.repository import FORMATS, PAIRED, Shape

try:
    from feedback_api.exports.offline import OfflineExport
except ImportError:  # code from before exports.offline (PYTHONPATH)
    from feedback_api.exports.service import OfflineExport  # type: ignore[attr-defined,no-redef]

OFFLINE = ("csv", "jsonl", "parquet")
BATCH = 5000
ORIGIN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _odd(n: int) -> bool:
    return n % 10 == 0


def example_rows(count: int) -> list[tuple[Any, ...]]:
    """EXAMPLE_COLUMNS rows."""
    rows = []
    for n in range(count):
        odd = _odd(n)
        at = ORIGIN - timedelta(days=n % 90, microseconds=n)
        rows.append(
            (
                "You are a helpful assistant." if odd else None,
                f"question {n % 5000}" + (' "naïve" café ✓' if odd else ""),
                f"answer {n}" + ("\nwith a second line\tand a tab" if odd else ""),
                1 if n % 10 < 7 else 0,
                0 if n % 10 < 7 else 1,
                f"model-{n % 5}",
                f"intent-{n % 7}",
                f"project-{n % 3}",
                at,
                at,
                [["wrong", "too long"]] if odd else [[]],
                "a better answer" if odd else None,
                f"user-{n % 10000}",
                n % 10 < 7,
                "review" if n % 100 == 0 else "vote",
            )
        )
    return rows


def pair_rows(count: int) -> list[tuple[Any, ...]]:
    """PAIR_COLUMNS rows."""
    return [
        (
            "You are a helpful assistant." if _odd(n) else None,
            f"question {n % 5000}",
            f"answer {n}",
            f"answer {n + 1} ✗",
            2,
            1,
            f"user-{n % 10000}",
            "vote",
        )
        for n in range(count)
    ]


def offline_rows(count: int) -> list[tuple[Any, ...]]:
    """OFFLINE_COLUMNS rows."""
    rows = []
    for n in range(count):
        odd = _odd(n)
        at = ORIGIN - timedelta(days=n % 90, microseconds=n)
        rows.append(
            (
                uuid.UUID(int=n * 7919 + 1),
                f"fill-{n}",
                at,
                f"model-{n % 5}",
                f"intent-{n % 7}",
                f"project-{n % 3}",
                None,
                None,
                f"question {n % 5000}" + (' "naïve" café ✓' if odd else ""),
                f"answer {n}" + ("\nwith a second line" if odd else ""),
                120 + n % 900 if odd else None,
                0.25 if odd else None,
                ["search", "calculator"] if odd else [],
                [{"url": "https://example.org/a", "score": 0.9}] if odd else None,
                {"system_prompt": "You are helpful.", "tags": ["a"]} if odd else {},
                1,
                n % 10 < 7,
                1 + n % 5,
                ["wrong"] if odd else [],
                "too short" if odd else None,
                "a better answer" if odd else None,
                at,
                "correct" if n % 100 == 0 else None,
                "unanimous" if n % 100 == 0 else None,
            )
        )
    return rows


def batches(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def time_lines(shape: Shape, parts: list[list[tuple[Any, ...]]]) -> tuple[float, int]:
    """Seconds to write every batch's lines as the streamed export does, and the bytes."""
    line = line_writer(shape)
    size = 0
    started = time.perf_counter()
    for rows in parts:
        size += len("".join([line(row) + "\n" for row in rows]).encode())
    return time.perf_counter() - started, size


class _Given(OfflineExport):
    """The offline export over rows given in memory instead of the database's."""

    def __init__(self, parts: Sequence[Sequence[Any]]) -> None:
        super().__init__(repository=None)  # type: ignore[arg-type]
        self.parts = parts

    async def _batches(self, *window: Any) -> AsyncIterator[Any]:
        # (format,) since, until: which arguments depends on the code's version.
        for part in self.parts:
            yield part


def time_offline(fmt: str, parts: list[list[tuple[Any, ...]]]) -> tuple[float, int]:
    async def run() -> tuple[float, int]:
        size = 0
        started = time.perf_counter()
        async for chunk in _Given(parts).stream(fmt, ORIGIN, ORIGIN):
            size += len(chunk)
        return time.perf_counter() - started, size

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--formats", default=",".join((*FORMATS, *OFFLINE)), help="comma-separated")
    args = parser.parse_args()
    examples, pairs, offline = (
        batches(make(args.rows)) for make in (example_rows, pair_rows, offline_rows)
    )
    print(f"{args.rows:,} rows, best of {args.repeat}")
    print(f"{'writer':<12}{'us/row':>9}{'bytes':>14}")
    for kind in args.formats.split(","):
        run: Callable[[], tuple[float, int]]
        if kind in OFFLINE:
            run = partial(time_offline, kind, offline)
        else:
            shape = Shape(format=kind)
            run = partial(time_lines, shape, pairs if shape.format in PAIRED else examples)
        results = [run() for _ in range(args.repeat)]
        best = min(seconds for seconds, _ in results)
        print(f"{kind:<12}{best / args.rows * 1e6:>9.2f}{results[0][1]:>14,}", flush=True)


if __name__ == "__main__":
    main()
