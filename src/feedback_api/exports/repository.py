"""Export SQL: the rows of every dataset, streamed from a server-side cursor with nothing
sorted, so the first line leaves after one pass over the window and memory stays flat
(docs/benchmarks.md). The lines themselves are written by `exports.lines`."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    false,
    func,
    literal,
    literal_column,
    not_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from feedback_api.analytics import figures
from feedback_api.exports.models import ExportRun
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction, exchange_key
from feedback_api.kit.db import ReadSession
from feedback_api.kit.models import AnyRow

FORMATS = ("weighted", "openai", "kto", "dpo", "openai-dpo")
Format = Literal["weighted", "openai", "kto", "dpo", "openai-dpo"]
PAIRED = ("dpo", "openai-dpo")


@dataclass(frozen=True)
class Selection:
    """Which feedback goes into an export: votes cast in [since, until), filtered."""

    since: datetime
    until: datetime
    model: str | None = None
    intent: str | None = None
    project: str | None = None

    def filters(self) -> dict[str, str]:
        return {k: v for k in ("model", "intent", "project") if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class Shape:
    """How examples are written."""

    format: Format = "weighted"
    positive_weight: float = 2.0
    negative_weight: float = 0.5
    include_negative: bool = False  # openai: keep thumbs-down answers with weight 0
    split_by: Literal["session", "user"] = "session"
    use_corrections: bool = True  # a thumbs-down's correction is an example of its own


@dataclass
class ExportCounts:
    positives: int = 0
    negatives: int = 0
    ties: int = 0
    pairs: int = 0
    corrections: int = 0
    empty: int = 0


def _has_text(value: Any) -> ColumnElement[bool]:
    """Not empty and not only whitespace: something a model can learn from."""
    return cast(value.regexp_match(r"\S"), Text) == "true"


def _key(*texts: Any) -> Any:
    """A 128-bit digest of several texts (NULL and '' apart): the group key of an example.

    Grouping by the digest rather than by the texts keeps each group's state a few dozen
    bytes, so PostgreSQL hashes a week of votes without sorting their texts; the texts are
    read once per example afterwards, from one representative row (`rep`).
    """
    return func.md5(cast(func.row(*texts), Text))


def _selected(
    selection: Selection, vote: Any = Feedback, exchange: Any = Interaction
) -> list[ColumnElement[bool]]:
    where = [vote.created_at >= selection.since, vote.created_at < selection.until]
    return where + [getattr(exchange, k) == v for k, v in selection.filters().items()]


def _example_context(
    vote: Any = Feedback, exchange: Any = Interaction, inside: Any = None
) -> list[Any]:
    """What an example (a group of votes) tells of its exchanges and votes: the metadata of
    every training format, and the reasons of the votes that gave any, as a JSON array of
    arrays (NULL for none; merged when the line is written). `inside`: only the votes for
    which it holds count."""

    def only(aggregate: Any, *conditions: Any) -> Any:
        conditions = (*conditions, inside) if inside is not None else conditions
        return aggregate.filter(and_(*conditions)) if conditions else aggregate

    return [
        only(func.min(exchange.model)).label("model"),
        only(func.min(exchange.intent)).label("intent"),
        only(func.min(exchange.project)).label("project"),
        only(func.min(exchange.created_at)).label("created_at"),
        only(func.max(vote.created_at)).label("voted_at"),
        only(func.min(exchange.session_id)).label("session_id"),
        only(func.min(exchange.user_id)).label("user_id"),
        only(func.jsonb_agg(vote.reasons), func.cardinality(vote.reasons) > 0).label("reasons"),
    ]


def _examples(selection: Selection, *, with_ids: bool, paired: bool = False) -> CTE:
    """One row per distinct (system prompt, question, answer) with its votes in the window.

    A user's latest vote is the only row they have (votes are upserted); deleted feedback
    is gone from the table; identical pairs collapse into one example labelled by the
    majority of their votes. `empty`: the question or the answer has no text (such an
    example is counted, never written). `rep`: one of its exchanges, to read the texts from.
    `prompt` (paired): the digest of the system prompt and question alone.
    """
    system = SYSTEM_PROMPT
    columns = [
        _key(system, Interaction.query, Interaction.response).label("key"),
        figures.positive().label("up"),
        figures.negative().label("down"),
        *_example_context(),
        func.bool_or(
            not_(and_(_has_text(Interaction.query), _has_text(Interaction.response)))
        ).label("empty"),
        func.any_value(Interaction.id).label("rep"),
    ]
    if paired:
        columns.append(func.any_value(_key(system, Interaction.query)).label("prompt"))
    if with_ids:
        columns.append(func.array_agg(Feedback.id).label("feedback_ids"))
    return (
        select(*columns)
        .select_from(Feedback)
        .join(Interaction, Interaction.id == Feedback.interaction_id)
        .where(*_selected(selection))
        .group_by(literal_column("1"))
        .cte("ex")
    )


def _corrections(selection: Selection, *, paired: bool, with_ids: bool) -> CTE:
    """The corrections users gave with a thumbs-down: one row per distinct (system prompt,
    question, correction), and per answer voted down too when `paired`.

    Like the other examples: nothing of a vote on an empty question or answer, no empty
    correction, and none that repeats the answer it corrects. `up` counts the users who
    wrote it; `down` is 0; `rep` is one of its votes.
    """
    texts = [SYSTEM_PROMPT, Interaction.query, Feedback.correction]
    if paired:
        texts.append(Interaction.response)
    columns = [
        _key(*texts).label("key"),
        func.count().label("up"),
        literal(0).label("down"),
        *_example_context(),
        func.any_value(Feedback.id).label("rep"),
    ]
    if with_ids:
        columns.append(func.array_agg(Feedback.id).label("feedback_ids"))
    return (
        select(*columns)
        .select_from(Feedback)
        .join(Interaction, Interaction.id == Feedback.interaction_id)
        .where(
            *_selected(selection),
            not_(Feedback.is_helpful),
            Feedback.correction.is_not(None),
            _has_text(Interaction.query),
            _has_text(Interaction.response),
            _has_text(Feedback.correction),
            Feedback.correction != Interaction.response,
        )
        .group_by(literal_column("1"))
        .cte("fixes_paired" if paired else "fixes")
    )


SYSTEM_PROMPT = Interaction.meta["system_prompt"].astext

# The columns of an example row (`lines_query`, SFT-like formats), in order.
EXAMPLE_COLUMNS = (
    "system_prompt", "query", "response", "up", "down", "model", "intent", "project",
    "created_at", "voted_at", "reasons", "correction", "split_key",
)  # fmt: skip
# The columns of a pair row (dpo, openai-dpo), in order.
PAIR_COLUMNS = ("system_prompt", "query", "chosen", "rejected", "up", "down", "split_key")


def split_key_index(shape: Shape) -> int:
    """Where a row of `lines_query` holds its split key (a session, a user or a prompt)."""
    return (PAIR_COLUMNS if shape.format in PAIRED else EXAMPLE_COLUMNS).index("split_key")


def _split_key(ex: Any, shape: Shape, query: Any) -> Any:
    first = ex.c.session_id if shape.split_by == "session" else ex.c.user_id
    return func.coalesce(first, ex.c.user_id, ex.c.session_id, query).label("split_key")


def _example_rows(
    ex: CTE, shape: Shape, keep: ColumnElement[bool], *, correction: bool, with_ids: bool
) -> Select[*tuple[Any, ...]]:
    """EXAMPLE_COLUMNS[, feedback_ids] of the examples of `ex` that `keep` keeps; the texts
    read from the representative exchange (or vote, for corrections)."""
    if correction:
        vote, exchange = aliased(Feedback, name="rep_vote"), aliased(Interaction, name="rep")
        response = vote.correction
        joined = ex.join(vote, vote.id == ex.c.rep).join(
            exchange, exchange.id == vote.interaction_id
        )
    else:
        exchange = aliased(Interaction, name="rep")
        response = exchange.response
        joined = ex.join(exchange, exchange.id == ex.c.rep)
    columns = [
        exchange.meta["system_prompt"].astext.label("system_prompt"),
        exchange.query.label("query"),
        response.label("response"),
        ex.c.up, ex.c.down, ex.c.model, ex.c.intent, ex.c.project, ex.c.created_at,
        ex.c.voted_at, ex.c.reasons, literal(correction).label("correction"),
        _split_key(ex, shape, exchange.query),
    ]  # fmt: skip
    if with_ids:
        columns.append(ex.c.feedback_ids)
    return select(*columns).select_from(joined).where(keep)


def _streamed_examples(
    selection: Selection, shape: Shape, keep: Callable[[Any], Any], *, with_ids: bool
) -> Select[*tuple[Any, ...]]:
    """EXAMPLE_COLUMNS[, feedback_ids] of each example, one row per example, in the order
    its votes are read, with nothing grouped or sorted ahead: the first line leaves at once.

    Each vote of the window looks up its exchange's twins (by `exchange_key`'s index) and
    their votes (by exchange); the example is written by one of those votes (the canonical
    one: the smallest id) and `keep(example)` says which examples are written at all.

    The window and the filters select a twin's votes in the aggregates' FILTER clauses, not
    in a WHERE: so no plan can read the window's votes (by their time) for each vote of the
    window, as one did when the statistics were missing after a bulk load.
    """
    twin, twin_vote = aliased(Interaction, name="twin"), aliased(Feedback, name="twin_vote")
    key = exchange_key(Interaction.meta, Interaction.query, Interaction.response)
    inside = and_(*_selected(selection, twin_vote, twin))
    columns = [
        func.count().filter(and_(inside, twin_vote.is_helpful)).label("up"),
        func.count().filter(and_(inside, not_(twin_vote.is_helpful))).label("down"),
        *_example_context(twin_vote, twin, inside),
        func.min(cast(twin_vote.id, Text)).filter(inside).label("canonical"),
    ]
    if with_ids:
        columns.append(func.array_agg(twin_vote.id).filter(inside).label("feedback_ids"))
    example = (
        select(*columns)
        .select_from(twin)
        .join(twin_vote, twin_vote.interaction_id == twin.id)
        .where(exchange_key(twin.meta, twin.query, twin.response) == key)
        .lateral("example")
    )
    rows = [
        SYSTEM_PROMPT.label("system_prompt"),
        Interaction.query, Interaction.response,
        example.c.up, example.c.down, example.c.model, example.c.intent, example.c.project,
        example.c.created_at, example.c.voted_at, example.c.reasons,
        false().label("correction"), _split_key(example, shape, Interaction.query),
    ]  # fmt: skip
    if with_ids:
        rows.append(example.c.feedback_ids)
    return (
        select(*rows)
        .select_from(Feedback)
        .join(Interaction, Interaction.id == Feedback.interaction_id)
        .join(example, true())
        .where(
            *_selected(selection),
            example.c.canonical == cast(Feedback.id, Text),
            keep(example),
        )
    )


def written(row: AnyRow) -> bool:
    """False for a row of `_streamed_examples` on an empty (or only whitespace) question or
    answer: such an example is counted, never written. Checked here rather than in its SQL,
    where the planner, blind to how many texts match, would read the exchanges first."""
    return _VISIBLE(row[1]) is not None and _VISIBLE(row[2]) is not None


_VISIBLE = re.compile(r"\S").search


def _sft_keep(shape: Shape) -> Callable[[Any], Any]:
    """Which examples an SFT-like format writes: no ties; in openai without
    `include_negative`, only the positive ones."""
    if shape.format == "openai" and not shape.include_negative:
        return lambda example: example.c.up > example.c.down
    return lambda example: example.c.up != example.c.down


# Each kind of first line: what the vote's own row must show (a cheap test made before its
# example is looked up, so a window without any costs one plain scan, not one lookup per
# vote), and what its example must.
_KINDS: list[tuple[Any, Callable[[Any], Any]]] = [
    (Interaction.intent.is_not(None), lambda example: example.c.intent.is_not(None)),
    (Interaction.project.is_not(None), lambda example: example.c.project.is_not(None)),
    (func.cardinality(Feedback.reasons) > 0, lambda example: example.c.reasons.is_not(None)),
]


def first_lines_queries(selection: Selection, shape: Shape) -> list[Select[*tuple[Any, ...]]]:
    """weighted: the first example with an intent, the first with a project and the first
    with reasons (queries that stop at their first row), written before the others.

    `datasets.load_dataset("json")` infers each block's types (10 MB) on its own and fails
    when a block where a field is only ever null (or an empty list) comes before one where
    it is not. With these lines at the top, the first block knows every field's type.
    """
    if shape.format != "weighted":
        return []
    keep = _sft_keep(shape)

    def both(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda example: and_(keep(example), kind(example))

    texts = [_has_text(Interaction.query), _has_text(Interaction.response)]
    return [
        _streamed_examples(selection, shape, both(kind), with_ids=False).where(*texts, own).limit(1)
        for own, kind in _KINDS
    ]


def lines_query(selection: Selection, shape: Shape, *, with_ids: bool) -> Select[*tuple[Any, ...]]:
    """The rows the export writes, one a line: EXAMPLE_COLUMNS (weighted, openai, kto) or
    PAIR_COLUMNS (dpo, openai-dpo), then feedback_ids `with_ids`. Ties (as many up as down)
    and examples on an empty question or answer are left out; corrections too, unless
    `shape.use_corrections`.

    Nothing is sorted ahead in the SFT-like formats: their examples leave as their votes
    are read (`_streamed_examples`). The pair formats group the window by digests of a few
    dozen bytes (`_examples`, hashed, not sorted) before their first pair: a pair needs
    every answer to its prompt.
    """
    if shape.format in PAIRED:
        ex = _examples(selection, with_ids=with_ids, paired=True)
        parts = [_pairs_query(ex, with_ids=with_ids)]
        if shape.use_corrections:
            fixes = _corrections(selection, paired=True, with_ids=with_ids)
            parts.append(_correction_pairs(fixes, with_ids=with_ids))
    else:
        parts = [_streamed_examples(selection, shape, _sft_keep(shape), with_ids=with_ids)]
        if shape.use_corrections:
            fixes = _corrections(selection, paired=False, with_ids=with_ids)
            parts.append(_example_rows(fixes, shape, true(), correction=True, with_ids=with_ids))
    if len(parts) == 1:
        return parts[0]
    rows = union_all(*parts).subquery("lines")
    return select(*rows.c)


def _pairs_query(ex: CTE, *, with_ids: bool) -> Select[*tuple[Any, ...]]:
    """Each rejected answer paired with the best-voted accepted answer to the same prompt."""
    net = ex.c.up - ex.c.down
    rank = func.row_number().over(partition_by=ex.c.prompt, order_by=(net.desc(), ex.c.key))
    ranked = select(ex, rank.label("rank")).cte("ranked")
    chosen, rejected = ranked.alias("c"), ranked.alias("r")
    chosen_text, rejected_text = aliased(Interaction, name="ct"), aliased(Interaction, name="rt")
    columns = _pair_columns(
        chosen_text, chosen_text.response, rejected_text.response, chosen.c.up, rejected.c.down
    )
    if with_ids:
        ids = func.array_cat(chosen.c.feedback_ids, rejected.c.feedback_ids)
        columns.append(ids.label("feedback_ids"))
    return (
        select(*columns)
        .select_from(chosen)
        .join(rejected, rejected.c.prompt == chosen.c.prompt)
        .join(chosen_text, chosen_text.id == chosen.c.rep)
        .join(rejected_text, rejected_text.id == rejected.c.rep)
        .where(
            chosen.c.rank == 1,
            chosen.c.up > chosen.c.down,
            rejected.c.down > rejected.c.up,
            not_(chosen.c.empty),
            not_(rejected.c.empty),
        )
    )


def _pair_columns(exchange: Any, chosen: Any, rejected: Any, up: Any, down: Any) -> list[Any]:
    """PAIR_COLUMNS, the prompt read from `exchange`. The split key is the prompt: a prompt
    never sits on both sides of a train/test split."""
    system = exchange.meta["system_prompt"].astext
    return [
        system.label("system_prompt"),
        exchange.query.label("query"),
        chosen.label("chosen"),
        rejected.label("rejected"),
        up,
        down,
        (func.coalesce(system, "") + exchange.query).label("split_key"),
    ]


def _correction_pairs(fixes: CTE, *, with_ids: bool) -> Select[*tuple[Any, ...]]:
    """A user's correction (chosen) against the answer they voted down (rejected)."""
    vote, exchange = aliased(Feedback, name="rep_vote"), aliased(Interaction, name="rep")
    columns = _pair_columns(exchange, vote.correction, exchange.response, fixes.c.up, fixes.c.down)
    if with_ids:
        columns.append(fixes.c.feedback_ids)
    return (
        select(*columns)
        .select_from(fixes)
        .join(vote, vote.id == fixes.c.rep)
        .join(exchange, exchange.id == vote.interaction_id)
    )


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


class ExportRepository:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def counts(self, selection: Selection, shape: Shape) -> ExportCounts:
        paired = shape.format in PAIRED
        ex = _examples(selection, with_ids=False, paired=paired)
        kept = not_(ex.c.empty)
        row = (
            await self.session.execute(
                select(
                    func.count().filter(ex.c.up > ex.c.down, kept),
                    func.count().filter(ex.c.up < ex.c.down, kept),
                    func.count().filter(ex.c.up == ex.c.down, kept),
                    func.count().filter(ex.c.empty),
                )
            )
        ).one()
        counts = ExportCounts(positives=row[0], negatives=row[1], ties=row[2], empty=row[3])
        if paired:
            counts.pairs = await self._count(_pairs_query(ex, with_ids=False).subquery())
        if shape.use_corrections:
            counts.corrections = await self._count(
                _corrections(selection, paired=paired, with_ids=False)
            )
        return counts

    async def _count(self, rows: Any) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(rows)) or 0)

    async def stream_rows(
        self, selection: Selection, shape: Shape, *, with_ids: bool, batch: int = 5000
    ) -> AsyncIterator[Sequence[AnyRow]]:
        """Batches of `lines_query` rows from a server-side cursor (memory stays flat),
        the rows of `first_lines_queries` first and not again."""
        streamed = shape.format not in PAIRED
        if streamed:
            await self._look_up_twins()
        firsts: list[AnyRow] = []
        if not with_ids:
            for query in first_lines_queries(selection, shape):
                row = (await self.session.execute(query)).first()
                if row is not None and all(row[:3] != other[:3] for other in firsts):
                    firsts.append(row)
        if firsts:
            yield firsts
        done = {tuple(row[:3]) for row in firsts}
        stmt = lines_query(selection, shape, with_ids=with_ids).execution_options(yield_per=batch)
        result = await self.session.stream(stmt)
        async for partition in read_ahead(result.partitions()):
            if streamed or done:
                partition = [
                    row
                    for row in partition
                    if (not streamed or written(row)) and tuple(row[:3]) not in done
                ]
            yield partition

    async def _look_up_twins(self) -> None:
        """For the rest of the transaction: joins by index lookups, never by hashing.

        `_streamed_examples` is fast only as nested loops over indexes (a vote, its
        exchange's twins, their votes). Right after a bulk load, before the statistics of
        `exchange_key`'s index are gathered, the planner guesses thousands of twins per
        exchange and hashes every vote of the window for each one instead. These settings
        make the one plan that streams the only one it considers.
        """
        for name in ("enable_hashjoin", "enable_mergejoin"):
            await self.session.execute(select(func.set_config(name, "off", true())))

    async def stream_feedback_ids(
        self, selection: Selection, shape: Shape, batch: int = 50_000
    ) -> AsyncIterator[Sequence[uuid.UUID]]:
        """The ids of the votes behind the export's lines, each once, in order."""
        lines = lines_query(selection, shape, with_ids=True).subquery("lines")
        ids = func.unnest(lines.c.feedback_ids).table_valued("id").render_derived("ids")
        stmt = select(ids.c.id).select_from(lines).join(ids, true()).distinct().order_by(ids.c.id)
        result = await self.session.stream_scalars(stmt.execution_options(yield_per=batch))
        async for partition in result.partitions():
            yield partition

    async def stream(
        self, stmt: Select[*tuple[Any, ...]], batch: int = 5000
    ) -> AsyncIterator[Sequence[AnyRow]]:
        result = await self.session.stream(stmt.execution_options(yield_per=batch))
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


def interactions_query(
    since: datetime, until: datetime, columns: Iterable[str]
) -> Select[*tuple[Any, ...]]:
    """Interactions of [since, until) with their latest vote and their number of votes.

    `columns` by name: the interactions table's, the latest vote's (is_helpful, stars,
    reasons, comment, correction, feedback_at) and feedback_count.
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
    named: dict[str, Any] = {**dict(Interaction.__table__.c.items()), **dict(latest.c.items())}
    # An interaction without votes has no `latest` row, and 0 votes rather than none.
    named["feedback_count"] = func.coalesce(latest.c.votes, 0).label("feedback_count")
    return (
        select(*(named[name] for name in columns))
        .outerjoin(latest, literal(True))
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
