from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.interactions.schemas import ExchangeContext, InteractionOut
from tests.helpers import count, exchange


async def test_log_interaction_returns_201_with_ids(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = exchange(
        request_id="req-1",
        user_id="u1",
        session_id="s1",
        response_time_ms=420,
        sources_used=[{"doc": "a.md", "score": 0.9}],
        tools_called=["rag_search", "graph_query"],
        memory_used=12.5,
        metadata={"system_prompt": "You are terse."},
    )
    r = await client.post("/v1/interactions", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["request_id"] == "req-1"
    assert data["created"] is True
    assert await count(engine, "interactions") == 1

    stored = (await client.get(f"/v1/interactions/{data['id']}")).json()
    assert stored["tools_called"] == ["rag_search", "graph_query"]
    assert stored["sources_used"] == [{"doc": "a.md", "score": 0.9}]
    assert stored["metadata"] == {"system_prompt": "You are terse."}
    assert stored["memory_used"] == 12.5
    assert stored["response_time_ms"] == 420


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    a = (await client.post("/v1/interactions", json=exchange())).json()
    b = (await client.post("/v1/interactions", json=exchange())).json()
    assert a["request_id"] and b["request_id"] and a["request_id"] != b["request_id"]


async def test_same_request_id_again_is_not_a_duplicate(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await client.post("/v1/interactions", json=exchange(request_id="dup"))
    again = await client.post("/v1/interactions", json=exchange(request_id="dup"))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["created"] is False
    assert await count(engine, "interactions") == 1


async def test_concurrent_same_request_id_leaves_one_row(
    make_client: object, engine: AsyncEngine
) -> None:
    import asyncio

    async with make_client() as client:  # type: ignore[operator]
        responses = await asyncio.gather(
            *(client.post("/v1/interactions", json=exchange(request_id="race")) for _ in range(16))
        )
    assert sorted({r.status_code for r in responses}) in ([200, 201], [201])
    assert sum(r.status_code == 201 for r in responses) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(engine, "interactions") == 1


async def test_backfilled_created_at_is_kept(client: httpx.AsyncClient) -> None:
    when = "2026-01-05T10:00:00+00:00"
    r = await client.post("/v1/interactions", json=exchange(created_at=when))
    assert r.status_code == 201
    assert datetime.fromisoformat(r.json()["created_at"]) == datetime.fromisoformat(when)


async def test_naive_created_at_is_utc(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/interactions", json=exchange(created_at="2026-01-05T10:00:00"))
    assert datetime.fromisoformat(r.json()["created_at"]) == datetime(2026, 1, 5, 10, tzinfo=UTC)


async def test_future_created_at_is_refused(client: httpx.AsyncClient) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    r = await client.post("/v1/interactions", json=exchange(created_at=future))
    assert r.status_code == 422
    assert "future" in r.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"query": None}, "query"),
        ({"model": ""}, "model"),
        ({"response_time_ms": -1}, "response_time_ms"),
        ({"response_time_ms": "fast"}, "response_time_ms"),
        ({"metadata": [1, 2]}, "metadata"),
        ({"metadata": "x"}, "metadata"),
        ({"tools_called": "rag"}, "tools_called"),
        ({"memory_used": -3}, "memory_used"),
        ({"query": "nul \u0000 byte"}, "query"),
        ({"metadata": {"k\u0000": 1}}, "metadata"),
        ({"metadata": {"k": ["ok", "bad\u0000"]}}, "metadata"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"colour": "blue"}, "colour"),
        ({"request_id": "x" * 129}, "request_id"),
    ],
)
async def test_bad_interaction_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, engine: AsyncEngine, change: dict[str, object], field: str
) -> None:
    body = exchange(**change)
    body = {k: v for k, v in body.items() if v is not None}
    r = await client.post("/v1/interactions", json=body)
    assert r.status_code == 422, r.text
    error = r.json()
    assert error["code"] == "invalid_input"
    assert field in error["detail"]
    assert "Traceback" not in r.text
    assert await count(engine, "interactions") == 0


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/interactions", content=b'{"query": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_input"


async def test_unknown_interaction_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/interactions/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert "no interaction" in r.json()["detail"]
    assert (await client.get("/v1/interactions/not-a-uuid")).status_code == 422


def test_the_stored_representation_carries_every_context_field() -> None:
    # InteractionOut declares the stored types (no input rules); its fields follow the context.
    context = list(ExchangeContext.model_fields)
    assert list(InteractionOut.model_fields) == ["id", "request_id", *context, "created_at"]
