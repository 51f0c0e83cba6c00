"""`feedback-api demo-data`: realistic, deterministic synthetic traffic through the services."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from feedback_api.cli import demo
from feedback_api.cli.commands import app
from feedback_api.config import Settings
from feedback_api.kit.db import create_sessionmaker
from tests.helpers import count

ANCHOR = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def _dump(exchanges: list[demo.DemoExchange]) -> list[Any]:
    return [
        (e.interaction.model_dump(), e.feedback.model_dump() if e.feedback else None)
        for e in exchanges
    ]


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = list(demo.generate(300, seed=1, anchor=ANCHOR))
    again = list(demo.generate(300, seed=1, anchor=ANCHOR))
    other = list(demo.generate(300, seed=2, anchor=ANCHOR))
    assert _dump(first) == _dump(again)
    assert _dump(first) != _dump(other)


def test_traffic_looks_like_a_product() -> None:
    exchanges = list(demo.generate(4000, seed=3, anchor=ANCHOR))
    interactions = [e.interaction for e in exchanges]
    stamps = [i.created_at for i in interactions if i.created_at]
    assert len(stamps) == 4000
    assert min(stamps) >= ANCHOR - timedelta(days=90) and max(stamps) <= ANCHOR
    assert len({s.date() for s in stamps}) == 90  # every day has traffic
    assert len({i.model for i in interactions}) == len(demo.MODELS)
    assert {i.intent for i in interactions} == set(demo.QUESTIONS)
    assert {i.project for i in interactions} == set(demo.PROJECTS)
    assert len({i.user_id for i in interactions}) > 100
    assert len({i.session_id for i in interactions}) > 500
    assert all(i.response_time_ms and i.response_time_ms > 0 for i in interactions)
    # The newest model only appears after its roll-out.
    newest = min(demo.MODELS, key=lambda m: m.since_day)
    rolled_out = ANCHOR.replace(hour=0, minute=0, second=0) - timedelta(days=newest.since_day - 1)
    assert all(i.created_at >= rolled_out for i in interactions if i.model == newest.name)
    # Weekdays are busier than weekends, recent weeks busier than the first ones.
    per_weekday = Counter(s.weekday() for s in stamps)
    assert min(per_weekday[d] for d in range(5)) > max(per_weekday[5], per_weekday[6])
    assert sum(s > ANCHOR - timedelta(days=30) for s in stamps) > sum(
        s < ANCHOR - timedelta(days=60) for s in stamps
    )

    votes = [e for e in exchanges if e.feedback]
    assert 0.25 < len(votes) / len(exchanges) < 0.5
    assert any(e.feedback and e.feedback.comment for e in votes)
    assert any(e.feedback and e.feedback.rating for e in votes)
    for e in votes:
        assert e.feedback is not None and e.feedback.created_at is not None
        assert e.interaction.created_at <= e.feedback.created_at <= ANCHOR  # type: ignore[operator]
        assert e.feedback.request_id == e.interaction.request_id
    # Models differ in quality: the best clearly beats the worst.
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in votes:
        assert e.feedback is not None
        tally[e.interaction.model][0] += bool(e.feedback.is_helpful)
        tally[e.interaction.model][1] += 1
    share = {model: up / total for model, (up, total) in tally.items()}
    assert share["gpt-4o-mini"] - share["mistral-7b-instruct"] > 0.15


async def test_load_goes_through_the_services_and_is_idempotent(
    engine: AsyncEngine, settings: Settings
) -> None:
    sessionmaker = create_sessionmaker(engine)
    summary = await demo.load(sessionmaker, settings, 250, seed=5, anchor=ANCHOR, chunk=100)
    expected_votes = sum(1 for e in demo.generate(250, seed=5, anchor=ANCHOR) if e.feedback)
    assert summary.interactions == 250 and summary.feedback == expected_votes
    assert await count(engine, "interactions") == 250
    assert await count(engine, "feedback") == expected_votes
    assert await count(engine, "interactions", "metadata->>'source' = 'demo-data'") == 250
    # The same seed again: request ids match, nothing is duplicated.
    await demo.load(sessionmaker, settings, 250, seed=5, anchor=ANCHOR)
    assert await count(engine, "interactions") == 250
    assert await count(engine, "feedback") == expected_votes


def test_cli_fills_and_refreshes(cli_env: None, database_url: str) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    result = CliRunner().invoke(app, ["demo-data", "--interactions", "120", "--seed", "9"])
    assert result.exit_code == 0, result.output
    assert "120 interactions and" in result.output
    # Not a terminal (a log, a pipe): a line per progress step, no carriage returns.
    assert "\r" not in result.output
    assert "120 / 120 interactions" in result.output.splitlines()

    async def _check() -> tuple[int, int]:
        # Its own engine: this test runs outside the session's event loop.
        engine = create_async_engine(database_url)
        try:
            return await count(engine, "interactions"), await count(engine, "analytics_refresh")
        finally:
            await engine.dispose()

    assert asyncio.run(_check()) == (120, 1)
