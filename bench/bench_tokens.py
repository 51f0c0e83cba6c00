"""What binding the voter costs a vote sent with a feedback token, in-process, no database.

    python bench/bench_tokens.py [--rounds 7] [--calls 20000]

Times the vote's own steps before it is handed to the group-commit writer: the token check
(`authorize_vote`) and the rows of the vote (`vote_entry`, which binds the voter), for

* key: an ingest key, no token (the chat backend's vote);
* before: the token check as it was before this change (the key derived per call, one HMAC
  over request_id and expiry), and the body's user_id taken as it came;
* legacy: a token of the form issued before voters were signed in, checked the way every
  token was checked before (one HMAC over request_id and expiry); its voter lookup, one
  database round trip, is not in this figure;
* bound: a token naming its voter, the body without user_id;
* bound+user: the same with the body naming the token's user, pseudonymisation on (one more
  HMAC: the body's user_id pseudonymised to compare it).

Variants alternate round by round; the median per call and the ratio to `before` are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feedback_api.auth.keys import Principal, Scope
from feedback_api.auth.pseudonyms import Pseudonymizer
from feedback_api.auth.tokens import TokenGrant, authorize_vote, check_token, issue_token
from feedback_api.feedback.schemas import FeedbackCreate
from feedback_api.feedback.service import vote_entry
from feedback_api.interactions.service import IngestRules

SECRET = "bench-" + "s" * 40
REQUEST_ID = "chatcmpl-0123456789abcdef"


def _legacy_token() -> str:
    # The old form, made as the old code made it.
    import base64
    import hashlib
    import hmac

    from feedback_api.auth.keys import derive_key

    expiry = int(time.time()) + 3600
    mac = hmac.new(
        derive_key(SECRET, "feedback-token"),
        f"feedback:{REQUEST_ID}:{expiry}".encode(),
        hashlib.sha256,
    )
    return f"{expiry}.{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"


def _check_before(secret: str, token: str, request_id: str) -> None:
    """check_token before voters were signed in, line for line."""
    import base64
    import hashlib
    import hmac

    from feedback_api.auth.keys import derive_key

    expiry_text, _, signature = token.partition(".")
    if not expiry_text.isdigit() or not signature:
        raise ValueError("malformed")
    expiry = int(expiry_text)
    key = derive_key(secret, "feedback-token")
    mac = hmac.new(key, f"feedback:{request_id}:{expiry}".encode(), hashlib.sha256)
    expected = base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
    if not hmac.compare_digest(signature, expected):
        raise ValueError("forged")
    if expiry < time.time():
        raise ValueError("expired")


def variants() -> dict[str, Callable[[], object]]:
    plain = IngestRules(token_secret=SECRET)
    pseudonymous = IngestRules(token_secret=SECRET, pseudonym=Pseudonymizer(SECRET, True))
    alice = pseudonymous.pseudonym("alice")
    key = Principal(Scope.INGEST, "key:bench")
    bound = issue_token(SECRET, REQUEST_ID, "alice", 3600).token
    bound_pseudonym = issue_token(SECRET, REQUEST_ID, alice, 3600).token
    legacy = _legacy_token()
    anonymous = FeedbackCreate.model_validate({"request_id": REQUEST_ID, "rating": 1})
    named = FeedbackCreate.model_validate(
        {"request_id": REQUEST_ID, "rating": 1, "user_id": "alice"}
    )

    def by_key() -> object:
        grant = authorize_vote(SECRET, key, None, REQUEST_ID)
        return vote_entry(named, plain, grant)

    def by_before() -> object:
        _check_before(SECRET, legacy, REQUEST_ID)
        return vote_entry(named, plain)

    def by_legacy() -> object:
        check_token(SECRET, legacy, REQUEST_ID)
        return vote_entry(anonymous, plain, TokenGrant(REQUEST_ID, "alice"))  # as if looked up

    def by_bound() -> object:
        return vote_entry(anonymous, plain, authorize_vote(SECRET, None, bound, REQUEST_ID))

    def by_bound_user() -> object:
        grant = authorize_vote(SECRET, None, bound_pseudonym, REQUEST_ID)
        return vote_entry(named, pseudonymous, grant)

    return {
        "key": by_key,
        "before": by_before,
        "legacy": by_legacy,
        "bound": by_bound,
        "bound+user": by_bound_user,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    runs = variants()
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            for _ in range(args.calls):
                run()
            timings[name].append((time.perf_counter() - started) / args.calls)
    before = statistics.median(timings["before"])
    print(f"{'variant':<12} {'us per vote':>12} {'x before':>9}")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:<12} {median * 1e6:>12.2f} {median / before:>9.2f}")


if __name__ == "__main__":
    main()
