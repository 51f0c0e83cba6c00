"""`/docs` (Swagger UI) and `/redoc`, with their scripts and styles served from an installed
package (`fastapi-offline`'s package data) rather than a CDN: the docs work on a machine with
no network, as the dashboard does with the `plotly` wheel's Plotly.js.

Only the package's files are used, through FastAPI's own page builders; the app itself is an
ordinary FastAPI created with `docs_url=None, redoc_url=None`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from feedback_api.exceptions import NotFound

router = APIRouter(tags=["docs"], include_in_schema=False)

OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# Only these names are served: never a path taken from the request.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# The files change only with the package.
CACHE = {"Cache-Control": "public, max-age=3600"}


@cache
def assets_dir() -> Path:
    return Path(str(resources.files("fastapi_offline") / "static"))


def _asset(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}/docs/static/{name}"


def _openapi(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{request.app.openapi_url}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=_openapi(request),
        title=f"{request.app.title} - API docs",
        swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, "swagger-ui.css"),
        swagger_favicon_url=_asset(request, "favicon.png"),
        oauth2_redirect_url=OAUTH2_REDIRECT,
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=_openapi(request),
        title=f"{request.app.title} - API reference",
        redoc_js_url=_asset(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "favicon.png"),
        with_google_fonts=False,
    )


@router.get("/docs/static/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound(f"no docs asset named {name!r}")
    return FileResponse(assets_dir() / name, media_type=ASSETS[name], headers=CACHE)
