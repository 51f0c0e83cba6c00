"""Keys and scopes, open mode, feedback tokens, pseudonyms, erasure."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from feedback_api.auth.tokens import check_token, issue_token
from feedback_api.cli.commands import app as cli
from feedback_api.config import Settings, get_settings
from tests.helpers import count, exchange

KEYS = "ingest:ingest-key-0123456789,read:read-key-0123456789,admin:admin-key-0123456789"
SECRET = "s3cr3t-" + "x" * 40
INGEST = {"Authorization": "Bearer ingest-key-0123456789"}
READ = {"X-API-Key": "read-key-0123456789"}
ADMIN = {"Authorization": "Bearer admin-key-0123456789"}


@pytest.fixture
async def keyed(make_client: Any) -> Any:
    async with make_client(api_keys=KEYS, secret_key=SECRET) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("POST", "/v1/interactions", "ingest"),
        ("POST", "/v1/feedback/batch", "ingest"),
        ("GET", "/v1/feedback", "read"),
        ("GET", "/v1/feedback/accuracy", "read"),
        ("GET", "/v1/feedback/stats", "read"),
        ("GET", "/v1/metrics/daily", "read"),
        ("GET", "/v1/metrics/top-queries", "read"),
        ("GET", "/v1/exports", "read"),
        ("POST", "/v1/admin/refresh", "admin"),
        ("DELETE", "/v1/users/someone", "admin"),
    ],
)
async def test_scopes(keyed: httpx.AsyncClient, method: str, path: str, scope: str) -> None:
    body = {"items": [exchange(rating=1)]} if path.endswith("batch") else exchange()
    kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
    missing = await keyed.request(method, path, **kwargs)
    assert missing.status_code == 401 and "API key" in missing.json()["detail"]
    wrong = await keyed.request(method, path, headers={"X-API-Key": "nope"}, **kwargs)
    assert wrong.status_code == 401
    headers = {"ingest": INGEST, "read": READ, "admin": ADMIN}
    for name, key in headers.items():
        r = await keyed.request(method, path, headers=key, **kwargs)
        allowed = name in (scope, "admin")
        assert (r.status_code < 400) is allowed, (name, r.status_code, r.text)
        if not allowed:
            assert r.status_code == 403 and scope in r.json()["detail"]


async def test_health_docs_and_openapi_stay_open(keyed: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert (await keyed.get(path)).status_code == 200, path
    schemes = (await keyed.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)


async def test_open_mode_needs_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/feedback/accuracy")).status_code == 200
    assert (await client.post("/v1/feedback", json=exchange(rating=1))).status_code == 201


async def test_feedback_token_lets_a_browser_vote_on_its_interaction_only(
    keyed: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = (
        await keyed.post("/v1/interactions", json=exchange(request_id="t1"), headers=INGEST)
    ).json()
    other = (
        await keyed.post("/v1/interactions", json=exchange(request_id="t2"), headers=INGEST)
    ).json()
    token = first["feedback_token"]
    assert token and other["feedback_token"] != token

    by_header = await keyed.post(
        "/v1/feedback",
        json={"request_id": "t1", "is_helpful": True},
        headers={"X-Feedback-Token": token},
    )
    assert by_header.status_code == 201, by_header.text
    in_body = await keyed.post(
        "/v1/feedback",
        json={"request_id": "t1", "is_helpful": False, "feedback_token": token},
    )
    assert in_body.status_code == 200  # the token's one (anonymous) voter, voting again
    elsewhere = await keyed.post(
        "/v1/feedback",
        json={"request_id": "t2", "is_helpful": True},
        headers={"X-Feedback-Token": token},
    )
    assert elsewhere.status_code == 403 and "another interaction" in elsewhere.json()["detail"]
    forged = await keyed.post(
        "/v1/feedback",
        json={"request_id": "t1", "is_helpful": True},
        headers={"X-Feedback-Token": "9999999999.forged"},
    )
    assert forged.status_code == 403
    expired = issue_token(SECRET, "t1", None, 60, now=time.time() - 3600).token
    late = await keyed.post(
        "/v1/feedback",
        json={"request_id": "t1", "is_helpful": True},
        headers={"X-Feedback-Token": expired},
    )
    assert late.status_code == 401 and "expired" in late.json()["detail"]
    nothing = await keyed.post("/v1/feedback", json={"request_id": "t1", "is_helpful": True})
    assert nothing.status_code == 401 and "feedback_token" in nothing.json()["detail"]
    with_context = await keyed.post(
        "/v1/feedback", json=exchange(rating=1), headers={"X-Feedback-Token": token}
    )
    assert with_context.status_code == 403
    assert await count(engine, "feedback") == 1


def test_token_checks() -> None:
    token = issue_token(SECRET, "r", "u1", 60).token
    assert check_token(SECRET, token, "r").voter == "u1"
    with pytest.raises(Exception, match="malformed"):
        check_token(SECRET, "garbage", "r")


async def test_no_token_without_a_secret(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/interactions", json=exchange())
    assert r.json()["feedback_token"] is None


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"FEEDBACK_SECRET_KEY": "changeme"}, "at least 32"),
        ({"FEEDBACK_PSEUDONYMIZE_USERS": "true"}, "needs FEEDBACK_SECRET_KEY"),
        ({"FEEDBACK_API_KEYS": "root:abc"}, "unknown scope"),
        ({"FEEDBACK_API_KEYS": "read"}, "scope:key"),
    ],
)
def test_unsafe_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=needle):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_serve_refuses_the_network_in_open_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEEDBACK_API_KEYS", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert "open mode" in result.output and "--allow-open" in result.output


async def test_pseudonymized_users_are_stored_only_as_pseudonyms(
    make_client: Any, engine: AsyncEngine
) -> None:
    async with make_client(secret_key=SECRET, pseudonymize_users=True) as client:
        body = exchange(rating=1, user_id="alice@example.com", session_id="sess-42")
        r = await client.post("/v1/feedback", json=body)
        assert r.status_code == 201
        assert r.json()["user_id"] != "alice@example.com" and len(r.json()["user_id"]) == 64
        await client.post("/v1/feedback", json=exchange(rating=-1, user_id="alice@example.com"))
        await client.post("/v1/feedback", json=exchange(rating=1, user_id="bob"))
        mine = (await client.get("/v1/feedback", params={"user_id": "alice@example.com"})).json()
        assert len(mine["items"]) == 2  # filters take the raw id
        await client.post("/v1/admin/refresh")
        stats = (await client.get("/v1/feedback/stats", params={"days": 7})).json()
        assert stats["unique_users"] == 2 and stats["unique_sessions"] == 1
        erased = (await client.delete("/v1/users/alice@example.com")).json()
        assert erased["interactions_deleted"] == 2 and erased["feedback_deleted"] == 2
    for table in ("interactions", "feedback"):
        raw = await count(engine, table, "user_id LIKE '%alice%' OR user_id = 'bob'")
        assert raw == 0
    assert await count(engine, "interactions", "session_id = 'sess-42'") == 0
    assert await count(engine, "feedback") == 1


async def test_erasure_removes_the_user_everywhere(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.post("/v1/interactions", json=exchange(request_id="mine", user_id="carol"))
    await client.post(
        "/v1/feedback", json={"request_id": "mine", "is_helpful": True, "user_id": "dan"}
    )
    await client.post("/v1/feedback", json=exchange(rating=-1, user_id="dan"))
    await client.post("/v1/feedback", json=exchange(rating=1, user_id="carol"))
    await client.post("/v1/admin/refresh")
    before = (await client.get("/v1/feedback/accuracy", params={"group_by": ""})).json()
    assert before["items"][0]["total"] == 3
    r = await client.delete("/v1/users/carol")
    assert r.status_code == 200
    assert r.json() == {
        "interactions_deleted": 2,
        "feedback_deleted": 2,
        "note": "aggregates forget the user at the next analytics refresh",
    }
    assert await count(engine, "interactions", "user_id = 'carol'") == 0
    assert await count(engine, "feedback", "user_id = 'carol'") == 0
    await client.post("/v1/admin/refresh")
    after = (await client.get("/v1/feedback/accuracy", params={"group_by": ""})).json()
    assert after["items"][0]["total"] == 1  # only dan's own vote on his own question
    unknown = await client.delete("/v1/users/nobody")
    assert unknown.json()["interactions_deleted"] == 0


async def test_a_pseudonym_is_never_a_feedback_token(make_client: Any) -> None:
    """One secret, two uses: each must get its own key, or a chosen user id forges tokens."""
    import base64

    async with make_client(api_keys=KEYS, secret_key=SECRET, pseudonymize_users=True) as client:
        await client.post("/v1/interactions", json=exchange(request_id="victim"), headers=INGEST)
        expiry = int(time.time()) + 3600
        crafted = f"feedback:victim:{expiry}"
        r = await client.post(
            "/v1/feedback", json=exchange(rating=1, user_id=crafted), headers=INGEST
        )
        pseudonym = r.json()["user_id"]
        signature = base64.urlsafe_b64encode(bytes.fromhex(pseudonym)).decode().rstrip("=")
        forged = await client.post(
            "/v1/feedback",
            json={"request_id": "victim", "is_helpful": False},
            headers={"X-Feedback-Token": f"{expiry}.{signature}"},
        )
        assert forged.status_code == 403


def test_configuration_errors_do_not_echo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_API_KEYS", "bogus:supersecretvalue-123456")
    with pytest.raises(ValueError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "supersecretvalue" not in str(caught.value)
    monkeypatch.setenv("FEEDBACK_API_KEYS", "read:short")
    with pytest.raises(ValueError, match="too short"):
        Settings(_env_file=None)  # type: ignore[call-arg]


async def test_unauthorized_answers_say_how_to_authenticate(keyed: httpx.AsyncClient) -> None:
    r = await keyed.get("/v1/feedback")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_erasure_also_forgets_stored_answers_and_old_days(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    old = "2026-01-10T12:00:00Z"
    await client.post(
        "/v1/feedback",
        json=exchange(rating=1, user_id="erin", created_at=old),
        headers={"Idempotency-Key": "erin-1"},
    )
    await client.post("/v1/admin/refresh", params={"full": "true"})
    daily = await client.get(
        "/v1/metrics/daily", params={"since": "2026-01-10", "until": "2026-01-10"}
    )
    assert daily.json()["items"][0]["total_queries"] == 1
    await client.delete("/v1/users/erin")
    assert await count(engine, "idempotency_keys") == 0
    await client.post("/v1/admin/refresh")  # not --full: erasure asked for a full rebuild
    daily = await client.get(
        "/v1/metrics/daily", params={"since": "2026-01-10", "until": "2026-01-10"}
    )
    assert daily.json()["items"][0]["total_queries"] == 0
