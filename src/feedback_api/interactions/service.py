from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from feedback_api.auth.pseudonyms import Pseudonymizer
from feedback_api.auth.tokens import IssuedToken, issue_token
from feedback_api.config import Settings
from feedback_api.exceptions import (
    AppError,
    Conflict,
    InvalidInput,
    NotFound,
    describe_validation_errors,
)
from feedback_api.interactions.models import Interaction
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.schemas import (
    ExchangeContext,
    FeedbackTokenOut,
    InteractionCreate,
    InteractionCreated,
    InteractionOut,
)
from feedback_api.kit.models import attribute_names, new_id
from feedback_api.kit.search import TOO_MANY_WORDS, may_overflow
from feedback_api.reasons.schemas import DEFAULT_REASONS

if TYPE_CHECKING:
    from feedback_api.privacy.redaction.redactor import ExampleRedaction, Redactor


def check_not_in_future(created_at: datetime | None, max_skew_seconds: float) -> None:
    if created_at is None:
        return
    limit = datetime.now(UTC) + timedelta(seconds=max_skew_seconds)
    if created_at > limit:
        raise InvalidInput(
            f"created_at {created_at.isoformat()} lies in the future; "
            "send the time the exchange happened (or leave it out for now)",
            errors=[{"field": "created_at", "message": "in the future", "type": "future"}],
        )


@dataclass(frozen=True)
class IngestRules:
    """What ingestion applies to every write: time sanity, pseudonyms, feedback tokens."""

    max_future_skew_seconds: float = 300.0
    pseudonym: Pseudonymizer = field(default_factory=lambda: Pseudonymizer(None, False))
    token_secret: str | None = None
    token_ttl_seconds: int = 86_400
    # The default label set of a vote's reasons (a project's own replaces it).
    reasons: tuple[str, ...] = DEFAULT_REASONS
    # FEEDBACK_REDACT_AT_INGEST: personal data replaced by placeholders before it is stored.
    redactor: Redactor | None = None

    def redaction(self) -> ExampleRedaction | None:
        """A new example's redaction (its placeholders shared by the texts of one exchange
        and its vote), or None when ingestion does not redact."""
        return None if self.redactor is None else self.redactor.example()

    def token(self, request_id: str, stored_user_id: str | None) -> IssuedToken | None:
        """A feedback token whose votes count as the interaction's user (`stored_user_id`,
        as stored: pseudonymised already); None without a secret key."""
        if not self.token_secret:
            return None
        return issue_token(self.token_secret, request_id, stored_user_id, self.token_ttl_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestRules:
        redactor = None
        if settings.redact_at_ingest:  # Presidio is loaded only then (it takes seconds)
            from feedback_api.privacy.redaction.redactor import redactor_for

            redactor = redactor_for(settings.redaction)
        return cls(
            redactor=redactor,
            max_future_skew_seconds=settings.max_future_skew_seconds,
            pseudonym=Pseudonymizer(settings.secret, settings.pseudonymize_users),
            token_secret=settings.secret,
            token_ttl_seconds=settings.token_ttl_seconds,
            reasons=tuple(settings.reasons),
        )


# (field of ExchangeContext, attribute of Interaction): the fields are named as the columns.
_ATTRIBUTES = attribute_names(Interaction)
_CONTEXT = tuple((name, _ATTRIBUTES[name]) for name in ExchangeContext.model_fields)
_CONTEXT_KEYS = tuple(key for _, key in _CONTEXT)
# Those fields' values of a body, read in one C call (every exchange reads them all).
_context_values = attrgetter(*(name for name, _ in _CONTEXT))


def interaction_values(
    context: ExchangeContext,
    request_id: str | None,
    created_at: datetime | None,
    rules: IngestRules,
    redaction: ExampleRedaction | None = None,
) -> dict[str, Any]:
    """Values for a new interaction, by attribute name, from either body with context;
    its texts redacted when ingestion redacts (with `redaction`'s placeholders, if given:
    a vote's comment shares them)."""
    values: dict[str, Any] = {"request_id": request_id or str(new_id())}
    values.update(zip(_CONTEXT_KEYS, _context_values(context), strict=True))
    values["user_id"] = rules.pseudonym(context.user_id)
    values["session_id"] = rules.pseudonym(context.session_id)
    values["tools_called"] = context.tools_called or []
    values["meta"] = context.metadata or {}
    if created_at is not None:
        values["created_at"] = created_at
    redaction = redaction or rules.redaction()
    if redaction is not None:
        for key in _REDACTED_TEXTS:
            values[key] = redaction.text(values[key])
        for key in _REDACTED_VALUES:
            values[key] = redaction.value(values[key])
    return values


# What redaction at ingest replaces in an exchange: its texts, and each string of its tools,
# sources and metadata (the system prompt is in the metadata).
_REDACTED_TEXTS = ("query", "response")
_REDACTED_VALUES = ("tools_called", "sources_used", "meta")


def interaction_out(row: Interaction) -> InteractionOut:
    return InteractionOut.model_validate(
        {name: getattr(row, key) for name, key in _ATTRIBUTES.items()}
    )


# One outcome per item of a batch: what was stored, or why the item was refused.
Outcome = InteractionCreated | AppError


def _differences(sent: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """The fields (by API name) where an exchange sent under a stored request_id differs."""
    return [
        name
        for name, key in _ATTRIBUTES.items()
        if key in sent and key not in ("id", "request_id") and not _same(sent[key], stored.get(key))
    ]


def _same(sent: Any, stored: Any) -> bool:
    """Whether a value as sent and as stored are the same, numbers in JSON (metadata,
    sources_used) by their value: jsonb keeps a number's decimal digits, so `1e23` sent
    (the nearest double) comes back as the integer 10**23."""
    if isinstance(sent, bool) or isinstance(stored, bool):  # True == 1 to Python, not to JSON
        return type(sent) is type(stored) and sent == stored
    if isinstance(sent, dict) and isinstance(stored, dict):
        return sent.keys() == stored.keys() and all(_same(v, stored[k]) for k, v in sent.items())
    if isinstance(sent, list) and isinstance(stored, list):
        return len(sent) == len(stored) and all(map(_same, sent, stored))
    if isinstance(sent, float) and isinstance(stored, int | float):
        try:
            return sent == float(stored)
        except OverflowError:  # an integer beyond any double: not the double sent
            return False
    return bool(sent == stored)


class InteractionService:
    def __init__(self, repository: InteractionRepository, rules: IngestRules) -> None:
        self.repository = repository
        self.rules = rules

    def _created(
        self,
        request_id: str,
        interaction_id: uuid.UUID,
        created_at: datetime,
        user_id: str | None,
        created: bool,
    ) -> InteractionCreated:
        """The answer for a stored exchange; its token binds the user stored with it."""
        issued = self.rules.token(request_id, user_id)
        return InteractionCreated(
            id=interaction_id,
            request_id=request_id,
            created=created,
            created_at=created_at,
            feedback_token=issued.token if issued else None,
        )

    async def token(self, request_id: str) -> FeedbackTokenOut:
        """A new feedback token for a logged interaction (e.g. one that came as a span)."""
        if not self.rules.token_secret:
            raise Conflict(
                "feedback tokens are not enabled on this server: set FEEDBACK_SECRET_KEY"
            )
        users = await self.repository.users_of([request_id])
        if request_id not in users:
            raise NotFound(
                f"no interaction with request_id {request_id!r}: log it first with "
                "POST /v1/interactions or POST /v1/traces"
            )
        issued = self.rules.token(request_id, users[request_id])
        assert issued is not None  # a secret is set
        return FeedbackTokenOut(
            request_id=request_id, feedback_token=issued.token, expires_at=issued.expires_at
        )

    async def log(self, payload: InteractionCreate) -> InteractionCreated:
        """One exchange, by the rules of a batch's item: the same exchange sent again is
        answered as stored, a different one under a stored request_id is a Conflict."""
        (outcome,) = await self.create_many([payload])
        if isinstance(outcome, AppError):
            raise outcome
        return outcome

    async def log_batch(self, items: Sequence[Any]) -> list[Outcome]:
        """Validate every raw item on its own, then `create_many` the valid ones."""
        outcomes: list[Outcome | None] = [None] * len(items)
        valid: list[tuple[int, InteractionCreate]] = []
        for index, raw in enumerate(items):
            try:
                valid.append((index, InteractionCreate.model_validate(raw)))
            except ValidationError as exc:
                message, _ = describe_validation_errors(list(exc.errors()))
                outcomes[index] = InvalidInput(message)
        created = await self.create_many([payload for _, payload in valid])
        for (index, _), outcome in zip(valid, created, strict=True):
            outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    async def create_many(self, items: Sequence[InteractionCreate]) -> list[Outcome]:
        """Log many exchanges with one statement; one outcome per item, in order.

        The request_id is each item's idempotency key: an exchange already stored under its
        request_id (by an earlier call, or earlier in `items`) is answered with the stored
        row and `created` false, and writes nothing; a different exchange under a stored
        request_id is a Conflict naming the fields that differ. An item without a
        request_id gets a new one (and is then not safe to send twice).
        """
        outcomes: list[Outcome | None] = [None] * len(items)
        sent: list[tuple[int, dict[str, Any]]] = []
        first: dict[str, dict[str, Any]] = {}
        for index, payload in enumerate(items):
            try:
                check_not_in_future(payload.created_at, self.rules.max_future_skew_seconds)
            except AppError as exc:
                outcomes[index] = exc
                continue
            long = may_overflow(payload.query, payload.response)
            if long and not await self.repository.words_fit(payload.query, payload.response):
                # Refused alone: written with the others, it would fail them all.
                outcomes[index] = InvalidInput(f"query, response: {TOO_MANY_WORDS}")
                continue
            values = interaction_values(payload, payload.request_id, payload.created_at, self.rules)
            sent.append((index, values))
            first.setdefault(values["request_id"], values)
        stored = await self.repository.insert_or_get_many(list(first.values()))
        reported: set[str] = set()
        for index, values in sent:
            request_id = values["request_id"]
            row, inserted = stored[request_id]
            differing = _differences(values, row)
            if differing:
                outcomes[index] = Conflict(
                    f"request_id {request_id!r} is already logged with a different exchange "
                    f"({', '.join(differing)} differ); a request_id names one exchange: "
                    "send a new request_id for a new exchange"
                )
                continue
            created = inserted and request_id not in reported
            reported.add(request_id)
            outcomes[index] = self._created(
                request_id, row["id"], row["created_at"], row["user_id"], created
            )
        return [outcome for outcome in outcomes if outcome is not None]

    async def get(self, interaction_id: uuid.UUID) -> InteractionOut:
        row = await self.repository.get(interaction_id)
        if row is None:
            raise NotFound(f"no interaction with id {interaction_id}")
        return interaction_out(row)

    async def find(self, request_id: str) -> InteractionOut:
        """The exchange logged under the chat backend's own request_id."""
        row = await self.repository.find(request_id)
        if row is None:
            raise NotFound(
                f"no interaction with request_id {request_id!r}: log it first with "
                "POST /v1/interactions or POST /v1/traces"
            )
        return interaction_out(row)
