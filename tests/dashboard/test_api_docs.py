"""/docs and /redoc work with no network: their scripts come from an installed package."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Route

from tests.live_server import LiveServer


async def test_the_docs_pages_load_nothing_from_outside(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200, path
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert urls, path
        assert all(url.startswith("/") for url in urls), urls
    for name, media in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "text/javascript"),
        ("favicon.png", "image/png"),
    ):
        asset = await client.get(f"/docs/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media)
        assert len(asset.content) > 1000
    missing = await client.get("/docs/static/..%2F..%2Fapp.py")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200


@pytest.mark.slow
async def test_swagger_ui_and_redoc_render_with_the_network_cut(
    browser: Browser, live_server: LiveServer
) -> None:
    context = await browser.new_context()
    outside: list[str] = []

    async def only_this_server(route: Route) -> None:
        if route.request.url.startswith(live_server.url):
            await route.continue_()
        else:  # the network is cut: anything else fails as it would offline
            outside.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_this_server)
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(live_server.url + "/docs")
        # Swagger UI drew the operations of the app's OpenAPI document.
        await page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
        assert "feedback-api" in (await page.text_content(".swagger-ui .info .title") or "")
        paths = await page.locator(".opblock-summary-path").all_text_contents()
        assert any(p.replace("\u200b", "") == "/v1/feedback" for p in paths), paths
        assert outside == []  # Swagger UI asked for nothing beyond this server
        # ReDoc renders too; only its "powered by" logo is an image from its makers' site,
        # which simply does not show offline.
        await page.goto(live_server.url + "/redoc")
        await page.wait_for_selector(".redoc-wrap", timeout=30_000)
        await page.get_by_text("/v1/feedback/batch").first.wait_for(state="attached")
        assert all(url.endswith("logo-mini.svg") for url in outside), outside
        assert errors == []
    finally:
        await context.close()
