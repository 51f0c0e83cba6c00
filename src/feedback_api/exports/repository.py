"""Export SQL run: the rows of every dataset (built by `exports.examples`) streamed from a
server-side cursor, so memory stays flat (docs/benchmarks/exports.md); counts for the summary;
the offline files' rows; the weekly job's runs. The lines are written by `exports.lines`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    Table,
    Text,
    and_,
    case,
    false,
    func,
    not_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncResult, AsyncSession, async_sessionmaker
from sqlalchemy.orm import join

from feedback_api.analytics.models import RefreshState
from feedback_api.exports import pairs, reviewed
from feedback_api.exports.examples import (
    EXAMPLE_COLUMNS,
    corrections,
    grouped_examples,
    lines_query,
    split_key_index,
    written,
)
from feedback_api.exports.first_lines import first_lines_queries
from feedback_api.exports.models import ExportRun
from feedback_api.exports.pairs import PAIR_COLUMNS
from feedback_api.exports.selection import (
    FORMATS,
    LABEL_SOURCES,
    PAIRED,
    Format,
    LabelSource,
    Selection,
    Shape,
)
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession, first_row_within, stream_columns
from feedback_api.kit.models import AnyRow
from feedback_api.kit.statements import as_driver_returns
from feedback_api.kit.statistics import refresh_stale_apart
from feedback_api.review.models import ReviewItem, ReviewLabel

# What the rest of the service takes from here (defined by `selection`, `examples`, `pairs`).
__all__ = [
    "EXAMPLE_COLUMNS", "FORMATS", "LABEL_SOURCES", "PAIRED", "PAIR_COLUMNS", "Format",
    "LabelSource", "Selection", "Shape", "lines_query", "split_key_index",
]  # fmt: skip

# The tables every export reads by the planner's choice of join: with statistics that plan
# for none of their rows (a table analyzed while empty, then filled), it would read one of
# them once per row of another (kit.statistics; decision 029).
EXPORTED_FROM = tuple(
    cast(Table, model.__table__) for model in (Interaction, Feedback, ReviewItem, ReviewLabel)
)


async def refresh_exported_statistics(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Statistics of EXPORTED_FROM that plan for none of a table's rows brought up to date,
    on the primary `sessionmaker` writes to, apart from the export's own transaction: the
    export may read a replica, or hold its transaction as long as its files take."""
    await refresh_stale_apart(sessionmaker, EXPORTED_FROM)


# How long each of weighted's first lines may be looked for. Their queries follow indexes
# and answer in well under a second (docs/benchmarks/exports.md, bench_first_lines); right after a
# bulk load, with statistics of a table a fraction of its size, the planner can pick a plan
# that reads the window once per vote. A kind not found in time gets no first line: every
# line is still written, in the order the votes are read.
FIRST_LINE_LIMIT_MS = 1000


@dataclass
class ExportCounts:
    """Examples by label (`reviewed_*`: those labelled by a review consensus), and what is
    left out: ties, disputed examples (`disputed`) and empty exchanges."""

    positives: int = 0
    negatives: int = 0
    ties: int = 0
    empty: int = 0
    disputed: int = 0
    reviewed_positives: int = 0
    reviewed_negatives: int = 0
    pairs: int = 0
    reviewed_pairs: int = 0
    corrections: int = 0
    reviewer_corrections: int = 0


async def read_ahead(
    batches: AsyncIterator[Sequence[AnyRow]],
) -> AsyncIterator[Sequence[AnyRow]]:
    """The batches of a server-side cursor, the next one asked for before this one is handed
    out: PostgreSQL computes it while the caller writes this one (a cursor otherwise waits,
    idle, for each FETCH). Nothing else may use the session meanwhile."""
    pending = asyncio.ensure_future(anext(batches, None))
    try:
        while (batch := await pending) is not None:
            pending = asyncio.ensure_future(anext(batches, None))
            await asyncio.sleep(0)  # the FETCH goes out now
            yield batch
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


async def _small_first(
    result: AsyncResult[Any], first: int = 100
) -> AsyncIterator[Sequence[AnyRow]]:
    """A cursor's first `first` rows alone, then its batches: a pair export's first batch
    of thousands waits for dozens of prompts, its first hundred rows for one or two."""
    head = await result.fetchmany(first)
    if head:
        yield head
    async for partition in result.partitions():
        yield partition


class ExportRepository:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def counts(self, selection: Selection, shape: Shape) -> ExportCounts:
        paired = shape.format in PAIRED
        ex = grouped_examples(selection, shape, with_ids=False, paired=paired)
        positive, source = reviewed.labels(shape, ex.c.status, ex.c.up, ex.c.down)
        looked_at = reviewed.considered(shape, ex.c.status)
        kept, by_review = and_(not_(ex.c.empty), looked_at), source == "review"
        tie = and_(ex.c.status.is_(None), ex.c.up == ex.c.down) if shape.votes else false()
        row = (
            await self.session.execute(
                select(
                    func.count().filter(positive.is_(True), kept),
                    func.count().filter(positive.is_(False), kept),
                    func.count().filter(tie, kept),
                    func.count().filter(ex.c.empty, looked_at),
                    func.count().filter(ex.c.status == "disputed", kept),
                    func.count().filter(positive.is_(True), by_review, kept),
                    func.count().filter(positive.is_(False), by_review, kept),
                )
            )
        ).one()
        counts = ExportCounts(*row)
        if paired:
            pair_rows = pairs.pairs_query(ex, shape, with_ids=False).subquery()
            both = select(
                func.count(), func.count().filter(pair_rows.c.label_source == "review")
            ).select_from(pair_rows)
            counts.pairs, counts.reviewed_pairs = (await self.session.execute(both)).one()
        for fixes, reviewer in corrections(selection, shape, paired=paired, with_ids=False):
            found = await self._count(fixes)
            counts.corrections += found
            counts.reviewer_corrections += found if reviewer else 0
        return counts

    async def _count(self, rows: Any) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(rows)) or 0)

    async def stream_rows(
        self,
        selection: Selection,
        shape: Shape,
        *,
        with_ids: bool,
        batch: int = 5000,
        early: bool = True,
    ) -> AsyncIterator[Sequence[AnyRow]]:
        """Batches of `lines_query` rows from a server-side cursor (memory stays flat),
        the rows of `first_lines_queries` first and not again; the first batch is small,
        so the first lines leave as soon as the database has them.

        `early` (see `lines_query`): False for a file written whole, whose pairs then come
        from the plan that finishes sooner."""
        # The pair formats leave out empty texts in their SQL, once per pair.
        streamed = shape.format not in PAIRED
        if streamed or early:
            await self._planner_off("enable_hashjoin", "enable_mergejoin")
        firsts: list[AnyRow] = []
        if not with_ids and shape.format == "weighted":
            kept = await self._rollups_kept()
            for query in first_lines_queries(selection, shape, kept=kept):
                row = await first_row_within(self.session, query, FIRST_LINE_LIMIT_MS)
                if row is not None and all(row[:3] != other[:3] for other in firsts):
                    firsts.append(row)
        if firsts:
            yield firsts
        done = {tuple(row[:3]) for row in firsts}
        if streamed:
            # After the first lines, which have a time limit of their own: their plans (the
            # first vote of a few cast hours, by time) may need a sort.
            await self._planner_off("enable_bitmapscan", "enable_sort")
        stmt = lines_query(selection, shape, with_ids=with_ids, early=early)
        result = await stream_columns(self.session, stmt.execution_options(yield_per=batch))
        async for partition in read_ahead(_small_first(result)):
            if streamed or done:
                partition = [
                    row
                    for row in partition
                    if (not streamed or written(row)) and tuple(row[:3]) not in done
                ]
            yield partition

    async def _rollups_kept(self) -> bool:
        """Whether a full refresh has run since the last upgrade: then `vote_hours` and the
        change log tell every cast hour where a kind of first line may be."""
        rebuilt = select(RefreshState.full_rebuild_at).where(RefreshState.id == 1)
        return await self.session.scalar(rebuilt) is not None

    async def _planner_off(self, *names: str) -> None:
        """For the rest of the transaction, plans that stream only.

        `streamed_examples` and `pairs.streamed_pairs` are fast only as nested loops over
        indexes (a vote, its exchange's twins or its prompt's answers, their votes): right
        after a bulk load, before the statistics of `ix_interactions_prompt_answer` are
        gathered, the planner guesses thousands of twins per exchange and hashes every vote
        of the window for each one instead (`enable_hashjoin`, `enable_mergejoin`).
        `exports.canonical`'s look-backs (the SFT-like formats) are fast only as index scans
        read in the index's order and stopped at their first row; a bitmap scan or a sort
        would read all of an exchange's earlier votes (or, with statistics that say a table
        is empty, every exchange) for each vote (`enable_bitmapscan`, `enable_sort`).
        PostgreSQL still runs a disabled plan when no other can.
        """
        await self.session.execute(select(*(func.set_config(n, "off", true()) for n in names)))

    async def stream_feedback_ids(
        self, selection: Selection, shape: Shape, batch: int = 50_000
    ) -> AsyncIterator[Sequence[uuid.UUID]]:
        """The ids of the votes behind the export's lines, each once, in order."""
        lines = lines_query(selection, shape, with_ids=True, early=False).subquery("lines")
        ids = func.unnest(lines.c.feedback_ids).table_valued("id").render_derived("ids")
        stmt = select(ids.c.id).select_from(lines).join(ids, true()).distinct().order_by(ids.c.id)
        result = await self.session.stream_scalars(stmt.execution_options(yield_per=batch))
        async for partition in result.partitions():
            yield partition

    async def stream(
        self, stmt: Select[*tuple[Any, ...]], batch: int = 5000
    ) -> AsyncIterator[Sequence[AnyRow]]:
        result = await stream_columns(self.session, stmt.execution_options(yield_per=batch))
        async for partition in read_ahead(result.partitions()):
            yield partition

    async def runs(self, limit: int) -> list[ExportRun]:
        stmt = select(ExportRun).order_by(ExportRun.created_at.desc()).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def run(self, run_id: uuid.UUID) -> ExportRun | None:
        return await self.session.get(ExportRun, run_id)

    async def scheduled_run_exists(self, iso_week: str, format: str) -> bool:
        stmt = select(ExportRun.id).where(
            ExportRun.trigger == "schedule",
            ExportRun.iso_week == iso_week,
            ExportRun.format == format,
        )
        return (await self.session.execute(stmt)).first() is not None


def utc_text(moment: ColumnElement[datetime]) -> ColumnElement[str]:
    """A `timestamptz` as the text of `str()` of the `datetime` asyncpg reads from it
    (`2026-12-06 03:04:05.123456+00:00`, no fraction at a whole second), whatever the
    session's time zone and date style. Made by PostgreSQL for a file written as text:
    asyncpg's `datetime` and its `str()` cost the server about 1.5 µs a value, `to_char`
    PostgreSQL a quarter of that (docs/benchmarks/exports.md, bench_export)."""
    utc = func.timezone("UTC", moment)
    whole = func.date_trunc("second", utc) == utc
    picture = case(
        (whole, 'YYYY-MM-DD HH24:MI:SS"+00:00"'), else_='YYYY-MM-DD HH24:MI:SS.US"+00:00"'
    )
    return func.to_char(utc, picture, type_=Text)


def interactions_query(
    since: datetime, until: datetime, columns: Iterable[str], *, times_as_text: bool = False
) -> Select[*tuple[Any, ...]]:
    """Interactions of [since, until) with their latest vote and their number of votes.

    `columns` by name: the interactions table's, the latest vote's (is_helpful, stars,
    reasons, comment, correction, feedback_at), feedback_count, and the answer's review
    consensus (review_verdict, review_consensus: `reviewed.answer_review`).
    `times_as_text`: the timestamps as `utc_text`.
    """
    latest = (
        select(
            Feedback.is_helpful,
            Feedback.stars,
            Feedback.reasons,
            Feedback.comment,
            Feedback.correction,
            Feedback.updated_at.label("feedback_at"),
            func.count().over().label("votes"),
        )
        .where(Feedback.interaction_id == Interaction.id)
        .order_by(Feedback.updated_at.desc())
        .limit(1)
        .lateral("latest")
    )
    review = reviewed.answer_review()
    named: dict[str, Any] = {
        **dict(Interaction.__table__.c.items()),
        **dict(latest.c.items()),
        **dict(review.c.items()),
    }
    # An interaction without votes has no `latest` row, and 0 votes rather than none.
    named["feedback_count"] = func.coalesce(latest.c.votes, 0).label("feedback_count")
    if times_as_text:
        for name, moment in named.items():
            if isinstance(moment.type, DateTime):
                named[name] = utc_text(moment).label(name)
    return (
        select(*(as_driver_returns(named[name]) for name in columns))
        .select_from(join(Interaction, latest, true(), isouter=True).join(review, true()))
        .where(Interaction.created_at >= since, Interaction.created_at < until)
        .order_by(Interaction.created_at, Interaction.id)
    )


class ExportRunRepository:
    """The weekly job's record of the files it wrote."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_run(self, values: dict[str, Any]) -> ExportRun:
        run = ExportRun(**values)
        self.session.add(run)
        await self.session.flush()
        return run
