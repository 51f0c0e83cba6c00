"""Feedback SQL: the one statement that records votes, and the reads of the feedback view."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    DefaultClause,
    FromClause,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    case,
    column,
    delete,
    false,
    func,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.expression import TableValuedAlias

from feedback_api.analytics.repository import change_row, log_changes, utc_hour
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import REUSE_INTERACTION, Interaction
from feedback_api.kit.models import AnyRow, attribute_names, new_id_texts, was_inserted

_feedback = cast(Table, Feedback.__table__)
_interactions = cast(Table, Interaction.__table__)

# What a vote shows of its interaction. With every column of the vote, this is the
# feedback-with-context view that GET answers with and the vote statement returns.
CONTEXT_COLUMNS = ("request_id", "query", "response", "model", "intent", "project", "session_id")
# The columns that name a vote rather than say what it is: a user's second vote on an
# interaction replaces every other column.
_VOTE_IDENTITY = frozenset({"id", "interaction_id", "user_id", "created_at", "updated_at"})


# What a vote body says about the vote: the feedback columns its client may send.
VOTE_COLUMNS = tuple(
    c.name for c in _feedback.columns if c.name not in ("id", "interaction_id", "updated_at")
)


def view_columns(feedback: FromClause, interaction: FromClause) -> list[ColumnElement[Any]]:
    """The feedback-with-context columns, from the feedback and interaction tables or CTEs."""
    return [
        *(feedback.c[c.name] for c in _feedback.columns),
        *(interaction.c[name] for name in CONTEXT_COLUMNS),
    ]


@dataclass(frozen=True)
class VoteEntry:
    """One vote to record: its column values and where its interaction comes from.

    `vote` is keyed by the feedback table's column names; `interaction` holds the values of
    an interaction to insert or reuse, keyed by the model's attribute names.
    """

    vote: dict[str, Any]
    interaction: dict[str, Any] | None = None
    request_id: str | None = None  # or the request_id of a logged one

    @property
    def request_key(self) -> str | None:
        return self.interaction["request_id"] if self.interaction is not None else self.request_id


def _recordset(name: str, columns: Iterable[Column[Any]]) -> TableValuedAlias:
    """`json_to_recordset(:name) AS name_rows(column type, ...)`: rows as one JSON document.

    One parameter whatever the number of rows, so the statement (and its prepared plan) is the
    same for every group, and encoding it is one C-level `json.dumps`; an array parameter per
    column is checked element by element in Python by asyncpg (docs/benchmarks.md).
    """
    return (
        func.json_to_recordset(bindparam(name, type_=JSON))
        .table_valued(*(column(c.name, c.type) for c in columns))
        .render_derived(name=f"{name}_rows", with_types=True)
    )


def _value_or_default(rows: TableValuedAlias, column_: Column[Any]) -> ColumnElement[Any]:
    """A row's value for `column_`, or the column's server default where the row has none
    (a JSON row leaves out what the client did not send)."""
    default = column_.server_default
    if not isinstance(default, DefaultClause):
        return rows.c[column_.name]
    arg = default.arg
    return func.coalesce(rows.c[column_.name], literal_column(arg) if isinstance(arg, str) else arg)


def _submit_votes() -> Select[Any]:
    """The statement that records a group of votes, built from the models' own columns.

    Interactions that come with their context are inserted or reused by request_id (`new`);
    those named by reference are looked up (`known`); the votes go to either, and a user's
    second vote on an interaction replaces the first. Rows are written in a fixed order
    (request_id; interaction, user), and a reused interaction is locked FOR NO KEY UPDATE
    only (REUSE_INTERACTION), so two concurrent groups touching the same rows wait for each
    other instead of deadlocking. One statement: atomic without BEGIN and COMMIT.
    """
    target_columns = ("id", "created_at", *CONTEXT_COLUMNS)
    rows = _recordset("interactions", _interactions.columns)
    new = (
        insert(_interactions)
        .from_select(
            list(_interactions.columns),
            select(*(_value_or_default(rows, c) for c in _interactions.columns)).order_by(
                rows.c.request_id
            ),
        )
        .on_conflict_do_update(index_elements=[_interactions.c.request_id], set_=REUSE_INTERACTION)
        .returning(*(_interactions.c[name] for name in target_columns), was_inserted())
        .cte("new")
    )
    known = select(*(_interactions.c[name] for name in target_columns), false()).where(
        _interactions.c.request_id == any_(bindparam("wanted", type_=ARRAY(Text)))
    )
    target = select(*new.c).union_all(known).cte("target")

    inserted = [c for c in _feedback.columns if c.name != "updated_at"]
    votes = _recordset(
        "votes",
        [Column("request_key", Text), *(c for c in inserted if c.name != "interaction_id")],
    )
    values = {c.name: _value_or_default(votes, c) for c in inserted if c.name != "interaction_id"}
    values["interaction_id"] = target.c.id
    written = (
        insert(_feedback)
        .from_select(
            inserted,
            select(*(values[c.name] for c in inserted))
            .select_from(votes.join(target, target.c.request_id == votes.c.request_key))
            .order_by(target.c.id, votes.c.user_id.nulls_last()),
        )
        .on_conflict_do_update(
            constraint="uq_feedback_interaction_user",
            set_={
                **{
                    c.name: insert(_feedback).excluded[c.name]
                    for c in _feedback.columns
                    if c.name not in _VOTE_IDENTITY
                },
                "updated_at": func.now(),
            },
        )
        .returning(*_feedback.columns, was_inserted())
        .cte("written")
    )
    # What the analytics must recompute, logged by this same statement: the stored vote's
    # cast time is also the replaced vote's (created_at names a vote, _VOTE_IDENTITY), so
    # one row covers the old and the new vote.
    changes = log_changes(
        select(
            *change_row(
                target,
                written,
                query_hour=case((target.c.inserted, utc_hour(target.c.created_at))),
            )
        ).join_from(written, target, target.c.id == written.c.interaction_id)
    ).cte("changes")
    return (
        select(*view_columns(written, target), written.c.inserted)
        .join_from(written, target, target.c.id == written.c.interaction_id)
        .add_cte(changes)
    )


SUBMIT_VOTES = _submit_votes()

# What a vote's change-log row needs of the vote.
_LOGGED = (Feedback.id, Feedback.interaction_id, Feedback.created_at, Feedback.user_id)

# Attribute name -> column name ("meta" -> "metadata"), for the interactions' JSON rows.
_INTERACTION_COLUMN_NAMES = {key: name for name, key in attribute_names(Interaction).items()}


def _json_row(id_text: str, values: dict[str, Any]) -> dict[str, Any]:
    row = {"id": id_text, **values}
    if row.get("created_at") is not None:  # a time the client gave: ISO 8601, with its zone
        row["created_at"] = row["created_at"].isoformat()
    return row


VoteResult = tuple[dict[str, Any], bool] | None


async def submit_votes(execute: Any, entries: Sequence[VoteEntry]) -> list[VoteResult]:
    """Record votes in one statement, whatever their number; one result per entry.

    `execute(statement, parameters)` is a connection's or a session's. Each result is the
    feedback-with-context view of the vote and whether it is new, or None for a vote by
    reference to a request_id no interaction has. A second vote of the same user on the same
    interaction replaces the first: the unique constraint arbitrates inside the statement,
    so concurrent votes never race a read against a write. Entries count as written one
    after another in the order given: within one call, a later vote of the same user on the
    same interaction replaces the earlier one (the first is reported as created, the later
    ones as replacing it). A vote by reference finds an interaction that another entry of
    the call brings with its context, wherever that entry stands.
    """
    new: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.interaction is not None:
            new.setdefault(entry.interaction["request_id"], entry.interaction)
    wanted = sorted(
        {e.request_id for e in entries if e.interaction is None and e.request_id} - set(new)
    )
    # The last vote per (interaction, user) is the one that stays; request_id names the
    # interaction as well as its id does. It keeps the first one's creation time, as a
    # replacing vote written after it would.
    last: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    final: dict[tuple[str | None, str | None], int] = {}
    for index, entry in enumerate(entries):
        key = (entry.request_key, entry.vote.get("user_id"))
        vote = {"request_key": entry.request_key, **entry.vote}
        if key in last:
            vote["created_at"] = last[key].get("created_at")
        last[key], final[key] = vote, index
    ids = iter(new_id_texts(len(new) + len(last)))
    interactions = [
        _json_row(next(ids), {_INTERACTION_COLUMN_NAMES[k]: v for k, v in values.items()})
        for values in new.values()
    ]
    votes = [_json_row(next(ids), values) for values in last.values()]
    result = await execute(
        SUBMIT_VOTES, {"interactions": interactions, "wanted": wanted, "votes": votes}
    )
    written: dict[tuple[str | None, str | None], tuple[dict[str, Any], bool]] = {}
    keys = list(result.keys())
    for row in result:
        view = dict(zip(keys, row, strict=True))  # plain tuples: no RowMapping per row
        inserted = bool(view.pop("inserted"))
        written[(view["request_id"], view["user_id"])] = (view, inserted)
    results: list[VoteResult] = []
    reported: set[tuple[str | None, str | None]] = set()
    for index, entry in enumerate(entries):
        key = (entry.request_key, entry.vote.get("user_id"))
        outcome = written.get(key)
        if outcome is None:
            results.append(None)
            continue
        view, inserted = outcome
        if index != final[key]:  # replaced within this call: its answer shows its own vote
            view = {**view, **{k: v for k, v in entry.vote.items() if k not in _VOTE_IDENTITY}}
        results.append((view, inserted and key not in reported))
        reported.add(key)
    return results


async def write_votes(
    connection: AsyncConnection, entries: Sequence[VoteEntry]
) -> list[VoteResult]:
    """`submit_votes` on a connection of the group-commit writers."""
    return await submit_votes(connection.execute, entries)


@dataclass(frozen=True)
class FeedbackFilter:
    model: str | None = None
    intent: str | None = None
    project: str | None = None
    user_id: str | None = None
    is_helpful: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def submit(self, entry: VoteEntry) -> VoteResult:
        """`submit_votes` for one vote, in this session's transaction (which the caller
        commits: an Idempotency-Key claim commits with it)."""
        [written] = await submit_votes(self.session.execute, [entry])
        return written

    async def get_view(self, feedback_id: uuid.UUID) -> AnyRow | None:
        stmt = select(*view_columns(_feedback, _interactions)).join_from(_feedback, _interactions)
        return (await self.session.execute(stmt.where(_feedback.c.id == feedback_id))).one_or_none()

    async def update(self, feedback_id: uuid.UUID, changes: dict[str, Any]) -> bool:
        changed = (
            update(Feedback)
            .where(Feedback.id == feedback_id)
            .values(**changes, updated_at=func.now())
            .returning(*_LOGGED)
            .cte("changed")
        )
        # The cast time stays, so the voter's last cast does too: only the figures change.
        return await self._logged(changed, members=False, removed=False)

    async def delete(self, feedback_id: uuid.UUID) -> bool:
        gone = delete(Feedback).where(Feedback.id == feedback_id).returning(*_LOGGED).cte("gone")
        return await self._logged(gone, members=True, removed=True)

    async def _logged(self, written: Any, *, members: bool, removed: bool) -> bool:
        """Run a vote's UPDATE/DELETE ... RETURNING (a CTE) with its change-log row, in one
        statement; whether it found the vote."""
        logged = log_changes(
            select(*change_row(_interactions, written, members=members, removed=removed)).join_from(
                written, _interactions, _interactions.c.id == written.c.interaction_id
            )
        ).cte("logged")
        stmt = select(written.c.id).add_cte(logged)
        return (await self.session.execute(stmt)).first() is not None

    async def list(
        self,
        where: FeedbackFilter,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
    ) -> list[AnyRow]:
        """Newest first, keyset-paginated on (created_at, id): page N costs what page 1 does."""
        stmt = select(*view_columns(_feedback, _interactions)).join_from(_feedback, _interactions)
        conditions = {
            Interaction.model: where.model,
            Interaction.intent: where.intent,
            Interaction.project: where.project,
            Feedback.user_id: where.user_id,
            Feedback.is_helpful: where.is_helpful,
        }
        for column_, value in conditions.items():
            if value is not None:
                stmt = stmt.where(column_ == value)
        if where.since is not None:
            stmt = stmt.where(Feedback.created_at >= where.since)
        if where.until is not None:
            stmt = stmt.where(Feedback.created_at < where.until)
        if after is not None:
            stmt = stmt.where(tuple_(Feedback.created_at, Feedback.id) < tuple_(*after))
        stmt = stmt.order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(limit)
        return list((await self.session.execute(stmt)).all())
