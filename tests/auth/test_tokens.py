"""A feedback token is one voter's: its votes count as the interaction's own user's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.auth.keys import derive_key
from feedback_api.auth.tokens import check_token, issue_token
from tests.helpers import count, exchange

KEYS = "ingest:ingest-key-0123456789,read:read-key-0123456789"
SECRET = "s3cr3t-" + "y" * 40
INGEST = {"Authorization": "Bearer ingest-key-0123456789"}
READ = {"Authorization": "Bearer read-key-0123456789"}


@pytest.fixture
async def keyed(make_client: Any) -> Any:
    async with make_client(api_keys=KEYS, secret_key=SECRET) as client:
        yield client


async def _log(client: httpx.AsyncClient, request_id: str, **fields: Any) -> str:
    r = await client.post(
        "/v1/interactions", json=exchange(request_id=request_id, **fields), headers=INGEST
    )
    assert r.status_code in (200, 201), r.text
    token: str = r.json()["feedback_token"]
    return token


async def _vote(client: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    return await client.post("/v1/feedback", json=body, headers={"X-Feedback-Token": token})


async def test_one_token_is_one_voter_whatever_the_body_names(
    keyed: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The issue's scenario: four user_ids and one without, on one token."""
    token = await _log(keyed, "stuffed", user_id="alice")
    answers = [
        await _vote(keyed, token, request_id="stuffed", is_helpful=True, user_id=user)
        for user in ("mallory", "eve", "trent", "alice")
    ]
    assert [a.status_code for a in answers] == [403, 403, 403, 201]
    for refused in answers[:3]:
        assert "another user" in refused.json()["detail"]
        assert refused.json()["code"] == "forbidden"
    without = await _vote(keyed, token, request_id="stuffed", is_helpful=False)
    assert without.status_code == 200  # alice again: her one vote, changed
    assert without.json()["user_id"] == "alice" and without.json()["is_helpful"] is False
    assert await count(engine, "feedback") == 1
    assert await count(engine, "feedback", "user_id = 'alice' AND NOT is_helpful") == 1


async def test_a_token_of_an_anonymous_interaction_is_its_one_anonymous_voter(
    keyed: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    token = await _log(keyed, "anon")
    named = await _vote(keyed, token, request_id="anon", is_helpful=True, user_id="u1")
    assert named.status_code == 403 and "without a user" in named.json()["detail"]
    first = await _vote(keyed, token, request_id="anon", rating=1)
    again = await _vote(keyed, token, request_id="anon", rating=-1, comment="on reflection")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["user_id"] is None and again.json()["is_helpful"] is False
    assert await count(engine, "feedback") == 1
    assert await count(engine, "feedback", "user_id IS NULL AND comment = 'on reflection'") == 1


async def test_a_key_holder_votes_for_anyone_but_a_token_still_binds(
    keyed: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """An ingest key names the voter itself; a token sent along still counts as its own."""
    token = await _log(keyed, "both", user_id="alice")
    by_key = await keyed.post(
        "/v1/feedback",
        json={"request_id": "both", "is_helpful": True, "user_id": "bob"},
        headers=INGEST,
    )
    assert by_key.status_code == 201
    with_token = await keyed.post(
        "/v1/feedback",
        json={"request_id": "both", "is_helpful": True, "user_id": "carol"},
        headers={**INGEST, "X-Feedback-Token": token},
    )
    assert with_token.status_code == 403
    assert await count(engine, "feedback") == 1


async def test_re_votes_through_the_idempotent_path_are_bound_alike(
    keyed: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    token = await _log(keyed, "idem", user_id="alice")
    headers = {"X-Feedback-Token": token}
    first = await keyed.post(
        "/v1/feedback",
        json={"request_id": "idem", "rating": 1},
        headers={**headers, "Idempotency-Key": "k1"},
    )
    other = await keyed.post(
        "/v1/feedback",
        json={"request_id": "idem", "rating": 1, "user_id": "bob"},
        headers={**headers, "Idempotency-Key": "k2"},
    )
    second = await keyed.post(
        "/v1/feedback",
        json={"request_id": "idem", "rating": -1},
        headers={**headers, "Idempotency-Key": "k3"},
    )
    assert (first.status_code, other.status_code, second.status_code) == (201, 403, 200)
    assert first.json()["user_id"] == second.json()["user_id"] == "alice"
    assert await count(engine, "feedback") == 1


async def test_pseudonymised_users_are_compared_in_their_stored_form(
    make_client: Any, engine: AsyncEngine
) -> None:
    async with make_client(api_keys=KEYS, secret_key=SECRET, pseudonymize_users=True) as client:
        token = await _log(client, "pseudo", user_id="alice@example.com")
        own = await _vote(client, token, request_id="pseudo", rating=1, user_id="alice@example.com")
        assert own.status_code == 201, own.text
        pseudonym = own.json()["user_id"]
        assert len(pseudonym) == 64 and "alice" not in token
        # The pseudonym itself is no raw user_id of alice: pseudonymised again, it is another.
        as_pseudonym = await _vote(client, token, request_id="pseudo", rating=1, user_id=pseudonym)
        assert as_pseudonym.status_code == 403
        bare = await _vote(client, token, request_id="pseudo", rating=-1)
        assert bare.status_code == 200 and bare.json()["user_id"] == pseudonym
    assert await count(engine, "feedback") == 1
    assert await count(engine, "feedback", "user_id LIKE '%alice%'") == 0


async def test_a_token_issued_before_voters_were_signed_in_binds_by_lookup(
    keyed: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Tokens of the old form (`<expiry>.<signature>`) stay valid until they expire; their
    voter is the interaction's user, read from the database."""
    await _log(keyed, "old", user_id="alice")
    expiry = int(time.time()) + 3600
    mac = hmac.new(
        derive_key(SECRET, "feedback-token"), f"feedback:old:{expiry}".encode(), hashlib.sha256
    )
    legacy = f"{expiry}.{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"
    assert not check_token(SECRET, legacy, "old").bound
    stuffed = await _vote(keyed, legacy, request_id="old", rating=1, user_id="mallory")
    own = await _vote(keyed, legacy, request_id="old", rating=1)
    assert (stuffed.status_code, own.status_code) == (403, 201)
    assert own.json()["user_id"] == "alice"
    batch = await keyed.post(
        "/v1/feedback/batch",
        json={
            "items": [
                {"request_id": "old", "rating": -1, "feedback_token": legacy},
                {"request_id": "old", "rating": -1, "feedback_token": legacy, "user_id": "eve"},
            ]
        },
        headers=INGEST,
    )
    assert [r["status"] for r in batch.json()["results"]] == [200, 403]
    assert await count(engine, "feedback", "user_id = 'alice' AND NOT is_helpful") == 1
    assert await count(engine, "feedback") == 1


async def test_batch_items_with_a_token_are_bound_item_by_item(
    keyed: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    token = await _log(keyed, "b1", user_id="alice")
    other = await _log(keyed, "b2")
    r = await keyed.post(
        "/v1/feedback/batch",
        json={
            "items": [
                {"request_id": "b1", "rating": 1, "feedback_token": token, "user_id": "bob"},
                {"request_id": "b1", "rating": 1, "feedback_token": token},
                {"request_id": "b1", "rating": 1, "feedback_token": other},
                {"request_id": "b2", "rating": -1, "feedback_token": other, "user_id": "x"},
                {"request_id": "b2", "rating": -1, "feedback_token": other},
                {"request_id": "b2", "rating": 1, "user_id": "by-key"},
            ]
        },
        headers=INGEST,
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [item["status"] for item in results] == [403, 201, 403, 403, 201, 201]
    assert results[1]["feedback"]["user_id"] == "alice"
    assert results[4]["feedback"]["user_id"] is None
    assert "another interaction" in results[2]["error"]
    assert await count(engine, "feedback") == 3


async def test_token_route_issues_a_token_for_a_logged_interaction(
    keyed: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await _log(keyed, "span-1", user_id="alice")
    r = await keyed.post("/v1/interactions/span-1/token", headers=INGEST)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"request_id", "feedback_token", "expires_at"}
    assert body["request_id"] == "span-1"
    grant = check_token(SECRET, body["feedback_token"], "span-1")
    assert grant.voter == "alice"
    vote = await _vote(keyed, body["feedback_token"], request_id="span-1", rating=1)
    assert vote.status_code == 201 and vote.json()["user_id"] == "alice"

    unknown = await keyed.post("/v1/interactions/nobody/token", headers=INGEST)
    assert unknown.status_code == 404 and "nobody" in unknown.json()["detail"]
    assert (await keyed.post("/v1/interactions/span-1/token")).status_code == 401
    assert (await keyed.post("/v1/interactions/span-1/token", headers=READ)).status_code == 403


async def test_token_route_without_a_secret_says_how_to_enable_tokens(
    make_client: Any,
) -> None:
    async with make_client() as client:
        await client.post("/v1/interactions", json=exchange(request_id="r"))
        r = await client.post("/v1/interactions/r/token")
    assert r.status_code == 409 and "FEEDBACK_SECRET_KEY" in r.json()["detail"]


async def test_a_re_logged_interaction_binds_the_stored_user(keyed: httpx.AsyncClient) -> None:
    """The same exchange again answers with a token of the user stored the first time; the
    request_id under another user is a different exchange: a 409, and no token for that user."""
    await _log(keyed, "twice", user_id="alice")
    token = await _log(keyed, "twice", user_id="alice")
    assert check_token(SECRET, token, "twice").voter == "alice"
    r = await keyed.post(
        "/v1/interactions", json=exchange(request_id="twice", user_id="mallory"), headers=INGEST
    )
    assert r.status_code == 409, r.text
    assert "feedback_token" not in r.json()


def test_a_voter_cannot_be_swapped_inside_a_token() -> None:
    token = issue_token(SECRET, "r", "alice", 60).token
    expiry, _, signature = token.split(".")
    swapped = f"{expiry}.{base64.urlsafe_b64encode(b'mallory').decode().rstrip('=')}.{signature}"
    with pytest.raises(Exception, match="another interaction, or forged"):
        check_token(SECRET, swapped, "r")
    anonymous = f"{expiry}..{signature}"
    with pytest.raises(Exception, match="forged"):
        check_token(SECRET, anonymous, "r")
    assert check_token(SECRET, issue_token(SECRET, "r", None, 60).token, "r").voter is None


async def test_tokens_of_a_logged_batch_bind_each_exchange_s_user(
    keyed: httpx.AsyncClient,
) -> None:
    r = await keyed.post(
        "/v1/interactions/batch",
        json={
            "items": [
                exchange(request_id="bb1", user_id="alice"),
                exchange(request_id="bb2"),
            ]
        },
        headers=INGEST,
    )
    tokens = [item["interaction"]["feedback_token"] for item in r.json()["results"]]
    assert check_token(SECRET, tokens[0], "bb1").voter == "alice"
    assert check_token(SECRET, tokens[1], "bb2").voter is None
    stuffed = await _vote(keyed, tokens[0], request_id="bb1", rating=1, user_id="mallory")
    assert stuffed.status_code == 403
