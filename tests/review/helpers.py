"""What the review tests share: logged answers, queues, named reviewers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import exchange

KEYS = (
    "admin:boss:admin-key-0123456789,review:alice:alice-key-0123456789,"
    "review:bob:bob-key-0123456789,review:carol:carol-key-0123456789,"
    "read:read-key-0123456789,ingest:ingest-key-0123456789"
)
ADMIN = {"X-API-Key": "admin-key-0123456789"}
READ = {"X-API-Key": "read-key-0123456789"}
INGEST = {"X-API-Key": "ingest-key-0123456789"}


def reviewer(name: str) -> dict[str, str]:
    return {"X-API-Key": f"{name}-key-0123456789"}


def as_open(name: str) -> dict[str, str]:
    """A reviewer in open mode names themself."""
    return {"X-Reviewer": name}


async def log_answers(
    client: httpx.AsyncClient, count: int, headers: dict[str, str] | None = None, **overrides: Any
) -> list[str]:
    """Log `count` answers; their request_ids, oldest first."""
    items = [exchange(request_id=f"req-{i:05d}", **overrides) for i in range(count)]
    r = await client.post("/v1/interactions/batch", json={"items": items}, headers=headers or {})
    assert r.status_code == 200, r.text
    return [item["request_id"] for item in items]


async def new_queue(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **body: Any
) -> str:
    r = await client.post("/v1/review/queues", json={"name": "q", **body}, headers=headers or {})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def add(
    client: httpx.AsyncClient,
    queue_id: str,
    request_ids: list[str],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/review/queues/{queue_id}/items",
        json={"request_ids": request_ids},
        headers=headers or {},
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def claim(
    client: httpx.AsyncClient, queue_id: str, headers: dict[str, str]
) -> dict[str, Any] | None:
    r = await client.post(f"/v1/review/queues/{queue_id}/claim", headers=headers)
    assert r.status_code in (200, 204), r.text
    return r.json() if r.status_code == 200 else None


async def submit(
    client: httpx.AsyncClient,
    lease: dict[str, Any],
    headers: dict[str, str],
    verdict: str = "correct",
    **body: Any,
) -> httpx.Response:
    return await client.post(
        f"/v1/review/assignments/{lease['assignment_id']}/submit",
        json={"lease_token": lease["lease_token"], "verdict": verdict, **body},
        headers=headers,
    )
