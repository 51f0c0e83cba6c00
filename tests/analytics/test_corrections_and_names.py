"""`corrections` (votes that carry a correction) in /v1/feedback/stats and /v1/metrics/daily,
and the unique counts named for whose they are, with their old name kept as a deprecated
alias."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests.conftest import kept_rows

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)


@dataclass(frozen=True)
class Vote:
    name: str
    answered: int  # days ago
    cast: int | None  # days ago; None: cast now
    correction: str | None

    def carries_correction(self) -> bool:
        return self.correction is not None and self.correction.strip() != ""

    def answer_day(self) -> date:
        return (NOW - timedelta(days=self.answered)).date()

    def cast_days_ago(self) -> int:
        return 0 if self.cast is None else self.cast


VOTES = [
    Vote("v1", 2, 2, "use a list"),
    Vote("v2", 2, 2, "   "),  # only whitespace: no correction
    Vote("v3", 20, None, "the right answer"),  # an old answer, voted on now
    Vote("v4", 20, 20, "x"),
    Vote("v5", 60, 60, "y"),
    Vote("v6", 1, 1, None),
]


def ago(days: int) -> str:
    return (NOW - timedelta(days=days)).isoformat()


@pytest.fixture
async def voted(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> None:
    await kept_rows(request, lambda: _vote(client))


# The tests that only read the votes: written and refreshed once for all of them.
READS_VOTED = pytest.mark.reads_kept("votes with corrections")


async def _vote(client: httpx.AsyncClient) -> None:
    for n, v in enumerate(VOTES):
        exchange = {
            "request_id": v.name, "query": "q", "response": "a", "model": "m",
            "created_at": ago(v.answered), "user_id": f"asker{n % 2}",
        }  # fmt: skip
        assert (await client.post("/v1/interactions", json=exchange)).status_code == 201
        body = {"request_id": v.name, "is_helpful": False, "user_id": f"voter{n}"}
        if v.cast is not None:
            body["created_at"] = ago(v.cast)
        if v.correction is not None:
            body["correction"] = v.correction
        r = await client.post("/v1/feedback", json=body)
        assert r.status_code == 201, r.text
    assert (await client.post("/v1/admin/refresh")).status_code == 200


def corrections_cast_within(days: float) -> int:
    return sum(v.carries_correction() for v in VOTES if v.cast_days_ago() < days)


@READS_VOTED
@pytest.mark.usefixtures("voted")
@pytest.mark.parametrize("days", [7, 30, 90, 14])  # kept windows, and one computed when asked
async def test_stats_count_corrections_by_cast_time(client: httpx.AsyncClient, days: int) -> None:
    stats = (await client.get("/v1/feedback/stats", params={"days": days})).json()
    assert stats["corrections"] == corrections_cast_within(days)
    voters = sum(v.cast_days_ago() < days for v in VOTES)  # a voter each
    assert stats["unique_voters"] == voters
    assert stats["unique_users"] == stats["unique_voters"]  # the deprecated alias


@READS_VOTED
@pytest.mark.usefixtures("voted")
async def test_daily_counts_corrections_on_the_answers_day(client: httpx.AsyncClient) -> None:
    since, until = (NOW - timedelta(days=70)).date(), NOW.date()
    params = {"since": since.isoformat(), "until": until.isoformat()}
    items = (await client.get("/v1/metrics/daily", params=params)).json()["items"]
    expected: dict[str, int] = {}
    askers: dict[str, set[int]] = {}
    for n, v in enumerate(VOTES):
        day = v.answer_day().isoformat()
        expected[day] = expected.get(day, 0) + v.carries_correction()
        askers.setdefault(day, set()).add(n % 2)
    assert {i["date"]: i["corrections"] for i in items if i["total_queries"]} == expected
    assert sum(i["corrections"] for i in items) == sum(v.carries_correction() for v in VOTES)
    for item in items:
        assert item["unique_askers"] == len(askers.get(item["date"], ()))
        assert item["unique_users"] == item["unique_askers"]  # the deprecated alias


async def test_the_old_names_are_deprecated_in_the_schema(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for schema, new in (("FeedbackStats", "unique_voters"), ("DailyItem", "unique_askers")):
        old = schemas[schema]["properties"]["unique_users"]
        assert old["deprecated"] is True and new in old["description"]
        assert "deprecated" not in schemas[schema]["properties"][new]
