"""Who a review call is by: the key's name, or in open mode the `X-Reviewer` header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header

from feedback_api.auth.keys import Principal, Scope, require
from feedback_api.config import KEY_NAME
from feedback_api.exceptions import InvalidInput

REVIEWER_HEADER = "X-Reviewer"


@dataclass(frozen=True)
class Reviewer:
    """A person working through review queues: their name, and whether they may manage
    queues and change anyone's labels (an admin key, or open mode)."""

    name: str
    admin: bool


def _header_name(value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidInput(
            f"name yourself with an {REVIEWER_HEADER} header (1-40 letters, digits, _, - or .): "
            "without API keys, a review is by whoever that header names",
            errors=[{"field": REVIEWER_HEADER, "message": "missing", "type": "missing"}],
        )
    name = value.strip()
    if not KEY_NAME.fullmatch(name):
        raise InvalidInput(
            f"{REVIEWER_HEADER}: {name[:60]!r} is not a name; use 1-40 letters, digits, _, - or .",
            errors=[{"field": REVIEWER_HEADER, "message": "not a name", "type": "value_error"}],
        )
    return name


async def reviewer_of(
    principal: Annotated[Principal, require(Scope.REVIEW)],
    header: Annotated[str | None, Header(alias=REVIEWER_HEADER, max_length=200)] = None,
) -> Reviewer:
    """The reviewer of a call: a key's name (or `key:<hash>` for an unnamed key); in open
    mode the name in X-Reviewer, which a keyed caller cannot use to speak for someone else."""
    if principal.scope is None:
        return Reviewer(_header_name(header), admin=True)
    return Reviewer(principal.reviewer, admin=principal.scope is Scope.ADMIN)


ReviewerDep = Annotated[Reviewer, Depends(reviewer_of)]
