"""Read sessions: autocommit on the read engine, and a type that cannot write."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

from mypy import api as mypy_api
from sqlalchemy import func, select

from feedback_api.kit.db import AsyncReadSession, get_read_session, get_stream_session


class _Request:
    """What the session dependencies read of a request: its lifespan state."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = type("State", (), state)


async def _two_clock_readings(session: AsyncReadSession) -> tuple[Any, Any]:
    first = await session.scalar(select(func.now()))
    await asyncio.sleep(0.02)
    return first, await session.scalar(select(func.now()))


async def test_a_read_session_runs_each_statement_on_its_own(make_client: Any) -> None:
    # now() is the time the transaction began: one value for a whole transaction, a new one
    # for each statement in autocommit.
    async with make_client() as client:
        reads = get_read_session(_Request(client.state))  # type: ignore[arg-type]
        read = await anext(reads)
        first, second = await _two_clock_readings(read)
        await reads.aclose()
        streams = get_stream_session(_Request(client.state))  # type: ignore[arg-type]
        stream = await anext(streams)
        in_transaction = await _two_clock_readings(stream)
        await streams.aclose()
    assert first != second
    assert in_transaction[0] == in_transaction[1]


def test_writing_through_a_read_session_is_a_type_error(tmp_path: Path) -> None:
    module = tmp_path / "writes.py"
    module.write_text(
        textwrap.dedent(
            """
            from sqlalchemy import insert, select
            from sqlalchemy.ext.asyncio import AsyncSession

            from feedback_api.feedback.models import Feedback
            from feedback_api.feedback.repository import FeedbackRepository
            from feedback_api.kit.db import AsyncReadSession


            async def reads(session: AsyncReadSession) -> None:
                await session.execute(select(Feedback.id))


            async def writes(session: AsyncReadSession) -> None:
                await session.execute(insert(Feedback).values(is_helpful=True))
                session.add(Feedback())
                FeedbackRepository(session)
            """
        )
    )
    out, _, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(module)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1
    assert [line.split(":")[1] for line in errors] == ["15", "16", "17"], out
