"""ISO weeks as the reports and exports name them."""

from __future__ import annotations

import pytest

from feedback_api.kit.time import parse_week


@pytest.mark.parametrize("raw", ["2026-W47", "2026W47", "0999-W02", "0001-W02"])
def test_a_week_reads_back_as_iso_8601_writes_it(raw: str) -> None:
    # Four digits of year, two of week, whatever the year (the year 1 read "1-W02").
    written = str(parse_week(raw))
    assert written == (raw if "-" in raw else "2026-W47")
    assert str(parse_week(written)) == written
