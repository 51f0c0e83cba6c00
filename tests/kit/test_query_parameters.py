"""Unknown query parameters are a 422 naming them, on every operation of the API."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.app import create_app
from feedback_api.config import Settings
from tests.conftest import in_process
from tests.helpers import count, exchange


async def test_a_typo_in_a_filter_is_a_422_naming_it_and_the_close_name(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/v1/feedback", params={"modle": "x"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_input"
    assert body["detail"] == (
        "unknown query parameter 'modle': this operation takes cursor, intent, is_helpful, "
        "limit, model, project, q, reason, request_id, since, until, user_id "
        "(did you mean 'model'?)"
    )
    assert body["errors"] == [
        {
            "field": "modle",
            "message": "not a query parameter of this operation; did you mean 'model'?",
            "type": "extra_forbidden",
        }
    ]


async def test_every_unknown_name_is_listed_once(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/metrics/top-queries?days=7&zzz=1&zzz=2&other")
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "unknown query parameters 'zzz', 'other': this operation takes days, limit"
    )
    assert [e["field"] for e in r.json()["errors"]] == ["zzz", "other"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/v1/feedback/accuracy"),  # matched before /v1/feedback/{feedback_id}
        ("GET", "/v1/projects/team/a/reasons"),  # a path parameter holding a slash
        ("DELETE", "/v1/users/ann"),
    ],
)
async def test_every_operation_refuses_unknown_names(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path, params={"nope": "1"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "nope"


async def test_a_write_with_an_unknown_name_writes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    r = await client.post("/v1/feedback?dry_run=true", json=exchange(rating=1))
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "unknown query parameter 'dry_run': this operation takes no query parameters"
    )
    assert await count(engine, "feedback") == 0
    # Known names, and none at all, pass as before.
    assert (await client.post("/v1/feedback", json=exchange(rating=1))).status_code == 201
    r = await client.get("/v1/feedback", params={"model": "qwen-2.5-coder-7b", "limit": 5})
    assert r.status_code == 200 and len(r.json()["items"]) == 1


async def test_pages_assets_and_unknown_paths_are_left_alone(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/feedback.js?v=3")).status_code == 200
    assert (await client.get("/dashboard?utm_source=mail")).status_code == 200
    assert (await client.get("/openapi.json?x=1")).status_code == 200
    assert (await client.get("/no/such/path?x=1")).status_code == 404
    assert (await client.put("/healthz?x=1")).status_code == 405


async def test_routes_added_after_the_app_was_made_are_checked_too(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/test/late")
    async def late(flavour: str = "plain") -> dict[str, str]:
        return {"flavour": flavour}

    async with in_process(app) as client:
        assert (await client.get("/test/late?flavour=x")).json() == {"flavour": "x"}
        r = await client.get("/test/late?flavor=x")
        assert r.status_code == 422
        assert "did you mean 'flavour'?" in r.json()["detail"]
