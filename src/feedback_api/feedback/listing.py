"""The reads of the feedback view: filters, keyset pages, and the search of votes by their
words (when to walk the newest votes and when to read the search indexes:
docs/decisions/010-search-planner.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Select,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    column,
    func,
    join,
    literal_column,
    or_,
    select,
    table,
    tuple_,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.feedback.models import Feedback
from feedback_api.feedback.view import view_columns
from feedback_api.interactions.models import Interaction
from feedback_api.kit import search
from feedback_api.kit.models import AnyRow

_feedback = cast(Table, Feedback.__table__)
_interactions = cast(Table, Interaction.__table__)


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


async def list_votes(
    session: AsyncSession,
    where: FeedbackFilter,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[AnyRow]:
    """Newest first, keyset-paginated on (created_at, id): page N costs what page 1 does.

    With `q`: the newest `limit` matches after the cursor are found by a walk of the
    newest votes or from the search indexes (`_search_hits`), then read by id.
    """
    if where.q is None:
        return list((await session.execute(list_statement(where, limit, after))).all())
    await session.execute(NO_PARALLEL)
    q = where.q
    # A vote matches in one column or the other: at most the sum of their shares.
    share = sum(
        search.share(q, row.common, row.shares)
        for row in await session.execute(most_common_words())
    )
    hits = await _search_hits(session, where, limit, after, share)
    if not hits:
        return []
    ids = [id_ for _, id_ in sorted(hits, reverse=True)[:limit]]
    return list((await session.execute(page_statement(ids))).all())


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
