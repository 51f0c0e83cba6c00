"""Feedback SQL: the one statement that records votes, and the reads of the feedback view."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    CompoundSelect,
    Float,
    FromClause,
    Integer,
    Select,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    case,
    column,
    delete,
    false,
    func,
    join,
    literal_column,
    null,
    or_,
    select,
    table,
    tuple_,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from feedback_api.analytics.changes import change_row, log_changes, utc_hour
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import REUSE_INTERACTION, Interaction
from feedback_api.kit import search
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
# What a statement writes and an answer shows: not the columns PostgreSQL computes.
# Written by the vote statement from the vote's exchange, never sent or shown: not a column
# of the view.
_COPIED = frozenset({"exchange_words"})
_feedback_columns = [c for c in written_columns(_feedback) if c.name not in _COPIED]
_interaction_columns = written_columns(_interactions)

# What a vote shows of its interaction. With every column of the vote, this is the
# feedback-with-context view that GET answers with and the vote statement returns.
CONTEXT_COLUMNS = ("request_id", "query", "response", "model", "intent", "project", "session_id")
# The columns that name a vote rather than say what it is: a user's second vote on an
# interaction replaces every other column.
_VOTE_IDENTITY = frozenset({"id", "interaction_id", "user_id", "created_at", "updated_at"})


# What a vote body says about the vote: the feedback columns its client may send.
VOTE_COLUMNS = tuple(
    c.name for c in _feedback_columns if c.name not in ("id", "interaction_id", "updated_at")
)


def view_columns(feedback: FromClause, interaction: FromClause) -> list[ColumnElement[Any]]:
    """The feedback-with-context columns, from the feedback and interaction tables or CTEs."""
    return [
        *(feedback.c[c.name] for c in _feedback_columns),
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


def _submit_votes() -> CompoundSelect[Any]:
    """The statement that records a group of votes, built from the models' own columns.

    Interactions that come with their context are inserted or reused by request_id (`new`);
    those named by reference are looked up (`known`); the votes go to either, and a user's
    second vote on an interaction replaces the first. A vote whose reasons are not all in its
    interaction's project label set (`project_reasons`, else `:default_reasons`) is not
    written: a row of its own answers it, with the allowed labels (`allowed_reasons`); so the
    label sets are read by this statement, not by a round trip per vote (its cost:
    docs/benchmarks.md, "bench_vote_statement.py"). Rows are written
    in a fixed order (request_id; interaction, user), and a reused interaction is locked
    FOR NO KEY UPDATE only (REUSE_INTERACTION), so two concurrent groups touching the same
    rows wait for each other instead of deadlocking. One statement: atomic without BEGIN and COMMIT.
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

    inserted = [c for c in _feedback_columns if c.name != "updated_at"]
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
                    for c in _feedback_columns
                    if c.name not in _VOTE_IDENTITY
                },
                "updated_at": func.now(),
            },
        )
        .returning(*_feedback_columns, was_inserted())
        .cte("written")
    )
    view = view_columns(written, target)
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
    feedback-with-context view of the vote and whether it is new, or None for a vote by
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


@dataclass(frozen=True)
class FeedbackFilter:
    model: str | None = None
    intent: str | None = None
    project: str | None = None
    user_id: str | None = None
    is_helpful: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    reason: str | None = None
    q: str | None = None  # words to find in SEARCHED (kit/search.py)
    request_id: str | None = None  # the votes on one exchange, by the chat backend's id


# What `q` searches, all in the vote's row: its own words (comment and correction) and its
# exchange's (question and answer, copied when the vote is written), each with its index.
SEARCHED = (_feedback.c.search_words, _feedback.c.exchange_words)
# A search for a word the statistics do not call common first walks this many of the
# newest votes after the cursor: a word in one vote of FIRST_WALK / limit or more (new
# since the last ANALYZE, say) has its page there, or the promise of one within WALK_ROWS.
FIRST_WALK = 1_000
# Up to this many matches, a search reads them from the search indexes and sorts them
# (cost: its matches); with more, it walks the newest votes until it has a page (cost: about
# limit x votes / matches votes walked). Where the two cost the same: EXPLAIN ANALYZE at
# 1,000,000 votes (docs/decisions/010-search-planner.md).
FEW_MATCHES = 5_000
# A walk reads at most this many votes; a walk that ends there short of a page (its word
# is common, but not among the newest votes) takes the rest from the indexes instead. A
# search walks when its share of matching votes (by the statistics, or seen in the first
# walk) promises a page within that many: else it counts its matches first.
WALK_ROWS = 20_000
# Parallel workers would walk the newest votes far past the page (each worker reads its
# own share of the index before the leader can stop them): off for the search's statements,
# in the request's transaction only (docs/explorer.md; docs/decisions/010-search-planner.md).
NO_PARALLEL = select(func.set_config("max_parallel_workers_per_gather", "0", True))

Hit = tuple[datetime, uuid.UUID]


def _matches(source: FromClause, q: str) -> ColumnElement[bool]:
    """Every word of `q` in the vote's own texts, or every word in its exchange's."""
    return or_(*(search.matches(source.c[words.name], q) for words in SEARCHED))


def few_matches(q: str) -> Select[Any]:
    """How many votes match `q`, counted up to FEW_MATCHES + 1, from the search indexes.

    Asked because PostgreSQL cannot estimate how many there are: for a word its statistics
    do not know (any rare word, any prefix) it assumes one row in 200, and picks a plan for
    that (a walk through the whole table for a word nobody wrote; a sort of twenty thousand
    matches for a common one). Given the count, the search picks.
    """
    found = select(_feedback.c.id).where(_matches(_feedback, q)).limit(FEW_MATCHES + 1)
    return select(func.count()).select_from(found.subquery())


_pg_stats = table(
    "pg_stats",
    column("schemaname", Text),
    column("tablename", Text),
    column("attname", Text),
    column("most_common_elems"),
    column("most_common_elem_freqs", ARRAY(Float)),
)


def most_common_words() -> Select[Any]:
    """For each column of SEARCHED: the words most of its rows contain and the share of
    rows that contain each (`common`, `shares`), as ANALYZE found them (the planner's own
    statistics); no row for a column not analyzed yet, or with no word common enough."""
    stats = _pg_stats.c
    return select(
        # anyarray: text first, then the array of texts it spells.
        sa_cast(sa_cast(stats.most_common_elems, Text), ARRAY(Text)).label("common"),
        stats.most_common_elem_freqs.label("shares"),
    ).where(
        stats.schemaname == func.current_schema(),
        stats.tablename == _feedback.name,
        stats.attname.in_([words.name for words in SEARCHED]),
        stats.most_common_elems.is_not(None),
    )


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
        """Newest first, keyset-paginated on (created_at, id): page N costs what page 1 does.

        With `q`: the newest `limit` matches after the cursor are found by a walk of the
        newest votes or from the search indexes (`_search_hits`), then read by id.
        """
        if where.q is None:
            return list((await self.session.execute(list_statement(where, limit, after))).all())
        await self.session.execute(NO_PARALLEL)
        q = where.q
        # A vote matches in one column or the other: at most the sum of their shares.
        share = sum(
            search.share(q, row.common, row.shares)
            for row in await self.session.execute(most_common_words())
        )
        hits = await _search_hits(self.session, where, limit, after, share)
        if not hits:
            return []
        ids = [id_ for _, id_ in sorted(hits, reverse=True)[:limit]]
        return list((await self.session.execute(page_statement(ids))).all())


async def _search_hits(
    session: AsyncSession,
    where: FeedbackFilter,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    share: float,
) -> list[Hit]:
    """The newest `limit` matches after the cursor, newest first.

    By a walk of the newest votes when the share of votes that match (`share`, by the
    statistics; else as seen in a first walk of FIRST_WALK votes) promises a page within
    WALK_ROWS votes; else from the search indexes when there are few (FEW_MATCHES), all
    of them sorted; else by a walk too. What a walk that stopped at WALK_ROWS votes short of
    a page left comes from the indexes.
    """
    if limit > share * WALK_ROWS:
        first = await _hits(session, walk(where, limit, after, FIRST_WALK))
        if len(first) == limit:
            return first
        if limit > len(first) / FIRST_WALK * WALK_ROWS:
            count = (await session.execute(few_matches(cast(str, where.q)))).scalar_one()
            if count <= FEW_MATCHES:
                return await _hits(session, matching(where, limit, after)) if count else []
    walked = await _hits(session, walk(where, limit, after, WALK_ROWS))
    if len(walked) < limit:
        edge = (await session.execute(walk_edge(where, after))).first()
        if edge is not None:  # the walk stopped at WALK_ROWS votes, not at the last
            older = (edge.created_at, edge.id)
            walked += await _hits(session, matching(where, limit, older))
    return walked


async def _hits(session: AsyncSession, statement: Select[Any]) -> list[Hit]:
    return [(row.created_at, row.id) for row in await session.execute(statement)]


_ORDER = (Feedback.created_at.desc(), Feedback.id.desc())
# `created_at + 0 s` sorts alike, but no index yields it in that order: a sort of the rows
# found, never a walk of the created_at index.
_SORTED = ((Feedback.created_at + literal_column("interval '0 s'")).desc(), Feedback.id.desc())


def _conditions(
    where: FeedbackFilter, after: tuple[datetime, uuid.UUID] | None
) -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]]]:
    """The filters on the vote, and those on its exchange (which need the join)."""
    on_vote: list[ColumnElement[bool]] = []
    equal = {Feedback.user_id: where.user_id, Feedback.is_helpful: where.is_helpful}
    on_vote.extend(column_ == value for column_, value in equal.items() if value is not None)
    if where.reason is not None:
        # Containment, which the GIN index on feedback.reasons serves.
        on_vote.append(Feedback.reasons.contains([where.reason]))
    if where.since is not None:
        on_vote.append(Feedback.created_at >= where.since)
    if where.until is not None:
        on_vote.append(Feedback.created_at < where.until)
    if after is not None:
        on_vote.append(tuple_(Feedback.created_at, Feedback.id) < tuple_(*after))
    on_exchange = [
        column_ == value
        for column_, value in {
            Interaction.model: where.model,
            Interaction.intent: where.intent,
            Interaction.project: where.project,
            Interaction.request_id: where.request_id,
        }.items()
        if value is not None
    ]
    return on_vote, on_exchange


_JOINED = join(_feedback, _interactions, _interactions.c.id == _feedback.c.interaction_id)


def list_statement(
    where: FeedbackFilter, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> Select[Any]:
    """The feedback-with-context rows of one page of GET /v1/feedback without `q`."""
    on_vote, on_exchange = _conditions(where, after)
    return (
        select(*view_columns(_feedback, _interactions))
        .select_from(_JOINED)
        .where(*on_vote, *on_exchange)
        .order_by(*_ORDER)
        .limit(limit)
    )


def _hit_rows(where: FeedbackFilter, after: tuple[datetime, uuid.UUID] | None) -> Select[Any]:
    """(created_at, id) of the votes that pass every filter; joined to their exchange where
    a filter needs it."""
    on_vote, on_exchange = _conditions(where, after)
    stmt = select(_feedback.c.created_at, _feedback.c.id)
    if on_exchange:
        stmt = stmt.select_from(_JOINED)
    return stmt.where(*on_vote, *on_exchange)


def walk(
    where: FeedbackFilter,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    rows: int,
) -> Select[Any]:
    """The newest `limit` matches among the newest `rows` votes after the cursor (that
    pass the vote's filters), walked newest first until the page is there.

    The words are tested outside the subquery, which PostgreSQL cannot push a condition
    into past its LIMIT: so it cannot read the search indexes instead, whatever it
    estimates (it takes a word it has no statistics for as one row in 200 and, for a word
    of 20,000 rows, sorts them all); and it stops at the page, the subquery's rows being
    pulled one at a time. Each vote walked is tested in its own row.
    """
    on_vote, on_exchange = _conditions(where, after)
    recent = (
        select(_feedback.c.created_at, _feedback.c.id, _feedback.c.interaction_id, *SEARCHED)
        .where(*on_vote)
        .order_by(*_ORDER)
        .limit(_inline(rows))
        .subquery("recent")
    )
    source: FromClause = recent
    if on_exchange:
        source = join(recent, _interactions, _interactions.c.id == recent.c.interaction_id)
    return (
        select(recent.c.created_at, recent.c.id)
        .select_from(source)
        .where(_matches(recent, cast(str, where.q)), *on_exchange)
        .order_by(recent.c.created_at.desc(), recent.c.id.desc())
        .limit(_inline(limit))
    )


def _inline(count: int) -> ColumnElement[int]:
    """A LIMIT written into the statement, not a parameter: a prepared statement's generic
    plan, which PostgreSQL may switch to after five runs, would not know it and would
    plan a walk as if it read a tenth of the table."""
    return literal_column(str(int(count)), Integer)


def walk_edge(where: FeedbackFilter, after: tuple[datetime, uuid.UUID] | None) -> Select[Any]:
    """The last vote a walk reads (the WALK_ROWS-th after the cursor), or no row when the
    walk reads every vote there is."""
    on_vote, _ = _conditions(where, after)
    return (
        select(_feedback.c.created_at, _feedback.c.id)
        .where(*on_vote)
        .order_by(*_ORDER)
        .offset(WALK_ROWS - 1)
        .limit(1)
    )


def matching(
    where: FeedbackFilter, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> Select[Any]:
    """The newest `limit` matches after `after`, from the search indexes, all sorted: for a
    word with few matches, and for what a walk that ended at WALK_ROWS votes left."""
    return (
        _hit_rows(where, after)
        .where(_matches(_feedback, cast(str, where.q)))
        .order_by(*_SORTED)
        .limit(limit)
    )


def page_statement(ids: Sequence[uuid.UUID]) -> Select[Any]:
    """The feedback-with-context rows of the votes `ids`, newest first."""
    found = _feedback.c.id == any_(bindparam("page_ids", list(ids), ARRAY(Uuid)))
    return (
        select(*view_columns(_feedback, _interactions))
        .select_from(_JOINED)
        .where(found)
        .order_by(*_ORDER)
    )
