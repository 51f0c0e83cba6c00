from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.exceptions import InvalidInput
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


def refuse_on_batch(headers: Mapping[str, str]) -> None:
    """InvalidInput when a batch comes with an Idempotency-Key: its answer is not kept under
    a key (a batch's items are retried by their own request_ids), so a retry with the key
    would silently write what has no request_id a second time."""
    if "idempotency-key" in headers:
        raise InvalidInput(
            "Idempotency-Key is read on single writes only: a batch is safe to send again "
            "when each item has a request_id (an exchange's is its key; a vote's is its "
            "request_id and user_id). Leave the header out and give every item a request_id"
        )


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
