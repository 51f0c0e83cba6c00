from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from feedback_api.auth.keys import Principal
from feedback_api.auth.tokens import TokenGrant, authorize_vote
from feedback_api.exceptions import (
    AppError,
    Forbidden,
    InvalidInput,
    NotFound,
    describe_validation_errors,
)
from feedback_api.feedback.listing import FeedbackFilter
from feedback_api.feedback.repository import (
    VOTE_COLUMNS,
    FeedbackRepository,
    RefusedReasons,
    VoteEntry,
    VoteResult,
    write_votes,
)
from feedback_api.feedback.schemas import (
    CoreCheckedFeedback,
    FeedbackCreate,
    FeedbackOut,
    FeedbackPage,
    FeedbackUpdate,
)
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.service import (
    IngestRules,
    check_not_in_future,
    interaction_values,
)
from feedback_api.kit.db import autocommit
from feedback_api.kit.driver_errors import concerns_one_write
from feedback_api.kit.group_commit import GroupCommit
from feedback_api.kit.models import new_id_strings
from feedback_api.kit.pagination import decode_cursor, encode_cursor
from feedback_api.kit.search import TOO_MANY_WORDS, may_overflow
from feedback_api.reasons.repository import ReasonSetReader
from feedback_api.reasons.schemas import DEFAULT_REASONS
from feedback_api.reasons.service import ReasonSets, refusal

if TYPE_CHECKING:
    from feedback_api.privacy.redaction.redactor import ExampleRedaction

VoteGroup = GroupCommit[VoteEntry, VoteResult]

# How long, under load, a single votes' group may wait to grow to its predecessor's size:
# about what the previous group's clients take to send their next votes (decisions/030).
VOTE_GROUP_GROWS_FOR = 0.001


def vote_group(
    engine: AsyncEngine,
    *,
    writers: int,
    default_reasons: Sequence[str] = DEFAULT_REASONS,
    gather_turns: int = 0,
    grow_for: float = 0.0,
) -> VoteGroup:
    """Votes from concurrent requests, written together by the one vote statement.

    `writers` at a time, each on a connection of `engine` in autocommit: the statement is
    atomic by itself. It checks the votes' reasons against their projects' label sets (or
    `default_reasons`) as it writes them. `gather_turns`, `grow_for`: see `GroupCommit`.
    """
    return GroupCommit(
        autocommit(engine),
        partial(write_votes, default_reasons=tuple(default_reasons)),
        retry_alone=concerns_one_write,
        writers=writers,
        gather_turns=gather_turns,
        grow_for=grow_for,
    )


def feedback_out(view: Mapping[str, Any] | RowMapping) -> FeedbackOut:
    """The answer for one stored vote, from its feedback-with-context view (or its
    answer's fields, as the vote statement returns them)."""
    return FeedbackOut.model_validate(view)


def _unknown_request_id(request_id: str | None) -> str:
    return (
        f"no interaction with request_id {request_id!r}: log it first with "
        "POST /v1/interactions, or send the feedback with query, response and model"
    )


_BODY_VOTE_COLUMNS = tuple(name for name in VOTE_COLUMNS if name in FeedbackCreate.model_fields)
# Those columns' values of a body, read in one C call (a vote reads them all).
_body_vote_values = attrgetter(*_BODY_VOTE_COLUMNS)


def bind_voter(payload: FeedbackCreate, grant: TokenGrant, rules: IngestRules) -> str | None:
    """The user_id (as stored) of a vote sent with a feedback token: the token's voter.

    A token is one voter's, not a ballot box: whatever user_id the body names, the vote
    counts as the interaction's own user's (or as its one anonymous voter's), so its holder
    can change that one vote and add no other. A body naming someone else is refused; it is
    compared in the stored form (the pseudonym, when pseudonymisation is on), the token's.
    """
    if payload.user_id is None:
        return grant.voter
    if grant.voter is None:
        raise Forbidden(
            "this interaction was logged without a user, so its feedback token votes as its "
            "one anonymous voter: leave user_id out"
        )
    if rules.pseudonym(payload.user_id) != grant.voter:
        raise Forbidden(
            "this feedback token votes as the user the interaction was logged with, and "
            "user_id names another user: leave user_id out, or send that user's id"
        )
    return grant.voter


def vote_entry(
    payload: FeedbackCreate, rules: IngestRules, grant: TokenGrant | None = None
) -> VoteEntry:
    """The rows one vote writes, from a body validated once already; `grant`: the bound
    feedback token it came with, if any."""
    check_not_in_future(payload.created_at, rules.max_future_skew_seconds)
    is_helpful, stars = payload.vote()
    voter = rules.pseudonym(payload.user_id) if grant is None else bind_voter(payload, grant, rules)
    # Every vote column the body has, as sent (a new optional column needs no line here),
    # then the ones a rule decides.
    vote: dict[str, Any] = dict(zip(_BODY_VOTE_COLUMNS, _body_vote_values(payload), strict=True))
    vote.update(
        is_helpful=is_helpful,
        stars=stars,
        user_id=voter,
        metadata=payload.metadata or {},
        reasons=payload.reasons or [],
    )
    redaction = rules.redaction()
    if redaction is not None:
        redact_vote(vote, redaction)
    if not payload.has_context:
        return VoteEntry(vote, request_id=payload.request_id)
    return VoteEntry(
        vote,
        interaction=interaction_values(
            payload, payload.request_id, payload.created_at, rules, redaction
        ),
    )


def redact_vote(values: dict[str, Any], redaction: ExampleRedaction) -> None:
    """A vote's comment, correction and metadata strings redacted, where `values` has them."""
    for key in ("comment", "correction"):
        if key in values:
            values[key] = redaction.text(values[key])
    if "metadata" in values:
        values["metadata"] = redaction.value(values["metadata"])


def _refused(entry: VoteEntry, written: RefusedReasons) -> AppError:
    return refusal(written.project, entry.vote.get("reasons") or [], written.allowed)


def _vote_view(entry: VoteEntry, written: VoteResult) -> tuple[dict[str, Any], bool]:
    if written is None:
        raise NotFound(_unknown_request_id(entry.request_id))
    if isinstance(written, RefusedReasons):
        raise _refused(entry, written)
    return written


def _vote_outcome(entry: VoteEntry, written: VoteResult) -> tuple[FeedbackOut, bool]:
    view, created = _vote_view(entry, written)
    return feedback_out(view), created


async def bind_legacy(
    grants: Sequence[TokenGrant], interactions: InteractionRepository
) -> dict[str, TokenGrant]:
    """Tokens issued before tokens named their voter, bound to their interaction's user:
    one query, and only until the last of them expires (FEEDBACK_TOKEN_TTL_SECONDS)."""
    users = await interactions.users_of(sorted({g.request_id for g in grants}))
    return {g.request_id: g.bind(users.get(g.request_id)) for g in grants}


_ITEMS = TypeAdapter(list[FeedbackCreate])
_CORE_CHECKED_ITEMS = TypeAdapter(list[CoreCheckedFeedback])


def validated_items(items: list[Any], core_checked: bool) -> list[FeedbackCreate] | None:
    """Every item of a batch validated in one call; None when any item is refused (each is
    then validated on its own, for its own errors). `core_checked`: the batch's JSON holds
    no NUL or U+001C-U+001F, so its texts are checked in pydantic's core alone
    (`CoreCheckedFeedback`: the same votes, the same values)."""
    try:
        if core_checked:
            return list(_CORE_CHECKED_ITEMS.validate_python(items))
        return _ITEMS.validate_python(items)
    except ValidationError:
        return None


class VoteIntake:
    """Votes from many requests, committed together (group commit).

    Each call returns once the transaction holding its votes has committed; the votes of one
    call are always in one transaction.
    """

    def __init__(
        self,
        votes: VoteGroup,
        batches: VoteGroup,
        rules: IngestRules,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        # Apart: single votes gain from large groups (one writer), batches are large
        # already and gain from running side by side (docs/benchmarks/ingest.md).
        self.votes = votes
        self.batches = batches
        self.rules = rules
        # For votes with an Idempotency-Key (a transaction of their own), and for tokens
        # from before voters were signed in.
        self.sessions = sessions

    async def _words_fit(
        self, accepted: list[tuple[int, VoteEntry]], outcomes: list[Any]
    ) -> list[tuple[int, VoteEntry]]:
        """The entries whose texts' search words fit; the others get their refusal in
        `outcomes`: written with the rest, one of them would fail the whole batch. Only a
        long text is asked of the database (kit.search)."""
        long = [
            (index, entry)
            for index, entry in accepted
            if (
                entry.interaction is not None
                and may_overflow(entry.interaction.get("query"), entry.interaction.get("response"))
            )
            or may_overflow(entry.vote.get("comment"), entry.vote.get("correction"))
        ]
        if not long:
            return accepted
        refused: set[int] = set()
        async with self.sessions() as session:
            repository = InteractionRepository(session)
            for index, entry in long:
                exchange, vote = entry.interaction or {}, entry.vote
                for fields, texts in (
                    ("query, response", (exchange.get("query"), exchange.get("response"))),
                    ("comment, correction", (vote.get("comment"), vote.get("correction"))),
                ):
                    if may_overflow(*texts) and not await repository.words_fit(*texts):
                        outcomes[index] = InvalidInput(f"{fields}: {TOO_MANY_WORDS}")
                        refused.add(index)
                        break
        return [(index, entry) for index, entry in accepted if index not in refused]

    async def _bind_legacy(self, grants: Sequence[TokenGrant]) -> dict[str, TokenGrant]:
        async with self.sessions() as session:
            return await bind_legacy(grants, InteractionRepository(session))

    async def close(self) -> None:
        """Wait until every vote handed in so far is written (at shutdown)."""
        await self.votes.close()
        await self.batches.close()

    async def submit(
        self, payload: FeedbackCreate, grant: TokenGrant | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Record a vote; returns its answer's fields (`feedback_json` writes them) and
        whether it is new (False: it replaced one).

        `grant`: what the feedback token it came with allows (see `authorize_vote`).
        """
        if grant is not None and not grant.bound:
            grant = (await self._bind_legacy([grant]))[grant.request_id]
        entry = vote_entry(payload, self.rules, grant)
        [written] = await self.votes.write([entry])
        return _vote_view(entry, written)

    async def submit_batch(
        self, items: list[Any], principal: Principal, *, core_checked: bool = False
    ) -> list[tuple[dict[str, Any], bool] | AppError]:
        """Validate every item on its own, then record the valid ones in one transaction.

        One outcome per item, in order: the stored vote's answer (FeedbackOut's fields in
        order, `batch_result_json`) and whether it is new, or the error that refused it. An
        item with a feedback_token counts as the token's voter, as a single vote does.
        `core_checked`: see `validated_items`.
        """
        outcomes: list[tuple[dict[str, Any], bool] | AppError | None] = [None] * len(items)
        valid: list[tuple[int, FeedbackCreate, TokenGrant | None]] = []
        # All at once when every item is valid (the usual batch), else one by one.
        payloads = validated_items(items, core_checked)
        for index, raw in enumerate(items):
            try:
                payload = (
                    payloads[index] if payloads is not None else FeedbackCreate.model_validate(raw)
                )
                grant = authorize_vote(
                    self.rules.token_secret, principal, payload.feedback_token, payload.request_id
                )
                valid.append((index, payload, grant))
            except ValidationError as exc:
                message, _ = describe_validation_errors(list(exc.errors()))
                outcomes[index] = InvalidInput(message)
            except AppError as exc:
                outcomes[index] = exc
        # Exchanges sent without a request_id get theirs here, all from one read of the
        # random source (vote_entry would draw one for each).
        unnamed = [p for _, p, _ in valid if p.request_id is None and p.has_context]
        for payload, request_id in zip(unnamed, new_id_strings(len(unnamed)), strict=True):
            payload.request_id = request_id
        legacy = [grant for _, _, grant in valid if grant is not None and not grant.bound]
        bound = await self._bind_legacy(legacy) if legacy else {}
        accepted: list[tuple[int, VoteEntry]] = []
        for index, payload, grant in valid:
            if grant is not None and not grant.bound:
                grant = bound[grant.request_id]
            try:
                accepted.append((index, vote_entry(payload, self.rules, grant)))
            except AppError as exc:
                outcomes[index] = exc
        accepted = await self._words_fit(accepted, outcomes)
        written = await self.batches.write([entry for _, entry in accepted])
        for (index, entry), outcome in zip(accepted, written, strict=True):
            if isinstance(outcome, RefusedReasons):
                outcomes[index] = _refused(entry, outcome)
            else:
                outcomes[index] = outcome or NotFound(_unknown_request_id(entry.request_id))
        return [outcome for outcome in outcomes if outcome is not None]


class FeedbackService:
    """Feedback in one session: the caller's transaction decides when it commits."""

    def __init__(
        self, feedback: FeedbackRepository, rules: IngestRules, label_sets: ReasonSets
    ) -> None:
        self.feedback = feedback
        self.rules = rules
        self.label_sets = label_sets

    async def submit(
        self, payload: FeedbackCreate, grant: TokenGrant | None = None
    ) -> tuple[FeedbackOut, bool]:
        """Record a vote in this session; returns it and whether it is new."""
        if grant is not None and not grant.bound:
            interactions = InteractionRepository(self.feedback.session)
            grant = (await bind_legacy([grant], interactions))[grant.request_id]
        entry = vote_entry(payload, self.rules, grant)
        return _vote_outcome(entry, await self.feedback.submit(entry, self.rules.reasons))

    async def get(self, feedback_id: uuid.UUID) -> FeedbackOut:
        row = await self.feedback.get_view(feedback_id)
        if row is None:
            raise NotFound(f"no feedback with id {feedback_id}")
        return feedback_out(row._mapping)

    async def update(self, feedback_id: uuid.UUID, payload: FeedbackUpdate) -> FeedbackOut:
        changes = payload.changes()
        redaction = self.rules.redaction()
        if redaction is not None:
            redact_vote(changes, redaction)
        if changes.get("reasons"):
            # Off the vote path: one read for the vote's project, one for its label set.
            await self.label_sets.check((await self.get(feedback_id)).project, changes["reasons"])
        if changes and not await self.feedback.update(feedback_id, changes):
            raise NotFound(f"no feedback with id {feedback_id}")
        return await self.get(feedback_id)

    async def delete(self, feedback_id: uuid.UUID) -> None:
        if not await self.feedback.delete(feedback_id):
            raise NotFound(f"no feedback with id {feedback_id}")

    async def list(self, where: FeedbackFilter, limit: int, cursor: str | None) -> FeedbackPage:
        after = decode_cursor(cursor) if cursor else None
        if where.since is not None and where.until is not None and where.since > where.until:
            raise InvalidInput("since must not be later than until")
        if where.user_id is not None:
            where = replace(where, user_id=self.rules.pseudonym(where.user_id))
        rows = await self.feedback.list(where, limit + 1, after)
        items = [feedback_out(row._mapping) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return FeedbackPage(items=items, next_cursor=next_cursor)


def feedback_service(session: AsyncSession, rules: IngestRules) -> FeedbackService:
    """The feedback service of one session, with the label sets read in that session."""
    return FeedbackService(
        FeedbackRepository(session), rules, ReasonSets(ReasonSetReader(session), rules.reasons)
    )
