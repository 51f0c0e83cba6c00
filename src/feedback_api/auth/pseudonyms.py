from __future__ import annotations

import hashlib
import hmac

from feedback_api.auth.keys import derive_key


class Pseudonymizer:
    """user_id / session_id -> keyed HMAC-SHA256, when FEEDBACK_PSEUDONYMIZE_USERS is on.

    The same input always gives the same pseudonym, so filters and unique counts still work
    when the inputs go through the same function; without the secret it cannot be reversed
    or recomputed from a guessed id.
    """

    def __init__(self, secret: str | None, enabled: bool) -> None:
        self._key = derive_key(secret, "pseudonym") if (enabled and secret) else None

    def __call__(self, value: str | None) -> str | None:
        if value is None or self._key is None:
            return value
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
