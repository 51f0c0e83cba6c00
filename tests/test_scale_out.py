"""The API is stateless: replicas on one database, a replica for reads."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange


async def test_two_instances_on_one_database_count_exactly(
    make_client: Any, engine: AsyncEngine
) -> None:
    async with make_client() as first, make_client() as second:
        await first.post("/v1/interactions", json=exchange(request_id="shared"))

        async def vote(client: Any, i: int) -> int:
            r = await client.post(
                "/v1/feedback",
                json={"request_id": "shared", "is_helpful": i % 2 == 0, "user_id": f"u{i % 40}"},
            )
            return int(r.status_code)

        statuses = await asyncio.gather(
            *(vote(first if i % 2 else second, i) for i in range(200)),
            *(first.post("/v1/feedback", json=exchange(rating=1)) for _ in range(50)),
        )
    codes = [s if isinstance(s, int) else s.status_code for s in statuses]
    assert all(code in (200, 201) for code in codes)
    assert codes[:200].count(201) == 40  # one new vote per distinct user, the rest replaced
    assert await count(engine, "feedback") == 40 + 50
    assert await count(engine, "interactions") == 1 + 50
