"""Export SQL. PostgreSQL builds each JSON line itself (json_build_object), so examples stream
out of a server-side cursor about as fast as its own COPY writes them (docs/benchmarks.md)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    ColumnElement,
    Numeric,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics import figures
from feedback_api.exports.models import ExportRun
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
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


def _message(role: str, content: Any) -> Any:
    return func.json_build_object("role", role, "content", content)


def _selected(selection: Selection) -> list[ColumnElement[bool]]:
    where = [Feedback.created_at >= selection.since, Feedback.created_at < selection.until]
    return where + [getattr(Interaction, k) == v for k, v in selection.filters().items()]


def _example_context() -> list[ColumnElement[Any]]:
    """What an example (a group of votes) tells of its exchanges and votes: the metadata of
    every training format, and every vote's reasons as a JSON array of arrays (merged by
    `_reasons`)."""
    return [
        func.min(Interaction.model).label("model"),
        func.min(Interaction.intent).label("intent"),
        func.min(Interaction.project).label("project"),
        func.min(Interaction.created_at).label("created_at"),
        func.max(Feedback.created_at).label("voted_at"),
        func.min(Interaction.session_id).label("session_id"),
        func.min(Interaction.user_id).label("user_id"),
        func.jsonb_agg(Feedback.reasons).label("reasons"),
    ]


def _examples(selection: Selection, *, with_ids: bool) -> CTE:
    """One row per distinct (system prompt, question, answer) with its votes in the window.

    A user's latest vote is the only row they have (votes are upserted); deleted feedback
    is gone from the table; identical pairs collapse into one example labelled by the
    majority of their votes. `empty`: the question or the answer has no text (such an
    example is counted, never written).
    """
    system = Interaction.meta["system_prompt"].astext
    columns = [
        system.label("system_prompt"),
        Interaction.query.label("query"),
        Interaction.response.label("response"),
        figures.positive().label("up"),
        figures.negative().label("down"),
        *_example_context(),
        not_(and_(_has_text(Interaction.query), _has_text(Interaction.response))).label("empty"),
    ]
    if with_ids:
        columns.append(func.array_agg(Feedback.id).label("feedback_ids"))
    return (
        select(*columns)
        .select_from(Feedback)
        .join(Interaction, Interaction.id == Feedback.interaction_id)
        .where(*_selected(selection))
        .group_by(system, Interaction.query, Interaction.response)
        .cte("ex")
    )


def _corrections(selection: Selection, *, paired: bool, with_ids: bool) -> CTE:
    """The corrections users gave with a thumbs-down: one row per distinct (system prompt,
    question, correction), with `rejected`, the answer voted down, too when `paired`.

    Like the other examples: nothing of a vote on an empty question or answer, no empty
    correction, and none that repeats the answer it corrects. `up` counts the users who
    wrote it; `down` is 0.
    """
    system = Interaction.meta["system_prompt"].astext
    keys = [system, Interaction.query, Feedback.correction]
    if paired:
        keys.append(Interaction.response)
    columns = [
        system.label("system_prompt"),
        Interaction.query.label("query"),
        Feedback.correction.label("response"),
        func.count().label("up"),
        literal(0).label("down"),
        *_example_context(),
    ]
    if paired:
        columns.append(Interaction.response.label("rejected"))
    if with_ids:
        columns.append(func.array_agg(Feedback.id).label("feedback_ids"))
    return (
        select(*columns)
        .select_from(Feedback)
        .join(Interaction, Interaction.id == Feedback.interaction_id)
        .where(
            *_selected(selection),
            not_(Feedback.is_helpful),
            _has_text(Interaction.query),
            _has_text(Interaction.response),
            _has_text(Feedback.correction),
            Feedback.correction != Interaction.response,
        )
        .group_by(*keys)
        .cte("fixes_paired" if paired else "fixes")
    )


def _reasons(ex: Any) -> Any:
    """The distinct reasons of an example's votes, sorted, as a JSON array ([] for none)."""
    vote = func.jsonb_array_elements(ex.c.reasons).table_valued("value").render_derived("vote")
    label = func.jsonb_array_elements_text(vote.c.value).table_valued("value")
    label = label.render_derived("label")
    merged = func.coalesce(
        func.json_agg(aggregate_order_by(label.c.value.distinct(), label.c.value)),
        literal_column("'[]'::json"),
    )
    return select(merged).select_from(vote).join(label, true()).scalar_subquery()


def _prompt(ex: Any) -> Any:
    user = _message("user", ex.c.query)
    return case(
        (ex.c.system_prompt.is_(None), func.json_build_array(user)),
        else_=func.json_build_array(_message("system", ex.c.system_prompt), user),
    )


def _conversation(ex: Any, assistant: Any) -> Any:
    user = _message("user", ex.c.query)
    return case(
        (ex.c.system_prompt.is_(None), func.json_build_array(user, assistant)),
        else_=func.json_build_array(_message("system", ex.c.system_prompt), user, assistant),
    )


def _number(value: float) -> Any:
    # numeric renders as 2.0 in JSON (float8 would render 2): one type on every line.
    return cast(literal(repr(float(value)), String), Numeric)


def _split_key(ex: Any, shape: Shape) -> Any:
    first = ex.c.session_id if shape.split_by == "session" else ex.c.user_id
    return func.coalesce(first, ex.c.user_id, ex.c.session_id, ex.c.query)


def _line_rows(
    ex: Any, line: Any, keep: Any, shape: Shape, *, with_ids: bool
) -> Select[*tuple[Any, ...]]:
    """(line, up, down, split_key[, feedback_ids], then what `lines_query` orders by)."""
    split = _split_key(ex, shape).label("split_key")
    columns = [cast(line, Text).label("line"), ex.c.up, ex.c.down, split]
    if with_ids:
        columns.append(ex.c.feedback_ids)
    columns += [ex.c.query, ex.c.response, ex.c.intent, ex.c.project, ex.c.reasons]
    return select(*columns).where(keep)


def _sft_line(ex: Any, shape: Shape, positive: Any, *, correction: bool) -> Any:
    """The line of one example in an SFT-like format (weighted, openai, kto)."""
    if shape.format == "weighted":
        return func.json_build_object(
            "messages", _conversation(ex, _message("assistant", ex.c.response)),
            "weight", case((positive, _number(shape.positive_weight)),
                           else_=_number(shape.negative_weight)),
            "metadata", func.json_build_object(
                "model", ex.c.model, "intent", ex.c.intent, "project", ex.c.project,
                "created_at", ex.c.created_at, "voted_at", ex.c.voted_at,
                "up_votes", ex.c.up, "down_votes", ex.c.down,
                "reasons", _reasons(ex), "correction", literal(correction),
            ),
        )  # fmt: skip
    if shape.format == "openai":
        if shape.include_negative:
            assistant = func.json_build_object(
                "role", "assistant", "content", ex.c.response,
                "weight", case((positive, 1), else_=0),
            )  # fmt: skip
        else:
            assistant = _message("assistant", ex.c.response)
        return func.json_build_object("messages", _conversation(ex, assistant))
    return func.json_build_object(  # kto
        "prompt", _prompt(ex),
        "completion", func.json_build_array(_message("assistant", ex.c.response)),
        "label", positive,
    )  # fmt: skip


def lines_query(selection: Selection, shape: Shape, *, with_ids: bool) -> Select[*tuple[Any, ...]]:
    """(line, up, down, split_key[, feedback_ids]) rows; ties (as many up as down) and
    examples on an empty question or answer left out; corrections too, unless
    `shape.use_corrections`."""
    if shape.format in PAIRED:
        parts = [_pairs_query(_examples(selection, with_ids=with_ids), shape, with_ids=with_ids)]
        if shape.use_corrections:
            fixes = _corrections(selection, paired=True, with_ids=with_ids)
            parts.append(_correction_pairs(fixes, shape, with_ids=with_ids))
    else:
        ex = _examples(selection, with_ids=with_ids)
        positive = ex.c.up > ex.c.down
        keep = and_(ex.c.up != ex.c.down, not_(ex.c.empty))
        if shape.format == "openai" and not shape.include_negative:
            keep = and_(positive, not_(ex.c.empty))
        line = _sft_line(ex, shape, positive, correction=False)
        parts = [_line_rows(ex, line, keep, shape, with_ids=with_ids)]
        if shape.use_corrections:
            fixes = _corrections(selection, paired=False, with_ids=with_ids)
            line = _sft_line(fixes, shape, true(), correction=True)
            parts.append(_line_rows(fixes, line, true(), shape, with_ids=with_ids))
    rows = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("lines")
    columns = [rows.c.line, rows.c.up, rows.c.down, rows.c.split_key]
    if with_ids:
        columns.append(rows.c.feedback_ids)
    order: list[Any] = [rows.c.query, rows.c.response]
    if shape.format == "weighted":
        order.insert(0, _first_of_each_kind(rows, order).desc())
    return select(*columns).order_by(*order)


def _first_of_each_kind(rows: Any, order: list[Any]) -> Any:
    """True on the first line with an intent, the first with a project and the first with
    reasons: `lines_query` writes them first.

    `datasets.load_dataset("json")` infers each block's types (10 MB) on its own and fails
    when a block where a field is only ever null (or an empty list) comes before one where
    it is not. With these lines at the top, the first block knows every field's type.
    """
    firsts = []
    for present in (
        rows.c.intent.is_not(None),
        rows.c.project.is_not(None),
        func.jsonb_path_exists(rows.c.reasons, literal_column("'$[*][*]'::jsonpath")),
    ):
        rank = func.row_number().over(partition_by=present, order_by=order)
        firsts.append(and_(present, rank == 1))
    return or_(*firsts)


def _pairs_query(ex: CTE, shape: Shape, *, with_ids: bool) -> Select[*tuple[Any, ...]]:
    """Each rejected answer paired with the best-voted accepted answer to the same prompt."""
    net = ex.c.up - ex.c.down
    ranked = select(
        ex,
        func.row_number()
        .over(
            partition_by=(ex.c.system_prompt, ex.c.query),
            order_by=(net.desc(), ex.c.response),
        )
        .label("rank"),
    ).cte("ranked")
    chosen, rejected = ranked.alias("c"), ranked.alias("r")
    line = _pair_line(shape, chosen, chosen.c.response, rejected.c.response)
    columns = [
        cast(line, Text).label("line"),
        chosen.c.up,
        rejected.c.down,
        _prompt_key(chosen),
    ]
    if with_ids:
        ids = func.array_cat(chosen.c.feedback_ids, rejected.c.feedback_ids)
        columns.append(ids.label("feedback_ids"))
    columns += _pair_order(chosen.c.query, rejected.c.response)
    return (
        select(*columns)
        .select_from(chosen)
        .join(
            rejected,
            and_(
                rejected.c.query == chosen.c.query,
                rejected.c.system_prompt.is_not_distinct_from(chosen.c.system_prompt),
            ),
        )
        .where(
            chosen.c.rank == 1,
            chosen.c.up > chosen.c.down,
            rejected.c.down > rejected.c.up,
            not_(chosen.c.empty),
            not_(rejected.c.empty),
        )
    )


def _prompt_key(ex: Any) -> Any:
    # A prompt never sits on both sides of a train/test split.
    return (func.coalesce(ex.c.system_prompt, "") + ex.c.query).label("split_key")


def _pair_order(query: Any, rejected: Any) -> list[Any]:
    """The columns `lines_query` reads besides the line (pair formats order by two only)."""
    none: ColumnElement[Any] = literal_column("NULL")
    return [
        query.label("query"),
        rejected.label("response"),
        none.label("intent"),
        none.label("project"),
        literal_column("NULL::jsonb").label("reasons"),
    ]


def _pair_line(shape: Shape, ex: Any, chosen: Any, rejected: Any) -> Any:
    chosen_msg = func.json_build_array(_message("assistant", chosen))
    rejected_msg = func.json_build_array(_message("assistant", rejected))
    if shape.format == "dpo":
        return func.json_build_object(
            "prompt", _prompt(ex), "chosen", chosen_msg, "rejected", rejected_msg
        )
    return func.json_build_object(
        "input", func.json_build_object("messages", _prompt(ex)),
        "preferred_output", chosen_msg,
        "non_preferred_output", rejected_msg,
    )  # fmt: skip


def _correction_pairs(fixes: CTE, shape: Shape, *, with_ids: bool) -> Select[*tuple[Any, ...]]:
    """A user's correction (chosen) against the answer they voted down (rejected)."""
    line = _pair_line(shape, fixes, fixes.c.response, fixes.c.rejected)
    columns = [cast(line, Text).label("line"), fixes.c.up, fixes.c.down, _prompt_key(fixes)]
    if with_ids:
        columns.append(fixes.c.feedback_ids)
    columns += _pair_order(fixes.c.query, fixes.c.rejected)
    return select(*columns)


class ExportRepository:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def counts(self, selection: Selection, shape: Shape) -> ExportCounts:
        ex = _examples(selection, with_ids=False)
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
        paired = shape.format in PAIRED
        if paired:
            pairs = _pairs_query(ex, shape, with_ids=False).subquery()
            counts.pairs = await self._count(pairs)
        if shape.use_corrections:
            counts.corrections = await self._count(
                _corrections(selection, paired=paired, with_ids=False)
            )
        return counts

    async def _count(self, rows: Any) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(rows)) or 0)

    async def stream_lines(
        self, selection: Selection, shape: Shape, *, with_ids: bool, batch: int = 5000
    ) -> AsyncIterator[Sequence[AnyRow]]:
        """Batches of rows from a server-side cursor: memory stays flat at any size."""
        stmt = lines_query(selection, shape, with_ids=with_ids).execution_options(yield_per=batch)
        result = await self.session.stream(stmt)
        async for partition in result.partitions():
            yield partition

    async def stream_text(
        self, selection: Selection, shape: Shape, batch: int = 10_000
    ) -> AsyncIterator[Sequence[str]]:
        """Just the JSON lines, as plain strings: the lightest path from cursor to socket."""
        stmt = lines_query(selection, shape, with_ids=False)
        stmt = stmt.with_only_columns(stmt.selected_columns[0]).execution_options(yield_per=batch)
        result = await self.session.stream_scalars(stmt)
        async for partition in result.partitions():
            yield partition

    async def stream(
        self, stmt: Select[*tuple[Any, ...]], batch: int = 5000
    ) -> AsyncIterator[Sequence[AnyRow]]:
        result = await self.session.stream(stmt.execution_options(yield_per=batch))
        async for partition in result.partitions():
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
