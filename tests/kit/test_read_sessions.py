"""Read sessions: autocommit on the read engine, and a type that cannot write."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from mypy import api as mypy_api
from sqlalchemy import func, literal, select, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.kit.db import (
    AsyncReadSession,
    first_row_within,
    get_read_session,
    get_stream_session,
)


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


@pytest.mark.slow  # runs mypy on a file: tens of seconds
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


async def _limit(session: AsyncSession) -> str:
    return str(await session.scalar(select(func.current_setting("statement_timeout"))))


async def test_a_row_within_a_time_limit_or_none(session: AsyncSession) -> None:
    # The export's own limit, set for its transaction; each first line has a shorter one.
    await session.execute(select(func.set_config("statement_timeout", "45s", true())))
    found = await first_row_within(session, select(literal(7), func.pg_sleep(0.01)), 1000)
    assert found is not None and found[0] == 7
    assert await _limit(session) == "45s"
    # Cancelled at its limit: None, the transaction still usable, its own limit back.
    started = time.monotonic()
    late = await first_row_within(session, select(literal(8), func.pg_sleep(5)), 100)
    assert late is None and time.monotonic() - started < 3
    assert await _limit(session) == "45s"
    assert await session.scalar(select(literal(9))) == 9
    # The same through a read session.
    read = AsyncReadSession(session)
    assert await first_row_within(read, select(literal(10), func.pg_sleep(5)), 100) is None
    assert (await first_row_within(read, select(literal(11)), 1000) or [None])[0] == 11


async def test_other_errors_are_not_taken_for_a_time_limit(session: AsyncSession) -> None:
    with pytest.raises(DBAPIError) as raised:
        await first_row_within(session, select(literal(1) / literal(0)), 1000)
    assert getattr(raised.value.orig, "sqlstate", None) == "22012"  # division by zero
