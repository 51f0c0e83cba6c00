"""Serves the dashboard page and its assets; the page itself reads only the public JSON API.

Plotly.js comes from the `plotly` wheel's package data, so the page works offline and the
repository does not carry a 4 MB bundle.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from feedback_api.exceptions import NotFound

router = APIRouter(tags=["dashboard"], include_in_schema=False)

STATIC = Path(__file__).parent / "static"
# Only these names are served: never a path taken from the request.
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "overview-charts.js": "text/javascript; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
    "markdown.js": "text/javascript; charset=utf-8",
    "review.js": "text/javascript; charset=utf-8",
    "review-item.js": "text/javascript; charset=utf-8",
    "review-work.js": "text/javascript; charset=utf-8",
    "review.css": "text/css; charset=utf-8",
    "colours.js": "text/javascript; charset=utf-8",
    "model-accuracy.js": "text/javascript; charset=utf-8",
    "estimated-accuracy.js": "text/javascript; charset=utf-8",
    "model-colours.json": "application/json",
    "dashboard.css": "text/css; charset=utf-8",
}
# The page carries no inline script: only our own files may run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
# Plotly changes only with the wheel; our files may change with any upgrade.
CACHE = {"Cache-Control": "public, max-age=3600"}
NO_CACHE = {"Cache-Control": "no-cache"}


@cache
def plotly_js() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Content-Security-Policy": CSP, **NO_CACHE})


@router.get("/dashboard/", include_in_schema=False)
async def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard")


@router.get("/dashboard/static/{name}")
async def asset(name: str) -> FileResponse:
    if name == "plotly.min.js":
        return FileResponse(plotly_js(), media_type=ASSETS["dashboard.js"], headers=CACHE)
    if name not in ASSETS:
        raise NotFound(f"no dashboard asset named {name!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers=NO_CACHE)
