"""Export rules: windows, summaries, KTO weights, manifests, train/test splits, file output."""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feedback_api import __version__
from feedback_api.exceptions import InvalidInput, NotFound
from feedback_api.exports.lines import line_writer
from feedback_api.exports.models import ExportRun
from feedback_api.exports.repository import (
    PAIRED,
    ExportRepository,
    Selection,
    Shape,
    split_key_index,
)
from feedback_api.exports.schemas import ExportSummary, Redactions
from feedback_api.kit.time import MAX_DAYS, iso_week_of, parse_week
from feedback_api.privacy.redaction.entities import RedactionTally
from feedback_api.privacy.redaction.rows import redacted

if TYPE_CHECKING:
    from feedback_api.privacy.redaction.redactor import Redactor


def resolve_window(
    days: int | None,
    start: date | datetime | None,
    end: date | datetime | None,
    now: datetime | None = None,
    *,
    names: tuple[str, str, str] = ("days", "start_date", "end_date"),
) -> tuple[datetime, datetime]:
    """[since, until) from `days` back from now, or from start/end (a date end is inclusive).

    `names`: what the caller calls days, start and end (query parameters, body fields or
    command-line options), for the messages."""
    now = now or datetime.now(UTC)
    days_name, start_name, end_name = names
    if days is not None and (start is not None or end is not None):
        raise InvalidInput(f"give either {days_name} or {start_name}/{end_name}, not both")
    if start is None and end is None:
        days = 7 if days is None else days
        if not 1 <= days <= MAX_DAYS:
            raise InvalidInput(f"{days_name} must be between 1 and {MAX_DAYS}")
        return now - timedelta(days=days), now
    until = _instant(end, end_of_day=True) if end is not None else now
    since = _instant(start, end_of_day=False) if start is not None else until - timedelta(days=7)
    if since >= until:
        raise InvalidInput(
            f"{start_name} must be earlier than {end_name}: the window from "
            f"{since.isoformat()} to {until.isoformat()} is empty"
        )
    return since, until


def _instant(value: date | datetime, *, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    start = datetime.combine(value, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end_of_day else start


def iso_week_window(week: str) -> tuple[datetime, datetime]:
    """'2026-W47' -> [Monday 00:00 UTC, next Monday 00:00 UTC)."""
    try:
        parsed = parse_week(week)
    except ValueError:
        raise InvalidInput(f"week must look like 2026-W47, got {week!r}") from None
    return parsed.start, parsed.end


def kto_weights(desirable: int, undesirable: int) -> tuple[float | None, float | None]:
    """`desirable_weight`, `undesirable_weight` for TRL's KTOTrainer.

    TRL asks that desirable_weight * n_desirable / (undesirable_weight * n_undesirable)
    lie between 1 and 4/3. The larger class keeps weight 1 and the smaller is up-weighted
    to a ratio of 1 (rounded so the ratio stays inside the range).
    """
    if desirable == 0 or undesirable == 0:
        return None, None
    if desirable >= undesirable:
        return 1.0, math.floor(desirable / undesirable * 10_000) / 10_000
    return math.ceil(undesirable / desirable * 10_000) / 10_000, 1.0


@dataclass
class WrittenFile:
    path: Path
    examples: int = 0
    size: int = 0
    sha256: str = ""


@dataclass
class Written:
    summary: ExportSummary
    files: list[WrittenFile] = field(default_factory=list)
    manifest: Path | None = None


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


def _in_test_split(key: str | None, fraction: float) -> bool:
    """Deterministic: the same session (or user) always lands on the same side."""
    if fraction <= 0 or key is None:
        return False
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64 < fraction


# The texts of a line that are redacted: the system prompt, the question and the answer
# (or the correction), and in the pair formats the rejected answer (PAIR_COLUMNS).
def _texts(shape: Shape) -> tuple[int, ...]:
    return (0, 1, 2, 3) if shape.format in PAIRED else (0, 1, 2)


def redactions(tally: RedactionTally) -> Redactions:
    return Redactions(examples=tally.examples, by_type=dict(sorted(tally.by_type.items())))


class ExportService:
    """`redactor`: personal data in the texts is replaced by placeholders (None: the texts
    go out as they were stored)."""

    def __init__(self, repository: ExportRepository, redactor: Redactor | None = None) -> None:
        self.repository = repository
        self.redactor = redactor

    async def runs(self, limit: int) -> list[ExportRun]:
        """The weekly job's runs, newest first."""
        return await self.repository.runs(limit)

    async def run_file(self, run_id: uuid.UUID, directory: Path) -> tuple[ExportRun, Path]:
        """A run and its file in `directory`; NotFound when either is gone."""
        run = await self.repository.run(run_id)
        if run is None:
            raise NotFound(f"no export run with id {run_id}")
        path = directory / run.file_name
        if not path.is_file():
            raise NotFound(f"the file of export run {run_id} ({run.file_name}) is no longer there")
        return run, path

    async def summary(self, selection: Selection, shape: Shape) -> ExportSummary:
        counts = await self.repository.counts(selection, shape)
        if shape.format in PAIRED:
            examples = counts.pairs
        elif shape.format == "openai" and not shape.include_negative:
            examples = counts.positives
        else:
            examples = counts.positives + counts.negatives
        if shape.format in PAIRED:
            from_reviews = counts.reviewed_pairs
        elif shape.format == "openai" and not shape.include_negative:
            from_reviews = counts.reviewed_positives
        else:
            from_reviews = counts.reviewed_positives + counts.reviewed_negatives
        from_reviews += counts.reviewer_corrections
        # KTO: a correction is one more desirable completion.
        desirable, undesirable = kto_weights(
            counts.positives + counts.corrections, counts.negatives
        )
        return ExportSummary(
            format=shape.format, since=selection.since, until=selection.until,
            filters=selection.filters(), examples=examples + counts.corrections,
            positives=counts.positives, negatives=counts.negatives, pairs=counts.pairs,
            corrections=counts.corrections, skipped_ties=counts.ties,
            skipped_empty=counts.empty, desirable_weight=desirable,
            undesirable_weight=undesirable, label_source=shape.label_source,
            from_votes=examples + counts.corrections - from_reviews, from_reviews=from_reviews,
            skipped_disagreement=counts.disputed, redacted=self.redactor is not None,
        )  # fmt: skip

    async def count_redactions(self, selection: Selection, shape: Shape) -> Redactions | None:
        """What redaction would replace in the export: its lines read and redacted, not
        written (as long as the export itself). None without a redactor."""
        if self.redactor is None:
            return None
        tally = RedactionTally()
        lines = self.repository.stream_rows(selection, shape, with_ids=False, early=False)
        async for rows in lines:
            await redacted(self.redactor, rows, _texts(shape), tally=tally)
        return redactions(tally)

    async def stream_jsonl(self, selection: Selection, shape: Shape) -> AsyncIterator[bytes]:
        """The dataset as JSON Lines, in chunks of a few thousand examples.

        The first chunk is fetched before this returns, so that a failing query is an error
        response (503, 422) rather than a stream cut after its 200 status line.
        """
        chunks = self._jsonl_chunks(selection, shape)
        first = await anext(chunks, b"")
        return _prepend(first, chunks)

    async def _jsonl_chunks(self, selection: Selection, shape: Shape) -> AsyncIterator[bytes]:
        line = line_writer(shape)
        texts = _texts(shape)
        async for rows in self.repository.stream_rows(selection, shape, with_ids=False):
            rows = await redacted(self.redactor, rows, texts)
            yield ("\n".join(map(line, rows)) + "\n").encode() if rows else b""

    async def write(
        self,
        selection: Selection,
        shape: Shape,
        path: Path,
        *,
        test_fraction: float = 0.0,
        manifest: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> Written:
        """Write the dataset to `path` (or path.train/.test with a split), and its manifest.

        Each file is written under a temporary name and renamed when whole: a reader never
        finds a cut file (or a manifest of files not yet there) under the final name.
        """
        if not 0 <= test_fraction < 1:
            raise InvalidInput("test_fraction must be at least 0 and below 1")
        summary = await self.summary(selection, shape)
        if test_fraction > 0:
            stem = path.name.removesuffix(".jsonl")
            targets = [path.with_name(f"{stem}.train.jsonl"), path.with_name(f"{stem}.test.jsonl")]
        else:
            targets = [path]
        files = [WrittenFile(t) for t in targets]
        hashes = [hashlib.sha256() for _ in targets]
        path.parent.mkdir(parents=True, exist_ok=True)
        line = line_writer(shape)
        split = split_key_index(shape)
        texts, tally = _texts(shape), RedactionTally()
        with StagedFiles(targets) as handles:
            lines = self.repository.stream_rows(selection, shape, with_ids=False, early=False)
            async for rows in lines:
                rows = await redacted(self.redactor, rows, texts, tally=tally)
                for row in rows:
                    side = 1 if test_fraction and _in_test_split(row[split], test_fraction) else 0
                    data = (line(row) + "\n").encode()
                    handles[side].write(data)
                    hashes[side].update(data)
                    files[side].examples += 1
                    files[side].size += len(data)
                if progress:
                    progress(len(rows))
        for written, digest in zip(files, hashes, strict=True):
            written.sha256 = digest.hexdigest()
        if self.redactor is not None:
            summary.redactions = redactions(tally)
        result = Written(summary=summary, files=files)
        if manifest:
            result.manifest = path.with_name(path.name.removesuffix(".jsonl") + ".manifest.json")
            await self._write_manifest(result, result.manifest, selection, shape, test_fraction)
        return result

    async def _write_manifest(
        self, written: Written, path: Path, selection: Selection, shape: Shape, fraction: float
    ) -> None:
        """The manifest, its vote ids streamed from the database in order (memory stays flat
        at any size), renamed into place when whole (after the files it describes)."""
        document = {
            **written.summary.model_dump(mode="json"),
            "generated_at": datetime.now(UTC).isoformat(),
            "generator": f"feedback-api {__version__}",
            "test_fraction": fraction,
            "split_by": shape.split_by,
            "files": [
                {"name": f.path.name, "examples": f.examples, "bytes": f.size, "sha256": f.sha256}
                for f in written.files
            ],
        }
        head = json.dumps(document, indent=2)[:-2]  # without the closing "\n}"
        with StagedFiles([path]) as (handle,):
            handle.write(f'{head},\n  "feedback_ids": ['.encode())
            count = 0
            async for ids in self.repository.stream_feedback_ids(selection, shape):
                lead = ",\n    " if count else "\n    "
                handle.write((lead + ",\n    ".join(f'"{i}"' for i in ids)).encode())
                count += len(ids)
            handle.write(("\n  ]\n}\n" if count else "]\n}\n").encode())


class StagedFiles:
    """Files written under `NAME.partial` and renamed to their names only when the block
    ends without an error (removed otherwise)."""

    def __init__(self, targets: list[Path]) -> None:
        self.targets = targets
        self.partial = [t.with_name(t.name + ".partial") for t in targets]
        self.handles: list[Any] = []

    def __enter__(self) -> list[Any]:
        self.handles = [p.open("wb") for p in self.partial]
        return self.handles

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        for handle in self.handles:
            handle.close()
        for partial, target in zip(self.partial, self.targets, strict=True):
            if kind is None:
                os.replace(partial, target)
            else:
                partial.unlink(missing_ok=True)


def default_file_name(since: datetime, fmt: str) -> str:
    """The name a fine-tuning dataset gets when none is given (the API's download, the CLI's
    file): by the ISO week its window starts in, as the weekly job names last week's."""
    return f"feedback-{iso_week_of(since)}-{fmt}.jsonl"


def run_values(written: Written, *, trigger: str, iso_week: str | None) -> dict[str, Any]:
    """The export_runs row for a written dataset (one row per file of a split)."""
    summary = written.summary
    first = written.files[0]
    return {
        "trigger": trigger,
        "format": summary.format,
        "iso_week": iso_week,
        "window_start": summary.since,
        "window_end": summary.until,
        "filters": summary.filters,
        "examples": sum(f.examples for f in written.files),
        "positives": summary.positives,
        "negatives": summary.negatives,
        "pairs": summary.pairs,
        "skipped_ties": summary.skipped_ties,
        "desirable_weight": summary.desirable_weight,
        "undesirable_weight": summary.undesirable_weight,
        "label_source": summary.label_source,
        "from_votes": summary.from_votes,
        "from_reviews": summary.from_reviews,
        "skipped_disagreement": summary.skipped_disagreement,
        "size_bytes": first.size,
        "sha256": first.sha256,
        "file_name": first.path.name,
        "redacted": summary.redacted,
        "redactions": summary.redactions.model_dump() if summary.redactions else None,
    }
