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
    Numeric,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

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


@dataclass
class ExportCounts:
    positives: int = 0
    negatives: int = 0
    ties: int = 0
    pairs: int = 0


def _message(role: str, content: Any) -> Any:
    return func.json_build_object("role", role, "content", content)


def _examples(selection: Selection, *, with_ids: bool) -> CTE:
    """One row per distinct (system prompt, question, answer) with its votes in the window.

    A user's latest vote is the only row they have (votes are upserted); deleted feedback
    is gone from the table; identical pairs collapse into one example labelled by the
    majority of their votes.
    """
    system = Interaction.meta["system_prompt"].astext
    columns = [
        system.label("system_prompt"),
        Interaction.query.label("query"),
        Interaction.response.label("response"),
        func.count().filter(Feedback.is_helpful).label("up"),
        func.count().filter(not_(Feedback.is_helpful)).label("down"),
        func.min(Interaction.model).label("model"),
        func.min(Interaction.intent).label("intent"),
        func.min(Interaction.project).label("project"),
        func.min(Interaction.created_at).label("created_at"),
        func.max(Feedback.created_at).label("voted_at"),
        func.min(Interaction.session_id).label("session_id"),
        func.min(Interaction.user_id).label("user_id"),
    ]
    if with_ids:
        columns.append(func.array_agg(Feedback.id).label("feedback_ids"))
    where = [Feedback.created_at >= selection.since, Feedback.created_at < selection.until]
    where += [getattr(Interaction, k) == v for k, v in selection.filters().items()]
    return (
        select(*columns)
        .select_from(Feedback)
        .join(Interaction, Interaction.id == Feedback.interaction_id)
        .where(*where)
        .group_by(system, Interaction.query, Interaction.response)
        .cte("ex")
    )


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


def lines_query(selection: Selection, shape: Shape, *, with_ids: bool) -> Select[*tuple[Any, ...]]:
    """(line, up, down, split_key[, feedback_ids]) rows; ties (as many up as down) left out."""
    ex = _examples(selection, with_ids=with_ids)
    positive = ex.c.up > ex.c.down
    if shape.format in PAIRED:
        return _pairs_query(ex, shape, with_ids=with_ids)
    if shape.format == "weighted":
        line = func.json_build_object(
            "messages", _conversation(ex, _message("assistant", ex.c.response)),
            "weight", case((positive, _number(shape.positive_weight)),
                           else_=_number(shape.negative_weight)),
            "metadata", func.json_build_object(
                # "" rather than null: a column that is null in a whole block of lines
                # makes `datasets` infer the wrong type and fail on a later block.
                "model", ex.c.model, "intent", func.coalesce(ex.c.intent, ""),
                "project", func.coalesce(ex.c.project, ""),
                "created_at", ex.c.created_at, "voted_at", ex.c.voted_at,
                "up_votes", ex.c.up, "down_votes", ex.c.down,
            ),
        )  # fmt: skip
    elif shape.format == "openai":
        if shape.include_negative:
            assistant = func.json_build_object(
                "role", "assistant", "content", ex.c.response,
                "weight", case((positive, 1), else_=0),
            )  # fmt: skip
        else:
            assistant = _message("assistant", ex.c.response)
        line = func.json_build_object("messages", _conversation(ex, assistant))
    else:  # kto
        line = func.json_build_object(
            "prompt", _prompt(ex),
            "completion", func.json_build_array(_message("assistant", ex.c.response)),
            "label", positive,
        )  # fmt: skip
    keep = ex.c.up != ex.c.down
    if shape.format == "openai" and not shape.include_negative:
        keep = positive
    columns = [cast(line, Text).label("line"), ex.c.up, ex.c.down, _split_key(ex, shape)]
    if with_ids:
        columns.append(ex.c.feedback_ids)
    return select(*columns).where(keep).order_by(ex.c.query, ex.c.response)


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
    chosen_msg = func.json_build_array(_message("assistant", chosen.c.response))
    rejected_msg = func.json_build_array(_message("assistant", rejected.c.response))
    if shape.format == "dpo":
        line = func.json_build_object(
            "prompt", _prompt(chosen), "chosen", chosen_msg, "rejected", rejected_msg
        )
    else:
        line = func.json_build_object(
            "input", func.json_build_object("messages", _prompt(chosen)),
            "preferred_output", chosen_msg,
            "non_preferred_output", rejected_msg,
        )  # fmt: skip
    columns = [
        cast(line, Text).label("line"),
        chosen.c.up,
        rejected.c.down,
        # A prompt never sits on both sides of a train/test split.
        func.coalesce(chosen.c.system_prompt, "") + chosen.c.query,
    ]
    if with_ids:
        columns.append(func.array_cat(chosen.c.feedback_ids, rejected.c.feedback_ids))
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
        .where(chosen.c.rank == 1, chosen.c.up > chosen.c.down, rejected.c.down > rejected.c.up)
        .order_by(chosen.c.query, rejected.c.response)
    )


class ExportRepository:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def counts(self, selection: Selection, shape: Shape) -> ExportCounts:
        ex = _examples(selection, with_ids=False)
        row = (
            await self.session.execute(
                select(
                    func.count().filter(ex.c.up > ex.c.down),
                    func.count().filter(ex.c.up < ex.c.down),
                    func.count().filter(ex.c.up == ex.c.down),
                )
            )
        ).one()
        counts = ExportCounts(positives=row[0], negatives=row[1], ties=row[2])
        if shape.format in PAIRED:
            pairs = lines_query(selection, shape, with_ids=False).subquery()
            counts.pairs = int(
                await self.session.scalar(select(func.count()).select_from(pairs)) or 0
            )
        return counts

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
    comment, feedback_at) and feedback_count.
    """
    latest = (
        select(
            Feedback.is_helpful,
            Feedback.stars,
            Feedback.comment,
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
