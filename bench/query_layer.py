"""Instructions of the query-parameter layer alone, for callgrind.

    valgrind --tool=callgrind python bench/query_layer.py with|without REQUESTS

REQUESTS requests without a query string (as votes come) through an inner app that suspends
as a vote does (a body read, five waits, two sends), with the layer or without it; the
difference of two request counts, divided, is the layer's cost per request.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from fastapi import FastAPI

from feedback_api.kit.query_parameters import UnknownQueryParameters

N = int(sys.argv[2])


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    for _ in range(5):
        await asyncio.sleep(0)
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def main() -> None:
    app: Any = UnknownQueryParameters(inner, api=FastAPI()) if sys.argv[1] == "with" else inner
    scope = {"type": "http", "method": "POST", "path": "/v1/feedback", "query_string": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        pass

    for _ in range(N):
        await app(dict(scope), receive, send)


if __name__ == "__main__":
    asyncio.run(main())
