from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request, params
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from feedback_api.config import Settings, settings_of
from feedback_api.exceptions import Forbidden, Unauthorized


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    REVIEW = "review"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's scope and a stable, non-secret name for it."""

    scope: Scope | None  # None: open mode, anything goes
    name: str
    # The name the key was given (`scope:name:key`): who the key's reviews are by.
    owner: str | None = None

    def allows(self, scope: Scope) -> bool:
        return self.scope is None or self.scope in (scope, Scope.ADMIN)

    @property
    def reviewer(self) -> str:
        """Who this key's labels are by: its name, else its hash name."""
        return self.owner or self.name


OPEN = Principal(scope=None, name="open")


# Declared for OpenAPI, so /docs offers an Authorize button; checked by `authenticate`.
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


def key_name(key: str) -> str:
    """A name for a key that is safe to store and log: a short hash, never the key."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def match_key(settings: Settings, presented: str) -> Principal | None:
    found = None
    # Digests of equal length: compare_digest leaks no length, and every key is checked.
    offered = hashlib.sha256(presented.encode()).digest()
    for scope, key, owner in settings.api_keys:
        if hmac.compare_digest(hashlib.sha256(key.encode()).digest(), offered):
            found = Principal(Scope(scope), key_name(key), owner)
    return found


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key)],
) -> Principal | None:
    """The caller's principal; None when a key is required and none was sent."""
    # The settings called for, not declared as a dependency: every dependency costs each
    # request FastAPI's resolution of it, and this one runs on every route.
    settings = await settings_of(request)
    return principal_for(settings, header_key or (bearer.credentials if bearer else None))


def principal_for(settings: Settings, presented: str | None) -> Principal | None:
    """The principal of the key a caller presented (None: no key where one is required)."""
    if not settings.api_keys:
        return OPEN
    if not presented:
        return None
    principal = match_key(settings, presented)
    if principal is None:
        raise Unauthorized("the API key is not valid")
    return principal


def require(scope: Scope, *others: Scope) -> params.Depends:
    """A dependency that lets through callers whose key has `scope` or one of `others`
    (admin has all)."""
    allowed = (scope, *others)
    needed = " or ".join(s.value for s in allowed)

    async def check(
        principal: Annotated[Principal | None, Depends(authenticate)],
    ) -> Principal:
        if principal is None:
            raise Unauthorized(
                f"an API key with the {needed} scope is required: send "
                "`Authorization: Bearer <key>` or `X-API-Key: <key>`"
            )
        if not any(principal.allows(s) for s in allowed):
            raise Forbidden(f"this key has the {principal.scope} scope; this needs {needed}")
        return principal

    dependency: params.Depends = Depends(check)
    return dependency


def derive_key(secret: str, purpose: str) -> bytes:
    """A key of its own for each use of the one secret.

    With one key for both, a pseudonym (HMAC of a user id the caller chooses) could be made
    to equal a token signature: a user id of "feedback:<request_id>:<expiry>" would come back
    as a valid token for someone else's interaction.
    """
    return hmac.new(secret.encode(), f"feedback-api/{purpose}".encode(), hashlib.sha256).digest()
