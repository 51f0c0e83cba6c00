"""The offline text files' times made by PostgreSQL (`utc_text`) are the text `str()` gives
the `datetime` asyncpg reads from the same value, whatever the session's time zone and date
style."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime, column, func, select, text, values
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.exports.repository import utc_text

INSTANTS = [
    datetime(2026, 12, 6, 3, 4, 5, 123456, tzinfo=UTC),
    datetime(2026, 12, 6, 3, 4, 5, tzinfo=UTC),  # a whole second: no fraction
    datetime(2026, 12, 6, 3, 4, 5, 500000, tzinfo=UTC),  # trailing zeros kept: .500000
    datetime(2026, 12, 6, 3, 4, 5, 1, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 0, 7, tzinfo=UTC),
    # datetime.max is how asyncpg writes and reads 'infinity', which no window holds (it is
    # never before `until`); the last instant before it:
    datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=UTC),
]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"TimeZone": "Asia/Kolkata", "DateStyle": "SQL, DMY"},
        {"TimeZone": "America/St_Johns", "DateStyle": "German"},
    ],
)
async def test_times_as_text_are_str_of_the_datetimes(
    session: AsyncSession, settings: dict[str, str]
) -> None:
    for name, value in settings.items():
        await session.execute(select(func.set_config(name, value, True)))
    moments = values(column("at", DateTime(timezone=True)), name="moments").data(
        [(moment,) for moment in INSTANTS]
    )
    rows = (
        await session.execute(select(moments.c.at, utc_text(moments.c.at)).order_by(text("1")))
    ).all()
    assert len(rows) == len(INSTANTS)
    for read, as_text in rows:
        assert as_text == str(read)
    assert (await session.execute(select(utc_text(func.cast(None, DateTime))))).scalar() is None
