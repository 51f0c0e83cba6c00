"""Feedback SQL: the one statement that records votes, a vote read, changed or deleted by
id. The lists and the search of votes are in listing.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    CompoundSelect,
    Table,
    Text,
    any_,
    bindparam,
    case,
    delete,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from feedback_api.analytics.changes import change_row, log_changes, utc_hour
from feedback_api.feedback.listing import FeedbackFilter, list_votes
from feedback_api.feedback.models import Feedback
from feedback_api.feedback.view import (
    CONTEXT_COLUMNS,
    FEEDBACK_COLUMNS,
    answer_columns,
    view_columns,
)
from feedback_api.interactions.models import REUSE_INTERACTION, Interaction
from feedback_api.kit.models import (
    AnyRow,
    attribute_names,
    new_id_texts,
    was_inserted,
    written_columns,
)
from feedback_api.kit.recordset import json_recordset, json_row, value_or_default
from feedback_api.kit.statements import frozen
from feedback_api.reasons.models import ProjectReasons
from feedback_api.reasons.schemas import DEFAULT_REASONS

_feedback = cast(Table, Feedback.__table__)
_interactions = cast(Table, Interaction.__table__)
_project_reasons = cast(Table, ProjectReasons.__table__)
_interaction_columns = written_columns(_interactions)

# The columns that name a vote rather than say what it is: a user's second vote on an
# interaction replaces every other column.
_VOTE_IDENTITY = frozenset({"id", "interaction_id", "user_id", "created_at", "updated_at"})


# What a vote body says about the vote: the feedback columns its client may send.
VOTE_COLUMNS = tuple(
    c.name for c in FEEDBACK_COLUMNS if c.name not in ("id", "interaction_id", "updated_at")
)


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


def _submit_votes() -> CompoundSelect[Any]:
    """The statement that records a group of votes, built from the models' own columns.

    Interactions that come with their context are inserted or reused by request_id (`new`);
    those named by reference are looked up (`known`); the votes go to either, and a user's
    second vote on an interaction replaces the first. A vote whose reasons are not all in its
    interaction's project label set (`project_reasons`, else `:default_reasons`) is not
    written: a row of its own answers it, with the allowed labels (`allowed_reasons`); so the
    label sets are read by this statement, not by a round trip per vote (its cost:
    docs/benchmarks/ingest.md, "bench_vote_statement.py"). Rows are written
    in a fixed order (request_id; interaction, user), and a reused interaction is locked
    FOR NO KEY UPDATE only (REUSE_INTERACTION), so two concurrent groups touching the same
    rows wait for each other instead of deadlocking. One statement: atomic without BEGIN and COMMIT.
    Each stored vote's row is its answer: FeedbackOut's fields in order (ANSWER_COLUMNS).
    """
    # search_words: the exchange's words, which the vote copies (Feedback.exchange_words).
    target_columns = ("id", "created_at", "search_words", *CONTEXT_COLUMNS)
    rows = json_recordset("interactions", _interaction_columns)
    new = (
        insert(_interactions)
        .from_select(
            _interaction_columns,
            select(*(value_or_default(rows, c) for c in _interaction_columns)).order_by(
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

    inserted = [c for c in FEEDBACK_COLUMNS if c.name != "updated_at"]
    votes = json_recordset(
        "votes",
        [Column("request_key", Text), *(c for c in inserted if c.name != "interaction_id")],
    )
    allowed = func.coalesce(
        _project_reasons.c.reasons, bindparam("default_reasons", type_=ARRAY(Text))
    )
    checked = (
        select(
            *votes.c,
            target.c.id.label("target_id"),
            target.c.project.label("target_project"),
            allowed.label("allowed_reasons"),
            target.c.search_words.label("target_words"),
        )
        .select_from(
            votes.join(target, target.c.request_id == votes.c.request_key).outerjoin(
                _project_reasons, _project_reasons.c.project == target.c.project
            )
        )
        .cte("checked")
    )
    reasons_allowed = or_(
        checked.c.reasons.is_(None), checked.c.reasons.contained_by(checked.c.allowed_reasons)
    )
    values = {c.name: value_or_default(checked, c) for c in inserted if c.name != "interaction_id"}
    values["interaction_id"] = checked.c.target_id
    written = (
        insert(_feedback)
        .from_select(
            [*inserted, _feedback.c.exchange_words],
            select(*(values[c.name] for c in inserted), checked.c.target_words)
            .where(reasons_allowed)
            .order_by(checked.c.target_id, checked.c.user_id.nulls_last()),
        )
        .on_conflict_do_update(
            constraint="uq_feedback_interaction_user",
            set_={
                **{
                    c.name: insert(_feedback).excluded[c.name]
                    for c in FEEDBACK_COLUMNS
                    if c.name not in _VOTE_IDENTITY
                },
                "updated_at": func.now(),
            },
        )
        .returning(*FEEDBACK_COLUMNS, was_inserted())
        .cte("written")
    )
    view = answer_columns(written, target)
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
    accepted = select(
        *view, written.c.inserted, null().cast(ARRAY(Text)).label("allowed_reasons")
    ).join_from(written, target, target.c.id == written.c.interaction_id)
    # A refused vote: who and where (the keys its result is matched by), and what is allowed.
    refusal = {
        "request_id": checked.c.request_key,
        "user_id": checked.c.user_id,
        "project": checked.c.target_project,
    }
    refused = select(
        *(refusal.get(c.name, null()) for c in view),
        literal_column("false"),
        checked.c.allowed_reasons,
    ).where(~reasons_allowed)
    return accepted.union_all(refused).add_cte(changes)


SUBMIT_VOTES = frozen(_submit_votes())

# What a vote's change-log row needs of the vote.
_LOGGED = (Feedback.id, Feedback.interaction_id, Feedback.created_at, Feedback.user_id)

# Attribute name -> column name where they differ ("meta" -> "metadata"), for the
# interactions' JSON rows.
_INTERACTION_RENAMED = {
    key: name for name, key in attribute_names(Interaction).items() if key != name
}


@dataclass(frozen=True)
class RefusedReasons:
    """A vote not written: a reason of it is not in its project's label set."""

    project: str | None
    allowed: tuple[str, ...]


VoteResult = tuple[dict[str, Any], bool] | RefusedReasons | None


async def submit_votes(
    execute: Any,
    entries: Sequence[VoteEntry],
    default_reasons: Sequence[str] = DEFAULT_REASONS,
) -> list[VoteResult]:
    """Record votes in one statement, whatever their number; one result per entry.

    `execute(statement, parameters)` is a connection's or a session's. Each result is the
    stored vote's answer (FeedbackOut's fields in order, with its rating and its ids as
    text: feedback/view.py, ANSWER_COLUMNS) and whether it is new, or None for a vote by
    reference to a request_id no interaction has. A second vote of the same user on the same
    interaction replaces the first: the unique constraint arbitrates inside the statement,
    so concurrent votes never race a read against a write. Entries count as written one
    after another in the order given: within one call, a later vote of the same user on the
    same interaction replaces the earlier one (the first is reported as created, the later
    ones as replacing it). A vote by reference finds an interaction that another entry of
    the call brings with its context, wherever that entry stands. A vote with a reason its
    project's label set (or `default_reasons`, for a project without one) lacks is refused:
    RefusedReasons (with every entry of the call by that user on that interaction).
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
    keys = [(entry.request_key, entry.vote.get("user_id")) for entry in entries]
    for index, (entry, key) in enumerate(zip(entries, keys, strict=True)):
        vote = {"request_key": key[0], **entry.vote}
        if key in last:
            vote["created_at"] = last[key].get("created_at")
        last[key], final[key] = vote, index
    ids = iter(new_id_texts(len(new) + len(last)))
    interactions = [json_row(next(ids), _column_named(values)) for values in new.values()]
    votes = [json_row(next(ids), values) for values in last.values()]
    parameters = {
        "interactions": interactions,
        "wanted": wanted,
        "votes": votes,
        "default_reasons": list(default_reasons),
    }
    result = await execute(SUBMIT_VOTES, parameters)
    written: dict[tuple[str | None, str | None], tuple[dict[str, Any], bool] | RefusedReasons] = {}
    names = list(result.keys())
    for row in result:
        view = dict(zip(names, row, strict=True))  # plain tuples: no RowMapping per row
        inserted = bool(view.pop("inserted"))
        allowed = view.pop("allowed_reasons")
        key = (view["request_id"], view["user_id"])
        if allowed is not None:
            written[key] = RefusedReasons(view["project"], tuple(allowed))
        else:
            written[key] = (view, inserted)
    results: list[VoteResult] = []
    reported: set[tuple[str | None, str | None]] = set()
    for index, (entry, key) in enumerate(zip(entries, keys, strict=True)):
        outcome = written.get(key)
        if outcome is None or isinstance(outcome, RefusedReasons):
            results.append(outcome)
            continue
        view, inserted = outcome
        if index != final[key]:  # replaced within this call: its answer shows its own vote
            view = {**view, **{k: v for k, v in entry.vote.items() if k not in _VOTE_IDENTITY}}
            view["rating"] = 1 if view["is_helpful"] else -1
        results.append((view, inserted and key not in reported))
        reported.add(key)
    return results


def _column_named(values: dict[str, Any]) -> dict[str, Any]:
    """An interaction's values by attribute name, keyed by column name instead."""
    row = dict(values)
    for key, name in _INTERACTION_RENAMED.items():
        if key in row:
            row[name] = row.pop(key)
    return row


async def write_votes(
    connection: AsyncConnection,
    entries: Sequence[VoteEntry],
    default_reasons: Sequence[str] = DEFAULT_REASONS,
) -> list[VoteResult]:
    """`submit_votes` on a connection of the group-commit writers."""
    return await submit_votes(connection.execute, entries, default_reasons)


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def submit(self, entry: VoteEntry, default_reasons: Sequence[str]) -> VoteResult:
        """`submit_votes` for one vote, in this session's transaction (which the caller
        commits: an Idempotency-Key claim commits with it)."""
        [written] = await submit_votes(self.session.execute, [entry], default_reasons)
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
        """Newest first, keyset-paginated on (created_at, id) (listing.py says how)."""
        return await list_votes(self.session, where, limit, after)
