"""Who may do what: API keys with scopes, feedback tokens for browsers, user pseudonyms.

Keys come from `FEEDBACK_API_KEYS` (`scope:key,...`); with none configured the service runs
in open mode (the embedded local default). Keys are compared in constant time and never
logged. A feedback token lets a browser vote on one interaction without holding a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request, params
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from feedback_api.config import Settings
from feedback_api.errors import Forbidden, Unauthorized


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's scope and a stable, non-secret name for it."""

    scope: Scope | None  # None: open mode, anything goes
    name: str

    def allows(self, scope: Scope) -> bool:
        return self.scope is None or self.scope in (scope, Scope.ADMIN)


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
    for scope, key in settings.api_keys:
        if hmac.compare_digest(hashlib.sha256(key.encode()).digest(), offered):
            found = Principal(Scope(scope), key_name(key))
    return found


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key)],
) -> Principal | None:
    """The caller's principal; None when a key is required and none was sent."""
    return principal_for(
        request.app.state.settings, header_key or (bearer.credentials if bearer else None)
    )


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


def require(scope: Scope) -> params.Depends:
    """A dependency that lets through callers whose key has `scope` (admin has all)."""

    async def check(
        principal: Annotated[Principal | None, Depends(authenticate)],
    ) -> Principal:
        if principal is None:
            raise Unauthorized(
                f"an API key with the {scope.value} scope is required: send "
                "`Authorization: Bearer <key>` or `X-API-Key: <key>`"
            )
        if not principal.allows(scope):
            raise Forbidden(f"this key has the {principal.scope} scope; this needs {scope.value}")
        return principal

    dependency: params.Depends = Depends(check)
    return dependency


# -- feedback tokens ---------------------------------------------------------------------


def derive_key(secret: str, purpose: str) -> bytes:
    """A key of its own for each use of the one secret.

    With one key for both, a pseudonym (HMAC of a user id the caller chooses) could be made
    to equal a token signature: a user id of "feedback:<request_id>:<expiry>" would come back
    as a valid token for someone else's interaction.
    """
    return hmac.new(secret.encode(), f"feedback-api/{purpose}".encode(), hashlib.sha256).digest()


def issue_token(secret: str, request_id: str, ttl_seconds: int, now: float | None = None) -> str:
    """`<expiry>.<signature>`: valid for votes on that one request_id until expiry."""
    expiry = int((now or time.time()) + ttl_seconds)
    return f"{expiry}.{_sign(secret, request_id, expiry)}"


def check_token(secret: str, token: str, request_id: str, now: float | None = None) -> None:
    """Raise Unauthorized / Forbidden unless `token` allows a vote on `request_id`."""
    expiry_text, _, signature = token.partition(".")
    if not expiry_text.isdigit() or not signature:
        raise Unauthorized("the feedback token is malformed")
    expiry = int(expiry_text)
    if not hmac.compare_digest(signature, _sign(secret, request_id, expiry)):
        raise Forbidden(
            "the feedback token does not allow a vote on this request_id "
            "(it was issued for another interaction, or forged)"
        )
    if expiry < (now or time.time()):
        raise Unauthorized("the feedback token has expired; ask the chat backend for a new one")


def _sign(secret: str, request_id: str, expiry: int) -> str:
    key = derive_key(secret, "feedback-token")
    mac = hmac.new(key, f"feedback:{request_id}:{expiry}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


# -- pseudonyms --------------------------------------------------------------------------


class Pseudonymizer:
    """user_id / session_id -> keyed HMAC-SHA256, when FEEDBACK_PSEUDONYMIZE_USERS is on.

    The same input always gives the same pseudonym, so filters and unique counts still work
    when the inputs go through the same function; without the secret it cannot be reversed
    or recomputed from a guessed id.
    """

    def __init__(self, secret: str | None, enabled: bool) -> None:
        self._key = derive_key(secret, "pseudonym") if (enabled and secret) else None

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def __call__(self, value: str | None) -> str | None:
        if value is None or self._key is None:
            return value
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()


def authorize_vote(
    settings: Settings, principal: Principal | None, token: str | None, request_id: str | None
) -> None:
    """POST /v1/feedback: an ingest key, or a feedback token for that very interaction."""
    if principal is not None and principal.allows(Scope.INGEST):
        return
    if token is None:
        if principal is None:
            raise Unauthorized(
                "send an API key with the ingest scope, or the feedback_token that "
                "POST /v1/interactions returned for this interaction"
            )
        raise Forbidden(f"this key has the {principal.scope} scope; voting needs ingest")
    if settings.secret is None:
        raise Unauthorized("feedback tokens are not enabled on this server (no secret key)")
    if request_id is None:
        raise Forbidden("a feedback token only allows a vote by request_id on its interaction")
    check_token(settings.secret, token, request_id)
