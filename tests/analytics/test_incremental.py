"""The ordinary refresh: every accepted write shows after the next tick, whatever its date,
and what the tick keeps equals what a full rebuild builds from the tables."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from feedback_api.analytics.refresher import JOB_NAME, refresh_now
from feedback_api.analytics.repository import AnalyticsRepository
from feedback_api.analytics.state import Clock, database_clock
from feedback_api.config import Settings
from feedback_api.kit.jobs import run_as_leader

# Every table the refresher keeps, with the columns that say what a row is (ids aside).
ROLLUPS = {
    "daily_metrics": "day, grouping, model, intent, project",
    "window_stats": "days, grouping, model, intent, project",
    "top_queries": "days, rank",
    "vote_hours": "hour, model, intent, project",
    "answer_hours": "hour, model, intent, project",
    "member_last_casts": "kind, member, grouping, model, intent, project",
    # An hour (a window) whose last casts all moved on keeps a zero: the same sums.
    "member_hours": "kind, grouping, model, intent, project, hour",
    "vote_windows": "days, model, intent, project",
    "reason_hours": "hour, model, intent, project, reason",
    "daily_reasons": "day, grouping, model, intent, project, reason",
    "member_windows": "days, kind, grouping, model, intent, project",
    "query_hours": "hour, query_hash",
    "query_windows": "days, query_hash",
    "model_accuracy": "model, intent, project",
    "sampled_answers": "item_id",
}


def at(now: datetime, days: float, rng: random.Random | None = None) -> str:
    """A time `days` ago, 3 to 20 hours and a half off any window's edge: two refreshes a
    few seconds apart cut the same rows."""
    hours = rng.randint(3, 20) if rng else 5
    return (now - timedelta(days=days, hours=hours, minutes=30)).isoformat()


def later(seconds: float) -> Clock:
    """The database's clock, `seconds` ahead: a refresh that far in the future."""

    async def clock(session: AsyncSession) -> datetime:
        return await database_clock(session) + timedelta(seconds=seconds)

    return clock


async def tick(
    engine: AsyncEngine, settings: Settings, *, full: bool = False, clock: Clock = database_clock
) -> dict[str, Any]:
    """One tick of the background refresher (leader-elected; ordinary unless `full`)."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    ran, result = await run_as_leader(
        sessionmaker, JOB_NAME, lambda s: refresh_now(s, settings, full=full, clock=clock)
    )
    assert ran and result is not None and result.full is full
    return result.model_dump()


async def rollups(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    tables = {}
    async with engine.connect() as conn:
        for table, order in ROLLUPS.items():
            counted = table in ("member_hours", "member_windows")
            where = "WHERE count <> 0" if counted else ""
            rows = await conn.execute(text(f"SELECT * FROM {table} {where} ORDER BY {order}"))
            # prev_at: what the latest upsert of a last cast replaced (bookkeeping).
            tables[table] = [
                {k: v for k, v in row._mapping.items() if k not in ("id", "prev_at")}
                for row in rows
            ]
    return tables


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b)


def assert_same_rollups(
    ordinary: dict[str, list[dict[str, Any]]], full: dict[str, list[dict[str, Any]]]
) -> None:
    for table in ROLLUPS:
        assert len(ordinary[table]) == len(full[table]), table
        for mine, theirs in zip(ordinary[table], full[table], strict=True):
            assert mine.keys() == theirs.keys()
            differ = {k: (mine[k], theirs[k]) for k in mine if not same(mine[k], theirs[k])}
            assert not differ, (table, mine, differ)


async def log(client: httpx.AsyncClient, request_id: str, **fields: Any) -> None:
    body = {"request_id": request_id, "query": "q", "response": "a", "model": "m", **fields}
    r = await client.post("/v1/interactions", json=body)
    assert r.status_code == 201, r.text


async def vote(client: httpx.AsyncClient, request_id: str, **fields: Any) -> dict[str, Any]:
    r = await client.post("/v1/feedback", json={"request_id": request_id, **fields})
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def day_of(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).date().isoformat()


async def test_every_write_shows_after_the_next_ordinary_tick(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    now = datetime.now(UTC)
    ten, twenty = at(now, 10), at(now, 20)
    await log(client, "ten", created_at=ten, query="ten days ago", user_id="asker")
    await log(client, "twenty", created_at=twenty, user_id="asker", intent="code")
    old_vote = await vote(client, "twenty", is_helpful=True, user_id="v1", created_at=twenty)
    await vote(client, "ten", is_helpful=True, user_id="v2", created_at=ten)
    await log(client, "gone", created_at=at(now, 3), user_id="eve", query="eve asks")
    await vote(client, "gone", is_helpful=False, user_id="eve")
    await vote(client, "ten", is_helpful=False, user_id="eve", created_at=ten)
    first = (await client.post("/v1/admin/refresh")).json()
    assert first["full"] is True  # the first refresh builds everything

    # After the refresh: history backfilled 40 days back, a vote today on a 10-day-old
    # answer, a 20-day-old vote deleted, a vote replaced, a user erased.
    forty = at(now, 40)
    await log(client, "forty", created_at=forty, query="forty days ago", project="p")
    await vote(client, "forty", is_helpful=False, user_id="v3", created_at=forty)
    await vote(client, "ten", is_helpful=True, user_id="v4")
    assert (await client.delete(f"/v1/feedback/{old_vote['id']}")).status_code == 204
    replaced = await vote(client, "ten", is_helpful=False, user_id="v2")
    assert replaced["created_at"].startswith(ten[:19])  # a replaced vote keeps its cast time
    erased = (await client.delete("/v1/users/eve")).json()
    assert (erased["interactions_deleted"], erased["feedback_deleted"]) == (1, 2)

    result = await tick(engine, settings)
    assert result["as_of"] > datetime.fromisoformat(first["as_of"])

    since = (now - timedelta(days=45)).date().isoformat()
    daily = {
        item["date"]: item
        for item in (await client.get("/v1/metrics/daily", params={"since": since})).json()["items"]
    }
    assert daily[day_of(forty)]["total_queries"] == 1
    assert daily[day_of(forty)]["negative"] == 1
    # The day belongs to the interaction: today's vote counts ten days ago. v2's vote is now
    # negative, v4's positive, eve's is gone.
    assert (daily[day_of(ten)]["positive"], daily[day_of(ten)]["negative"]) == (1, 1)
    assert daily[day_of(twenty)]["feedback_count"] == 0
    assert daily[day_of(twenty)]["total_queries"] == 1
    assert daily[day_of(at(now, 3))]["total_queries"] == 0

    stats = (await client.get("/v1/feedback/stats", params={"days": 30})).json()
    # By cast time: v2 (replaced, cast ten days ago) and v4 (today); v1 deleted, eve erased,
    # v3 cast 40 days ago.
    assert (stats["total_feedback"], stats["positive"], stats["negative"]) == (2, 1, 1)
    assert stats["unique_users"] == 2
    week = (await client.get("/v1/feedback/stats", params={"days": 7})).json()
    assert (week["total_feedback"], week["unique_users"]) == (1, 1)
    ninety = (await client.get("/v1/feedback/stats", params={"days": 90})).json()
    assert (ninety["total_feedback"], ninety["negative"], ninety["unique_users"]) == (3, 2, 3)

    accuracy = (await client.get("/v1/feedback/accuracy", params={"group_by": ""})).json()
    [overall] = accuracy["items"]
    assert (overall["total"], overall["positive"], overall["negative"]) == (3, 1, 2)

    top = (await client.get("/v1/metrics/top-queries", params={"days": 90})).json()
    assert {i["query"]: i["count"] for i in top["items"]} == {
        "q": 1,
        "ten days ago": 1,
        "forty days ago": 1,
    }
    month = (await client.get("/v1/metrics/top-queries", params={"days": 30})).json()
    assert [i["query"] for i in month["items"]] == ["q", "ten days ago"]

    # And what the tick keeps is what a full rebuild builds.
    ordinary = await rollups(engine)
    assert (await client.post("/v1/admin/refresh", params={"full": "true"})).json()["full"]
    assert_same_rollups(ordinary, await rollups(engine))


async def test_a_tick_without_writes_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    now = datetime.now(UTC)
    await log(client, "r", created_at=at(now, 2))
    await vote(client, "r", is_helpful=True, user_id="u", created_at=at(now, 2))
    await client.post("/v1/admin/refresh")
    before = await rollups(engine)
    await tick(engine, settings)
    assert await rollups(engine) == before
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM analytics_changes")) == 0


@pytest.mark.slow  # many random writes, each round rebuilt in full
async def test_an_ordinary_tick_equals_a_full_rebuild_on_random_writes(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    rng = random.Random(13)
    fixes = random.Random(7)  # corrections: their own draws, the rest as it always was
    now = datetime.now(UTC)
    models, intents, projects = ["a", "b", "c"], ["code", "chat", None], ["x", None]
    logged: list[tuple[str, str]] = []  # request_id, created_at
    votes: list[str] = []  # feedback ids

    async def exchanges(count: int, prefix: str, max_days: int) -> None:
        for n in range(count):
            created = at(now, rng.randint(0, max_days), rng)
            fields: dict[str, Any] = {
                "created_at": created,
                "query": f"question {rng.randint(0, 30)}",
                "model": rng.choice(models),
                "user_id": f"asker{rng.randint(0, 9)}",
                "session_id": rng.choice([None, f"s{rng.randint(0, 20)}"]),
                "response_time_ms": rng.randint(10, 5000),
                "memory_used": rng.choice([None, rng.uniform(0, 10)]),
            }
            for name, choices in (("intent", intents), ("project", projects)):
                if (value := rng.choice(choices)) is not None:
                    fields[name] = value
            await log(client, f"{prefix}{n}", **fields)
            logged.append((f"{prefix}{n}", created))

    async def cast(count: int, *, old: bool) -> None:
        for _ in range(count):
            request_id, created = rng.choice(logged)
            fields: dict[str, Any] = {
                "is_helpful": rng.random() < 0.6,
                "user_id": f"voter{rng.randint(0, 25)}",
            }
            if rng.random() < 0.5:
                fields["rating"] = rng.randint(1, 5)
            if fixes.random() < 0.3:
                fields["correction"] = fixes.choice(["the right answer", "  ", ""])
            if old:  # cast an hour after the answer, else now
                fields["created_at"] = (
                    datetime.fromisoformat(created) + timedelta(hours=1)
                ).isoformat()
            votes.append((await vote(client, request_id, **fields))["id"])

    await exchanges(120, "a", 100)
    await cast(200, old=True)
    await client.post("/v1/admin/refresh")

    await exchanges(60, "b", 100)  # backfill, scattered over 100 days
    await cast(80, old=True)
    await cast(60, old=False)  # replaced votes among them (25 voters)
    for feedback_id in rng.sample(sorted(set(votes)), 25):
        if rng.random() < 0.5:
            r = await client.delete(f"/v1/feedback/{feedback_id}")
        else:
            body: dict[str, Any] = {"is_helpful": True}
            if fixes.random() < 0.5:
                body["correction"] = "a correction added later"
            r = await client.put(f"/v1/feedback/{feedback_id}", json=body)
        assert r.status_code in (200, 204, 404), r.text  # 404: erased or deleted already
    for user in ("voter3", "asker4"):
        assert (await client.delete(f"/v1/users/{user}")).status_code == 200
    batch = [
        {"query": f"question {n}", "response": "r", "model": "a", "rating": 1, "user_id": "bulk"}
        for n in range(5)
    ]
    assert (await client.post("/v1/feedback/batch", json={"items": batch})).json()["failed"] == 0

    await tick(engine, settings)
    ordinary = await rollups(engine)
    assert sum(len(rows) for rows in ordinary.values()) > 500
    assert (await client.post("/v1/admin/refresh", params={"full": "true"})).json()["full"]
    assert_same_rollups(ordinary, await rollups(engine))


async def test_segment_votes_by_cast_time(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """The alerts' segments: the votes cast in a kept window (7 days, and 7 + 28), whole
    hours and partial first hour alike, per model, model x intent and model x project."""
    now = datetime.now(UTC)
    cases = [  # (model, intent, project, helpful, days ago)
        ("m1", "code", "p", True, 0.1),
        ("m1", "code", None, False, 6.9),
        ("m1", None, "p", True, 8),  # the baseline only
        ("m2", "chat", "p", False, 1),
        ("m2", "chat", "p", True, 36),  # in neither window
    ]
    for n, (model, intent, project, helpful, days) in enumerate(cases):
        when = (now - timedelta(days=days)).isoformat()
        fields = {"model": model, "created_at": when}
        fields |= {k: v for k, v in (("intent", intent), ("project", project)) if v}
        await log(client, f"r{n}", **fields)
        await vote(client, f"r{n}", is_helpful=helpful, user_id=f"u{n}", created_at=when)
    await client.post("/v1/admin/refresh")
    async with async_sessionmaker(engine)() as session:
        recent = await AnalyticsRepository(session).segment_votes(7)
        both = await AnalyticsRepository(session).segment_votes(35)
    assert [tuple(row) for row in recent] == [
        ("m1", None, None, 1, 1),
        ("m1", None, "p", 1, 0),
        ("m1", "code", None, 1, 1),
        ("m2", None, None, 0, 1),
        ("m2", None, "p", 0, 1),
        ("m2", "chat", None, 0, 1),
    ]
    assert [tuple(row) for row in both] == [
        ("m1", None, None, 2, 1),
        ("m1", None, "p", 2, 0),
        ("m1", "code", None, 1, 1),
        ("m2", None, None, 0, 1),
        ("m2", None, "p", 0, 1),
        ("m2", "chat", None, 0, 1),
    ]


async def test_votes_and_questions_leave_a_window_as_it_slides(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    edge = datetime.now(UTC) - timedelta(days=7) + timedelta(seconds=4)
    await log(client, "edge", created_at=edge.isoformat(), query="about to leave")
    await vote(client, "edge", is_helpful=True, user_id="leaving", created_at=edge.isoformat())
    await client.post("/v1/admin/refresh")
    week = (await client.get("/v1/feedback/stats", params={"days": 7})).json()
    assert (week["total_feedback"], week["unique_users"]) == (1, 1)
    top = (await client.get("/v1/metrics/top-queries", params={"days": 7})).json()
    assert [i["query"] for i in top["items"]] == ["about to leave"]

    # No write since: only the window's start moved, past the edge (a refresh 10 s ahead).
    result = await tick(engine, settings, clock=later(10))
    assert result["as_of"] - timedelta(days=7) > edge
    week = (await client.get("/v1/feedback/stats", params={"days": 7})).json()
    assert (week["total_feedback"], week["unique_users"]) == (0, 0)
    assert (await client.get("/v1/metrics/top-queries", params={"days": 7})).json()["items"] == []
    month = (await client.get("/v1/feedback/stats", params={"days": 30})).json()
    assert month["total_feedback"] == 1
    ordinary = await rollups(engine)
    await tick(engine, settings, full=True, clock=later(10))
    assert_same_rollups(ordinary, await rollups(engine))


async def test_batched_history_and_reasons_show_after_the_next_ordinary_tick(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    """The interactions batch (also what POST /v1/traces stores through) logs its changes,
    and the reasons rollup follows the cast days a tick recomputes."""
    now = datetime.now(UTC)
    await log(client, "seed")
    assert (await client.post("/v1/admin/refresh")).json()["full"] is True

    old = at(now, 25)
    items = [
        {"request_id": f"hist-{n}", "query": "from the batch", "response": "a", "model": "bm",
         "created_at": old}
        for n in range(3)
    ]  # fmt: skip
    r = await client.post("/v1/interactions/batch", json={"items": items})
    assert r.status_code == 200 and r.json()["created"] == 3, r.text
    await vote(client, "hist-0", is_helpful=False, user_id="r1", reasons=["incorrect"])
    await tick(engine, settings)

    since = (now - timedelta(days=30)).date().isoformat()
    days = (await client.get("/v1/metrics/daily", params={"since": since, "model": "bm"})).json()
    by_day = {item["date"]: item for item in days["items"]}
    assert by_day[day_of(old)]["total_queries"] == 3
    assert by_day[day_of(old)]["negative"] == 1
    reasons = (await client.get("/v1/metrics/reasons", params={"model": "bm"})).json()
    assert [(i["reason"], i["down_votes"]) for i in reasons["items"]] == [("incorrect", 1)]
    top = (await client.get("/v1/metrics/top-queries", params={"days": 30})).json()
    assert {"query": "from the batch", "count": 3} in top["items"]
