"""Analytics against ground truth computed in Python from a known data set."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from feedback_api.analytics.refresher import JOB_NAME, refresh_now
from feedback_api.analytics.stats import two_proportion_test, wilson_interval
from feedback_api.config import Settings
from feedback_api.kit.jobs import run_as_leader, take_lock
from tests.conftest import kept_rows

MODELS = ["qwen-7b", "llama-8b", "mistral-7b"]
INTENTS = ["code", "reasoning", "general", None]
PROJECTS = ["alpha", "beta", None]
QUERIES = [f"question {i}" for i in range(12)]


@dataclass
class Vote:
    model: str
    intent: str | None
    project: str | None
    helpful: bool
    stars: int | None
    user: str
    session: str | None
    memory: float | None
    latency: int | None
    at: datetime


@dataclass
class Exchange:
    request_id: str
    model: str
    intent: str | None
    project: str | None
    query: str
    user: str
    session: str | None
    latency: int | None
    at: datetime
    votes: list[Vote]


def build_dataset(now: datetime, seed: int = 7) -> list[Exchange]:
    rng = random.Random(seed)
    quality = {"qwen-7b": 0.8, "llama-8b": 0.6, "mistral-7b": 0.4}
    exchanges = []
    for n in range(360):
        model = rng.choice(MODELS)
        # Hours off the day boundary, so windows ending "now" never split an item.
        at = now - timedelta(days=rng.randint(0, 95), hours=3, minutes=rng.randint(0, 600))
        ex = Exchange(
            request_id=f"r{n}",
            model=model,
            intent=rng.choice(INTENTS),
            project=rng.choice(PROJECTS),
            query=rng.choice(QUERIES),
            user=f"u{rng.randint(0, 14)}",
            session=rng.choice([f"s{rng.randint(0, 30)}", None]),
            latency=rng.choice([rng.randint(50, 3000), None]) if n % 5 else rng.randint(50, 3000),
            at=at,
            votes=[],
        )
        memory = rng.choice([None, round(rng.uniform(1, 50), 2)])
        for voter in rng.sample(range(15), k=rng.choice([0, 1, 1, 2])):
            ex.votes.append(
                Vote(
                    model,
                    ex.intent,
                    ex.project,
                    rng.random() < quality[model],
                    rng.choice([None, 1, 2, 3, 4, 5]),
                    f"v{voter}",
                    ex.session,
                    memory,
                    ex.latency,
                    at + timedelta(minutes=rng.randint(1, 60)),
                )
            )
        exchanges.append(ex)
    return exchanges


async def load(client: httpx.AsyncClient, exchanges: list[Exchange]) -> None:
    interactions = []
    votes = []
    for ex in exchanges:
        body: dict[str, Any] = {
            "request_id": ex.request_id,
            "query": ex.query,
            "response": "answer",
            "model": ex.model,
            "user_id": ex.user,
            "created_at": ex.at.isoformat(),
        }
        optional = {
            "intent": ex.intent,
            "project": ex.project,
            "session_id": ex.session,
            "response_time_ms": ex.latency,
            "memory_used": ex.votes[0].memory if ex.votes else None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        interactions.append(body)
        for v in ex.votes:
            vote: dict[str, Any] = {
                "request_id": ex.request_id,
                "is_helpful": v.helpful,
                "user_id": v.user,
                "created_at": v.at.isoformat(),
            }
            if v.stars is not None:
                vote["stars"] = v.stars
            votes.append(vote)
    # One batch request: the same rows as one POST each, in a fraction of a test's time.
    logged = await client.post("/v1/interactions/batch", json={"items": interactions})
    assert logged.json()["created"] == len(interactions), logged.text
    for i in range(0, len(votes), 500):
        r = await client.post("/v1/feedback/batch", json={"items": votes[i : i + 500]})
        assert r.json()["failed"] == 0, r.text


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, client: httpx.AsyncClient
) -> tuple[list[Exchange], dict[str, Any]]:
    async def write() -> tuple[list[Exchange], dict[str, Any]]:
        exchanges = build_dataset(datetime.now(UTC))
        await load(client, exchanges)
        refreshed = await client.post("/v1/admin/refresh")
        assert refreshed.status_code == 200, refreshed.text
        return exchanges, refreshed.json()

    # Loaded and refreshed once for the tests that only read it (READS_WORLD).
    return await kept_rows(request, write)


# The tests that only read the world: none writes, and none refreshes (its as_of stays).
READS_WORLD = pytest.mark.reads_kept("analytics world")


def all_votes(exchanges: list[Exchange]) -> list[Vote]:
    return [v for ex in exchanges for v in ex.votes]


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_wilson_interval_matches_the_published_example() -> None:
    low, high = wilson_interval(8, 10)  # type: ignore[misc]
    assert round(low, 4) == 0.4902 and round(high, 4) == 0.9433
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 5)  # type: ignore[misc]
    assert low == 0.0 and 0 < high < 0.6


def test_two_proportion_test_by_hand() -> None:
    # 45/100 against 30/100: pooled p = 0.375, se = sqrt(.375 * .625 * .02), z = 2.1909
    test = two_proportion_test(45, 100, 30, 100)
    assert round(test.z, 4) == 2.1909
    assert round(test.p_value, 4) == 0.0285
    assert two_proportion_test(5, 5, 3, 3).p_value == 1.0  # unanimous on both sides
    with pytest.raises(ValueError):
        two_proportion_test(1, 0, 1, 2)


@READS_WORLD
async def test_accuracy_at_every_grouping(
    client: httpx.AsyncClient, world: tuple[list[Exchange], dict[str, Any]]
) -> None:
    exchanges, refreshed = world
    votes = all_votes(exchanges)
    for dims in (["model", "intent", "project"], ["model"], ["model", "intent"], ["intent"], []):
        truth: dict[tuple[Any, ...], list[Vote]] = defaultdict(list)
        for v in votes:
            truth[tuple(getattr(v, d) for d in dims)].append(v)
        r = await client.get("/v1/feedback/accuracy", params={"group_by": ",".join(dims)})
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["as_of"] == refreshed["as_of"]
        assert len(data["items"]) == len(truth)
        for item in data["items"]:
            assert set(dims) <= set(item) and not (
                {"model", "intent", "project"} - set(dims)
            ) & set(item)
            group = truth[tuple(item[d] for d in dims)]
            positive = sum(v.helpful for v in group)
            assert (item["total"], item["positive"]) == (len(group), positive)
            assert item["negative"] == len(group) - positive
            assert close(item["accuracy"], positive / len(group))
            low, high = wilson_interval(positive, len(group))  # type: ignore[misc]
            assert close(item["accuracy_ci_low"], low) and close(item["accuracy_ci_high"], high)
            stars = [v.stars for v in group if v.stars is not None]
            assert close(item["avg_stars"], sum(stars) / len(stars) if stars else None)


@READS_WORLD
async def test_accuracy_filters_and_min_total(
    client: httpx.AsyncClient, world: tuple[list[Exchange], dict[str, Any]]
) -> None:
    exchanges, _ = world
    votes = [v for v in all_votes(exchanges) if v.model == "qwen-7b" and v.intent == "code"]
    r = await client.get(
        "/v1/feedback/accuracy",
        params={"model": "qwen-7b", "intent": "code", "group_by": "project", "min_total": 5},
    )
    per_project = Counter(v.project for v in votes)
    expected = {p for p, n in per_project.items() if n >= 5}
    assert {item["project"] for item in r.json()["items"]} == expected
    assert all(item["total"] >= 5 for item in r.json()["items"])


@pytest.mark.parametrize(
    "params",
    [{"group_by": "model,colour"}, {"min_total": -1}, {"model": "x" * 201}],
)
async def test_accuracy_bad_parameters(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    r = await client.get("/v1/feedback/accuracy", params=params)
    assert r.status_code == 422
    assert r.json()["detail"]


@READS_WORLD
@pytest.mark.parametrize("days", [7, 30, 90, 45])
async def test_stats_over_windows(
    client: httpx.AsyncClient, world: tuple[list[Exchange], dict[str, Any]], days: int
) -> None:
    exchanges, _ = world
    for where in ({}, {"model": "llama-8b"}, {"model": "qwen-7b", "project": "alpha"}):
        r = await client.get("/v1/feedback/stats", params={"days": days, **where})
        assert r.status_code == 200, r.text
        data = r.json()
        until = datetime.fromisoformat(data["window"]["until"])
        since = datetime.fromisoformat(data["window"]["since"])
        assert until - since == timedelta(days=days)
        votes = [
            v
            for v in all_votes(exchanges)
            if since <= v.at < until and all(getattr(v, k) == val for k, val in where.items())
        ]
        positive = sum(v.helpful for v in votes)
        assert data["total_feedback"] == len(votes)
        assert (data["positive"], data["negative"]) == (positive, len(votes) - positive)
        assert close(data["positive_pct"], 100 * positive / len(votes) if votes else None)
        assert data["unique_users"] == len({v.user for v in votes})
        assert data["unique_sessions"] == len({v.session for v in votes if v.session})
        memory = [v.memory for v in votes if v.memory is not None]
        assert close(data["avg_memory_used"], sum(memory) / len(memory) if memory else None)
        latency = [v.latency for v in votes if v.latency is not None]
        assert close(data["avg_response_time_ms"], sum(latency) / len(latency) if latency else None)


async def test_stats_window_edges_are_since_inclusive_until_exclusive(
    client: httpx.AsyncClient,
) -> None:
    t0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
    for n, at in enumerate([t0 - timedelta(microseconds=1), t0, t0 + timedelta(hours=1)]):
        body = {
            "query": "q",
            "response": "a",
            "model": "m",
            "rating": 1,
            "user_id": f"u{n}",
            "created_at": at.isoformat(),
        }
        assert (await client.post("/v1/feedback", json=body)).status_code == 201
    params = {"since": t0.isoformat(), "until": (t0 + timedelta(hours=1)).isoformat()}
    data = (await client.get("/v1/feedback/stats", params=params)).json()
    assert data["total_feedback"] == 1 and data["unique_users"] == 1
    assert data["window"]["days"] == pytest.approx(1 / 24)
    # The same window named in another zone: the same figures, its times in UTC.
    zoned = {k: datetime.fromisoformat(v).astimezone(timezone(timedelta(hours=14))).isoformat()
             for k, v in params.items()}  # fmt: skip
    again = (await client.get("/v1/feedback/stats", params=zoned)).json()
    assert again["total_feedback"] == 1
    assert again["as_of"] == again["window"]["until"] == data["window"]["until"]
    assert again["window"]["since"] == data["window"]["since"]
    assert again["as_of"].endswith("Z") or again["as_of"].endswith("+00:00")


@pytest.mark.parametrize(
    "params",
    [
        {"days": 0},
        {"days": 7, "since": "2026-01-01T00:00:00Z"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "last week"},
    ],
)
async def test_stats_bad_parameters(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    r = await client.get("/v1/feedback/stats", params=params)
    assert r.status_code == 422, r.text


def percentile_cont(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@READS_WORLD
async def test_daily_metrics_series(
    client: httpx.AsyncClient, world: tuple[list[Exchange], dict[str, Any]]
) -> None:
    exchanges, _ = world
    today = datetime.now(UTC).date()
    since = today - timedelta(days=99)
    for where in ({}, {"model": "mistral-7b"}, {"intent": "code", "project": "beta"}):
        r = await client.get(
            "/v1/metrics/daily",
            params={"since": since.isoformat(), "until": today.isoformat(), **where},
        )
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert len(items) == 100  # every day, zeros included
        by_day: dict[date, list[Exchange]] = defaultdict(list)
        for ex in exchanges:
            if all(getattr(ex, k) == v for k, v in where.items()):
                by_day[ex.at.astimezone(UTC).date()].append(ex)
        for item in items:
            day_exchanges = by_day.get(date.fromisoformat(item["date"]), [])
            votes = [v for ex in day_exchanges for v in ex.votes]
            positive = sum(v.helpful for v in votes)
            latency = [ex.latency for ex in day_exchanges if ex.latency is not None]
            assert item["total_queries"] == len(day_exchanges)
            assert item["feedback_count"] == len(votes)
            assert (item["positive"], item["negative"]) == (positive, len(votes) - positive)
            voted = sum(1 for ex in day_exchanges if ex.votes)
            assert close(
                item["feedback_rate"], voted / len(day_exchanges) if day_exchanges else None
            )
            assert close(item["positive_ratio"], positive / len(votes) if votes else None)
            assert close(
                item["avg_response_time_ms"], sum(latency) / len(latency) if latency else None
            )
            assert close(item["p95_response_time_ms"], percentile_cont(latency, 0.95))
            assert item["unique_users"] == len({ex.user for ex in day_exchanges})


async def test_daily_bad_range(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/metrics/daily", params={"since": "2026-02-01", "until": "2026-01-01"})
    assert r.status_code == 422
    r = await client.get("/v1/metrics/daily", params={"since": "2000-01-01", "until": "2026-01-01"})
    assert r.status_code == 422


@READS_WORLD
@pytest.mark.parametrize("days", [30, 90, 3])
async def test_top_queries(
    client: httpx.AsyncClient, world: tuple[list[Exchange], dict[str, Any]], days: int
) -> None:
    exchanges, refreshed = world
    as_of = datetime.fromisoformat(refreshed["as_of"])
    r = await client.get("/v1/metrics/top-queries", params={"days": days, "limit": 5})
    data = r.json()
    end = as_of if days in (7, 30, 90) else datetime.fromisoformat(data["as_of"])
    counts = Counter(ex.query for ex in exchanges if ex.at >= end - timedelta(days=days))
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [(i["query"], i["count"]) for i in data["items"]] == expected


@READS_WORLD
async def test_compare_two_models(
    client: httpx.AsyncClient, world: tuple[list[Exchange], dict[str, Any]]
) -> None:
    exchanges, _ = world
    votes = all_votes(exchanges)
    r = await client.get(
        "/v1/metrics/compare", params={"model_a": "qwen-7b", "model_b": "mistral-7b"}
    )
    assert r.status_code == 200, r.text
    data = r.json()
    a = [v for v in votes if v.model == "qwen-7b"]
    b = [v for v in votes if v.model == "mistral-7b"]
    pa, pb = sum(v.helpful for v in a), sum(v.helpful for v in b)
    assert (data["model_a"]["total"], data["model_a"]["positive"]) == (len(a), pa)
    assert (data["model_b"]["total"], data["model_b"]["positive"]) == (len(b), pb)
    test = two_proportion_test(pa, len(a), pb, len(b))
    assert close(data["difference"], pa / len(a) - pb / len(b))
    assert data["difference_ci_low"] < data["difference"] < data["difference_ci_high"]
    assert close(data["p_value"], test.p_value)
    assert data["significant"] is (test.p_value < 0.05)
    assert data["significant"] is True  # 0.8 against 0.4 on ~100 votes each


@READS_WORLD
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"model_a": "qwen-7b", "model_b": "qwen-7b"}, 422),
        ({"model_a": "qwen-7b", "model_b": "gpt-99"}, 404),
        ({"model_a": "qwen-7b"}, 422),
    ],
)
async def test_compare_bad_requests(
    client: httpx.AsyncClient,
    world: tuple[list[Exchange], dict[str, Any]],
    params: dict[str, Any],
    status: int,
) -> None:
    r = await client.get("/v1/metrics/compare", params=params)
    assert r.status_code == status, r.text


async def test_empty_database_answers_cleanly(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/admin/refresh")).status_code == 200
    assert (await client.get("/v1/feedback/accuracy")).json()["items"] == []
    stats = (await client.get("/v1/feedback/stats", params={"days": 30})).json()
    assert stats["total_feedback"] == 0 and stats["positive_pct"] is None
    daily = (await client.get("/v1/metrics/daily")).json()
    assert len(daily["items"]) == 30 and all(i["total_queries"] == 0 for i in daily["items"])
    assert (await client.get("/v1/metrics/top-queries")).json()["items"] == []


async def test_erased_votes_leave_the_aggregates_at_the_next_refresh(
    client: httpx.AsyncClient,
) -> None:
    created = (
        await client.post(
            "/v1/feedback", json={"query": "q", "response": "a", "model": "m", "rating": 1}
        )
    ).json()
    await client.post("/v1/admin/refresh")
    assert (await client.get("/v1/feedback/accuracy")).json()["items"][0]["total"] == 1
    await client.delete(f"/v1/feedback/{created['id']}")
    assert (await client.get("/v1/feedback/accuracy")).json()["items"][0]["total"] == 1
    await client.post("/v1/admin/refresh")
    assert (await client.get("/v1/feedback/accuracy")).json()["items"] == []


async def test_concurrent_refreshes_leave_one_consistent_view(
    client: httpx.AsyncClient,
    world: tuple[list[Exchange], dict[str, Any]],
    engine: AsyncEngine,
    settings: Settings,
) -> None:
    before = (await client.get("/v1/feedback/accuracy")).json()["items"]
    daily_before = (await client.get("/v1/metrics/daily", params={"since": "2026-01-01"})).json()
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

    async def refresh(full: bool) -> None:
        async with sessionmaker() as session, session.begin():
            await refresh_now(session, settings, full=full)

    async def tick() -> None:
        await run_as_leader(sessionmaker, JOB_NAME, lambda s: refresh_now(s, settings, full=False))

    await asyncio.gather(*(refresh(i % 2 == 0) for i in range(4)), *(tick() for _ in range(4)))
    assert (await client.get("/v1/feedback/accuracy")).json()["items"] == before
    daily_after = (await client.get("/v1/metrics/daily", params={"since": "2026-01-01"})).json()
    assert daily_after["items"] == daily_before["items"]


async def test_a_tick_is_skipped_while_another_replica_holds_the_lock(
    engine: AsyncEngine,
) -> None:
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    ran_jobs = []

    async def job(session: AsyncSession) -> str:
        ran_jobs.append(1)
        return "done"

    async with sessionmaker() as holder, holder.begin():
        assert await take_lock(holder, JOB_NAME, wait=False)
        assert await run_as_leader(sessionmaker, JOB_NAME, job) == (False, None)
    assert await run_as_leader(sessionmaker, JOB_NAME, job) == (True, "done")
    assert ran_jobs == [1]


async def test_the_background_refresher_runs_and_survives_a_dead_database(
    make_client: Any,
) -> None:
    async with make_client(refresh_enabled=True, refresh_interval_seconds=0.2) as client:
        await client.post(
            "/v1/feedback", json={"query": "q", "response": "a", "model": "m", "rating": -1}
        )
        for _ in range(50):
            items = (await client.get("/v1/feedback/accuracy")).json()["items"]
            if items:
                break
            await asyncio.sleep(0.1)
        assert items and items[0]["negative"] == 1
    dead = "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"
    async with make_client(
        database_url=dead, refresh_enabled=True, refresh_interval_seconds=0.05
    ) as client:
        await asyncio.sleep(0.3)  # several failing ticks: logged, not fatal
        assert (await client.get("/healthz")).status_code == 200


def test_a_slow_job_is_paused_in_proportion() -> None:
    from feedback_api.kit.jobs import PeriodicJob

    async def tick() -> None:
        pass

    job = PeriodicJob("slow", 0.001, tick, max_duty=0.5)
    # At most half of the time working: a tick of 0.1 s is followed by 0.1 s of rest.
    assert job.pause_after(0.1) == pytest.approx(0.1)
    assert job.pause_after(0.0001) == 0.001  # a quick tick waits the interval
    assert PeriodicJob("fast", 0.2, tick).pause_after(5.0) == 0.2  # no duty limit


async def test_fresh_figures_are_not_refreshed_again(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    from feedback_api.analytics.refresher import refresh_service
    from feedback_api.config import Settings

    await client.post("/v1/admin/refresh")
    async with async_sessionmaker(engine)() as session:
        service = refresh_service(session, Settings(_env_file=None))  # type: ignore[call-arg]
        assert await service.refresh_due(30) is False
        assert await service.refresh_due(0) is True
