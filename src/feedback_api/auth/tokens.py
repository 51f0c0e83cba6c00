"""Feedback tokens: what lets a browser vote on one interaction, as that interaction's user.

A token is `<expiry>.<voter>.<signature>`: `voter` is the interaction's user_id as stored
(its pseudonym when pseudonymisation is on), base64url-encoded, empty for an interaction
logged without a user; the signature covers the request_id, the expiry and the voter. A vote
checks it with one HMAC and no database round trip, and learns whose vote it is.

Tokens from before the voter was signed in (`<expiry>.<signature>`) stay valid until they
expire; they carry no voter (`TokenGrant.bound` is False), so their voter is looked up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from feedback_api.auth.keys import Principal, Scope, derive_key
from feedback_api.exceptions import Forbidden, Unauthorized

# The longest user_id (255 characters, up to 4 bytes each in UTF-8) in base64url, with the
# expiry and the signature: the longest token accepted in a body or a header.
TOKEN_MAX_LENGTH = 1500


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenGrant:
    """What a valid token allows: votes on `request_id` that count as `voter`'s."""

    request_id: str
    voter: str | None  # the interaction's user_id as stored; None: the anonymous voter
    bound: bool = True  # False: a token from before voters were signed in; look it up

    def bind(self, voter: str | None) -> TokenGrant:
        return TokenGrant(self.request_id, voter)


def issue_token(
    secret: str,
    request_id: str,
    voter: str | None,
    ttl_seconds: int,
    now: float | None = None,
) -> IssuedToken:
    """A token for votes on `request_id` as `voter` (the user_id as stored) until expiry."""
    expiry = int((now or time.time()) + ttl_seconds)
    field = _encode_voter(voter)
    token = f"{expiry}.{field}.{_sign(secret, request_id, expiry, field)}"
    return IssuedToken(token, datetime.fromtimestamp(expiry, UTC))


def check_token(secret: str, token: str, request_id: str, now: float | None = None) -> TokenGrant:
    """What `token` allows on `request_id`; Unauthorized / Forbidden when it allows nothing."""
    parts = token.split(".")
    if len(parts) not in (2, 3) or not parts[0].isdigit() or not parts[-1]:
        raise Unauthorized("the feedback token is malformed")
    expiry, signature = int(parts[0]), parts[-1]
    field = parts[1] if len(parts) == 3 else None  # None: issued before voters were signed in
    if field is None:
        wanted = _legacy_sign(secret, request_id, expiry)
    else:
        wanted = _sign(secret, request_id, expiry, field)
    if not hmac.compare_digest(signature, wanted):
        raise Forbidden(
            "the feedback token does not allow a vote on this request_id "
            "(it was issued for another interaction, or forged)"
        )
    if expiry < (now or time.time()):
        raise Unauthorized("the feedback token has expired; ask the chat backend for a new one")
    if field is None:
        return TokenGrant(request_id, None, bound=False)
    return TokenGrant(request_id, _decode_voter(field))


def _encode_voter(voter: str | None) -> str:
    if voter is None:
        return ""
    # A user_id of "" is not valid input, so the empty field means the anonymous voter only.
    return base64.urlsafe_b64encode(voter.encode()).decode().rstrip("=")


def _decode_voter(field: str) -> str | None:
    if not field:
        return None
    try:
        return base64.urlsafe_b64decode(field + "=" * (-len(field) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):  # signed by us: only a bug gets here
        raise Unauthorized("the feedback token is malformed") from None


@lru_cache(maxsize=4)
def _token_key(secret: str) -> bytes:
    # Derived once per secret, not once per vote: the derivation is an HMAC of its own, a
    # third of a token check's time (bench/bench_tokens.py, docs/benchmarks/ingest.md).
    return derive_key(secret, "feedback-token")


def _mac(secret: str, message: str) -> str:
    mac = hmac.new(_token_key(secret), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def _sign(secret: str, request_id: str, expiry: int, voter_field: str) -> str:
    # Its own prefix: no token of the old form signs the same message. The expiry and the
    # voter field hold no ':', so the message names one (request_id, expiry, voter) only.
    return _mac(secret, f"feedback-v2:{request_id}:{expiry}:{voter_field}")


def _legacy_sign(secret: str, request_id: str, expiry: int) -> str:
    return _mac(secret, f"feedback:{request_id}:{expiry}")


def authorize_vote(
    secret: str | None, principal: Principal | None, token: str | None, request_id: str | None
) -> TokenGrant | None:
    """POST /v1/feedback: an ingest key, or a feedback token (signed with `secret`, the
    server's FEEDBACK_SECRET_KEY) for that very interaction.

    Returns the token's grant when a token was sent, whatever the key: a vote with a token
    counts as the vote of the token's voter (see `feedback.service.bind_voter`). A key with
    the ingest scope needs no token; a token sent with one to a server without a secret key
    (which issues no tokens) is not ours to read, and is ignored.
    """
    may_ingest = principal is not None and principal.allows(Scope.INGEST)
    if token is None:
        if may_ingest:
            return None
        if principal is None:
            raise Unauthorized(
                "send an API key with the ingest scope, or the feedback_token that "
                "POST /v1/interactions returned for this interaction"
            )
        raise Forbidden(f"this key has the {principal.scope} scope; voting needs ingest")
    if secret is None:
        if may_ingest:  # no token is ours on this server; the key suffices
            return None
        raise Unauthorized("feedback tokens are not enabled on this server (no secret key)")
    if request_id is None:
        raise Forbidden("a feedback token only allows a vote by request_id on its interaction")
    return check_token(secret, token, request_id)
