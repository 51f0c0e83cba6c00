from __future__ import annotations

import base64
import hashlib
import hmac
import time

from feedback_api.auth.keys import Principal, Scope, derive_key
from feedback_api.exceptions import Forbidden, Unauthorized


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


def authorize_vote(
    secret: str | None, principal: Principal | None, token: str | None, request_id: str | None
) -> None:
    """POST /v1/feedback: an ingest key, or a feedback token (signed with `secret`, the
    server's FEEDBACK_SECRET_KEY) for that very interaction."""
    if principal is not None and principal.allows(Scope.INGEST):
        return
    if token is None:
        if principal is None:
            raise Unauthorized(
                "send an API key with the ingest scope, or the feedback_token that "
                "POST /v1/interactions returned for this interaction"
            )
        raise Forbidden(f"this key has the {principal.scope} scope; voting needs ingest")
    if secret is None:
        raise Unauthorized("feedback tokens are not enabled on this server (no secret key)")
    if request_id is None:
        raise Forbidden("a feedback token only allows a vote by request_id on its interaction")
    check_token(secret, token, request_id)
