"""Work a route awaits before its response starts, given up if the client leaves first.

Once a streamed response has started, Starlette stops it when the client disconnects. Before
that, while a route awaits (an export fetching its first lines, which can take seconds at a
million votes), nothing reads the connection: a client that gave up would leave its query
running until the statement limit of exports (an hour by default). `unless_disconnected`
awaits the work and the connection side by side, and cancels the work (asyncpg then cancels
its statement in PostgreSQL) when the client goes first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from feedback_api.exceptions import ClientClosedRequest

T = TypeVar("T")


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (the request's body is read by then: the server
    answers `receive` only with the disconnect, or with nothing until the response ends)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """The result of `work`; ClientClosedRequest (its work cancelled) if the client
    disconnects first."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (gone, task):
            pending.cancel()
    if not task.cancelled() and task.done():
        return task.result()
    with contextlib.suppress(asyncio.CancelledError):
        await task  # its cancellation has reached the database before the error is raised
    raise ClientClosedRequest("the client closed the connection before the response started")
