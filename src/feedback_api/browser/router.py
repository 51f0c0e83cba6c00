"""Serves feedback.js, the ES module chat frontends import to send votes (docs/browser.md),
and the two modules it imports from beside it.

A frontend imports the module from its own origin, and module scripts are fetched in CORS
mode: the files are public and fetched without credentials, so their answers allow every
origin. The votes themselves are cross-origin API calls, allowed by FEEDBACK_CORS_ORIGINS.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from feedback_api.exceptions import NotFound

router = APIRouter(tags=["browser"])

STATIC = Path(__file__).parent / "static"
MODULE = STATIC / "feedback.js"
# Only these names are served: never a path taken from the request. feedback.js imports the
# other two by relative URL, so they are served beside it, the same way.
MODULES = frozenset({"feedback.js", "feedback-delivery.js", "feedback-thumbs-template.js"})
MEDIA_TYPE = "text/javascript; charset=utf-8"
# The URL carries no version, so caches keep the file a few minutes only and then ask again
# with its ETag: an unchanged file costs a 304 without a body.
CACHE_CONTROL = "public, max-age=300"


@dataclass(frozen=True)
class Asset:
    body: bytes
    etag: str


@cache
def module(name: str) -> Asset:
    """The file as this installation ships it (it changes only with an upgrade)."""
    body = (STATIC / name).read_bytes()
    return Asset(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison, as If-None-Match asks for."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.api_route(
    "/static/{name}",
    methods=["GET", "HEAD"],
    include_in_schema=False,
    response_class=Response,
)
async def static_module(
    name: str,
    if_none_match: Annotated[str | None, Header(max_length=2048)] = None,
) -> Response:
    if name not in MODULES:
        raise NotFound(f"no static file named {name!r}")
    asset = module(name)
    headers = {
        "ETag": asset.etag,
        "Cache-Control": CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match is not None and matches(if_none_match, asset.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(asset.body, media_type=MEDIA_TYPE, headers=headers)
