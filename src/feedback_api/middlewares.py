"""Plain ASGI middlewares: request id, access log, metrics and the body size limit; the
answer to an error nothing else answered."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feedback_api.exception_handlers import unexpected_error_response
from feedback_api.exceptions import error_body
from feedback_api.observability import (
    LATENCY,
    POOL_CHECKED_OUT,
    REQUESTS,
    SAFE_REQUEST_ID,
    AccessLog,
    request_id,
)

logger = logging.getLogger(__name__)


class RequestContext:
    """Request id in and out (X-Request-ID), one access log line, request metrics, and the
    body size limit (413 for bodies over `max_body_bytes`, announced or streamed).

    One layer for these, not one each: every layer wraps `send` (and maybe `receive`) in a
    closure of its own, and each request pays for every wrapper it passes through.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: AccessLog | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.max_body_bytes = max_body_bytes
        # The metrics' children per (method, route, status): a few dozen at most, and a
        # dict lookup instead of prometheus-client's label validation on every request.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._pool_sampled = -1.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        # Not a secret, so Python's generator: os.urandom is a system call per request.
        rid = given if given and SAFE_REQUEST_ID.match(given) else f"{random.getrandbits(128):032x}"
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0  # no answer started yet (500 in the log and metrics if none ever is)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            limit = self.max_body_bytes
            if limit is None:
                await self.app(scope, receive, send_with_id)
            else:
                length = headers.get(b"content-length")
                await _limited(
                    self.app, scope, receive, send_with_id, limit, lambda: status, length
                )
        finally:
            status = status or 500
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or _plain_route(scope)
            method = scope["method"]
            children = self._children.get((method, route, status))
            if children is None:
                children = (
                    REQUESTS.labels(method, route, str(status)),
                    LATENCY.labels(method, route),
                )
                self._children[(method, route, status)] = children
            children[0].inc()
            children[1].observe(elapsed)
            # A sample, as a scrape reads it: at most ten a second are as good as one each
            # request, and cost nothing under load.
            if started >= self._pool_sampled + 0.1:
                self._pool_sampled = started
                _sample_pool(scope["state"])
            if self.access_log is not None:
                self.access_log.write(method, route, status, elapsed, rid)
            request_id.reset(token)


def _plain_route(scope: Scope) -> str:
    """The route of an answer no API route gave: the path itself when a plain route of
    the framework's own answered (/openapi.json, /docs: fixed paths, so a few labels),
    "unmatched" when none did (a 404: any path at all)."""
    return str(scope["path"]) if "endpoint" in scope else "unmatched"


def _sample_pool(state: dict[str, Any]) -> None:
    engines = {
        id(e): e
        for e in (state.get("engine"), state.get("read_engine"), state.get("statement_engine"))
        if e is not None
    }
    POOL_CHECKED_OUT.set(sum(engine.pool.checkedout() for engine in engines.values()))


class UnhandledErrors:
    """An error no handler answered: logged with its traceback, and a JSON 500.

    Innermost of our layers, so that answer passes through the others: it carries the
    request id and the CORS headers like every other answer (Starlette's own last-resort
    handler sends from outside every middleware).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:  # too late for an answer of ours: the server ends the connection
                raise
            logger.exception("unhandled error")
            await unexpected_error_response()(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, too_large_message(max_bytes))


def too_large_message(max_bytes: int) -> str:
    # Every route has this limit, the batch routes too: splitting a vote does not help.
    return (
        f"the request body is larger than this server's limit of {max_bytes} bytes "
        "(FEEDBACK_MAX_BODY_BYTES), which applies to every route, batches too: send fewer "
        "items per batch or shorter texts, or have the server's operator raise the limit"
    )


async def _limited(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    max_bytes: int,
    status: Callable[[], int],
    content_length: bytes | None,
) -> None:
    """`app` with a 413 for bodies over `max_bytes`: announced by `content_length` (the
    request's Content-Length; the servers refuse a request that repeats it), refused before
    the app runs; else (a chunked body) counted as it is received. `status()`: the status
    the answer started with, 0 before it started."""
    announced = False
    if content_length is not None:
        try:
            length = int(content_length)
        except ValueError:
            pass
        else:
            if length > max_bytes:
                await _refuse(send, max_bytes)
                return
            announced = True
    if announced:
        # The server reads no more than a Content-Length announces: nothing to count.
        await app(scope, receive, send)
        return
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLarge(max_bytes)
        return message

    try:
        await app(scope, limited_receive, send)
    except BodyTooLarge:
        if not status():
            await _refuse(send, max_bytes)


async def _refuse(send: Send, max_bytes: int) -> None:
    body = json.dumps(error_body("payload_too_large", too_large_message(max_bytes))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
