from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.idempotency.repository import Idempotency

JSON = "application/json"


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retry with the same key: the first answer returns, nothing is written twice.",
    ),
]


async def run_once(
    session: AsyncSession,
    principal: str,
    key: str | None,
    request: str,
    produce: Callable[[], Awaitable[tuple[int, BaseModel]]],
) -> Response:
    """Answer `produce()`'s (status, body), or the stored answer to an earlier use of `key`."""
    if key is None:
        status, body = await produce()
        return Response(body.model_dump_json(), status_code=status, media_type=JSON)
    once = Idempotency(session, principal, key, request)
    replayed = await once.replay()
    if replayed is not None:
        status, content = replayed
        return JSONResponse(content, status_code=status, headers={"Idempotent-Replayed": "true"})
    status, body = await produce()
    await once.remember(status, body.model_dump(mode="json"))
    return Response(body.model_dump_json(), status_code=status, media_type=JSON)
