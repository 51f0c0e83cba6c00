"""The redactor an export uses, as a route dependency: whether it redacts, and who may
turn it off."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query

from feedback_api.auth.keys import Principal, Scope, authenticate
from feedback_api.config import Settings, SettingsDep
from feedback_api.exceptions import Forbidden
from feedback_api.privacy.redaction.entities import RedactionConfig

if TYPE_CHECKING:
    from feedback_api.privacy.redaction.redactor import Redactor

PrincipalDep = Annotated[Principal | None, Depends(authenticate)]

REDACT_OFF = (
    "{name} writes the users' personal data and secrets (e-mail addresses, card numbers, "
    "API keys, ...) into the dataset as they sent them, so it needs a key with the admin "
    "scope; this key has the {scope} scope"
)


async def load_redactor(config: RedactionConfig) -> Redactor:
    """The process's redactor for `config`; the first one is built in a worker thread
    (loading Presidio takes seconds, which the event loop must not wait)."""
    from feedback_api.privacy.redaction.redactor import redactor_for

    return await asyncio.to_thread(redactor_for, config)


async def choose_redactor(
    redact: bool, settings: Settings, principal: Principal | None, *, name: str
) -> Redactor | None:
    """The redactor, or None when `redact` is off: allowed to admin keys only (and in open
    mode), refused with a Forbidden that says why otherwise."""
    if redact:
        return await load_redactor(settings.redaction)
    if principal is not None and not principal.allows(Scope.ADMIN):
        raise Forbidden(REDACT_OFF.format(name=name, scope=principal.scope))
    return None


async def query_redactor(
    settings: SettingsDep,
    principal: PrincipalDep,
    redact: Annotated[
        bool,
        Query(
            description="Replace personal data and secrets by typed placeholders (<EMAIL_1>); "
            "false needs the admin scope."
        ),
    ] = True,
) -> Redactor | None:
    return await choose_redactor(redact, settings, principal, name="redact=false")


# Any: the type lives with Presidio, which is loaded only when a redactor is first built.
QueryRedactorDep = Annotated[Any, Depends(query_redactor)]
