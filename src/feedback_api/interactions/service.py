from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from feedback_api.auth.pseudonyms import Pseudonymizer
from feedback_api.auth.tokens import issue_token
from feedback_api.config import Settings
from feedback_api.exceptions import InvalidInput, NotFound
from feedback_api.interactions.models import Interaction
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.schemas import (
    ExchangeContext,
    InteractionCreate,
    InteractionCreated,
    InteractionOut,
)
from feedback_api.kit.models import attribute_names, new_id
from feedback_api.reasons.schemas import DEFAULT_REASONS


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

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestRules:
        return cls(
            max_future_skew_seconds=settings.max_future_skew_seconds,
            pseudonym=Pseudonymizer(settings.secret, settings.pseudonymize_users),
            token_secret=settings.secret,
            token_ttl_seconds=settings.token_ttl_seconds,
            reasons=tuple(settings.reasons),
        )


# (field of ExchangeContext, attribute of Interaction): the fields are named as the columns.
_ATTRIBUTES = attribute_names(Interaction)
_CONTEXT = tuple((name, _ATTRIBUTES[name]) for name in ExchangeContext.model_fields)


def interaction_values(
    context: ExchangeContext,
    request_id: str | None,
    created_at: datetime | None,
    rules: IngestRules,
) -> dict[str, Any]:
    """Values for a new interaction, by attribute name, from either body with context."""
    values: dict[str, Any] = {"request_id": request_id or str(new_id())}
    values.update({key: getattr(context, name) for name, key in _CONTEXT})
    values["user_id"] = rules.pseudonym(context.user_id)
    values["session_id"] = rules.pseudonym(context.session_id)
    values["tools_called"] = context.tools_called or []
    values["meta"] = context.metadata or {}
    if created_at is not None:
        values["created_at"] = created_at
    return values


def interaction_out(row: Interaction) -> InteractionOut:
    return InteractionOut.model_validate(
        {name: getattr(row, key) for name, key in _ATTRIBUTES.items()}
    )


class InteractionService:
    def __init__(self, repository: InteractionRepository, rules: IngestRules) -> None:
        self.repository = repository
        self.rules = rules

    async def log(self, payload: InteractionCreate) -> InteractionCreated:
        check_not_in_future(payload.created_at, self.rules.max_future_skew_seconds)
        values = interaction_values(payload, payload.request_id, payload.created_at, self.rules)
        interaction_id, created_at, created = await self.repository.insert_or_get(values)
        token = None
        if self.rules.token_secret:
            token = issue_token(
                self.rules.token_secret, values["request_id"], self.rules.token_ttl_seconds
            )
        return InteractionCreated(
            id=interaction_id,
            request_id=values["request_id"],
            created=created,
            created_at=created_at,
            feedback_token=token,
        )

    async def get(self, interaction_id: uuid.UUID) -> InteractionOut:
        row = await self.repository.get(interaction_id)
        if row is None:
            raise NotFound(f"no interaction with id {interaction_id}")
        return interaction_out(row)
