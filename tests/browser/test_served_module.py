"""GET /static/feedback.js: a JavaScript module another origin may import, cached by ETag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from feedback_api.browser.router import MODULE, MODULES

FRONTEND = "https://chat.example.com"


async def test_the_module_is_javascript_cached_by_etag_and_importable_anywhere(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/static/feedback.js", headers={"Origin": FRONTEND})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.content == MODULE.read_bytes()
    assert "export class FeedbackWidget" in response.text
    assert "export async function sendFeedback" in response.text
    # No CORS origins configured: the file still allows every origin (it is public and
    # fetched without credentials), as a module script fetched in CORS mode needs.
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "public, max-age=300"
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34

    again = await client.get("/static/feedback.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=300"
    weak = await client.get("/static/feedback.js", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    stale = await client.get("/static/feedback.js", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == response.content

    head = await client.head("/static/feedback.js")
    assert head.status_code == 200
    assert head.headers["etag"] == etag
    assert head.headers["content-type"] == "text/javascript; charset=utf-8"

    other = await client.get("/static/other.js")
    assert other.status_code == 404
    assert other.json()["code"] == "not_found"


async def test_the_modules_feedback_js_imports_are_served_beside_it_the_same_way(
    client: httpx.AsyncClient,
) -> None:
    entry = (await client.get("/static/feedback.js")).text
    for name in sorted(MODULES - {MODULE.name}):
        assert f'from "./{name}"' in entry
        response = await client.get(f"/static/{name}", headers={"Origin": FRONTEND})
        assert response.status_code == 200
        assert response.content == (MODULE.parent / name).read_bytes()
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["cross-origin-resource-policy"] == "cross-origin"
        assert response.headers["cache-control"] == "public, max-age=300"
        etag = response.headers["etag"]
        again = await client.get(f"/static/{name}", headers={"If-None-Match": etag})
        assert again.status_code == 304
    # Every file beside the module is one of these: nothing else there is served.
    assert {path.name for path in MODULE.parent.iterdir()} == MODULES


async def test_with_cors_origins_the_frontend_gets_its_own_origin_back(
    make_client: Callable[..., Any],
) -> None:
    async with make_client(cors_origins=[FRONTEND]) as client:
        response = await client.get("/static/feedback.js", headers={"Origin": FRONTEND})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == FRONTEND
        assert "origin" in response.headers["vary"].lower()
        # Another origin may still import the file; its votes would be refused by CORS.
        foreign = await client.get(
            "/static/feedback.js", headers={"Origin": "https://elsewhere.example"}
        )
        assert foreign.headers["access-control-allow-origin"] == "*"
        # The vote's preflight: JSON, the idempotency key, from the configured origin.
        preflight = await client.options(
            "/v1/feedback",
            headers={
                "Origin": FRONTEND,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,idempotency-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == FRONTEND
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "idempotency-key" in allowed
        assert "content-type" in allowed
