"""Realistic synthetic traffic for a first look: `feedback-api demo-data --interactions N`.

Several models of different quality (one rolled out recently, one better at code), intents,
projects, 90 days with weekly rhythm and growth, returning users with sessions, latencies,
stars and comments. Everything goes through the services, so the rules that hold for real
traffic hold here. The same seed and anchor give the same data, and request ids are derived
from the seed, so running it twice with one seed does not duplicate anything.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.config import Settings
from feedback_api.feedback.schemas import FeedbackCreate
from feedback_api.feedback.service import feedback_service
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.schemas import InteractionCreate
from feedback_api.interactions.service import IngestRules, InteractionService


@dataclass(frozen=True)
class ModelProfile:
    name: str
    quality: float  # chance of a helpful answer before the intent's adjustment
    latency_ms: float  # median
    weight: float  # share of traffic
    strengths: dict[str, float] = field(default_factory=dict)
    since_day: int = 90  # rolled out this many days before the anchor


MODELS = (
    ModelProfile("gpt-4o-mini", 0.80, 950, 3.0, {"math": 0.05, "translate": 0.05}),
    ModelProfile("qwen-2.5-coder-7b", 0.66, 620, 2.5, {"code": 0.18, "chat": -0.08}),
    ModelProfile("llama-3.1-8b-instruct", 0.63, 700, 2.0, {"summarize": 0.05, "math": -0.12}),
    ModelProfile("mistral-7b-instruct", 0.54, 540, 1.5, {"translate": 0.08, "code": -0.1}),
    ModelProfile("qwen-3-8b", 0.76, 820, 3.5, {"code": 0.08}, since_day=28),
)

QUESTIONS: dict[str, tuple[str, ...]] = {
    "code": (
        "Write hello world in Python",
        "How do I reverse a list in Python?",
        "Explain async/await in JavaScript",
        "Fix this SQL: SELECT * FROM users WHERE name = NULL",
        "How do I read a CSV file with pandas?",
        "What is the difference between a process and a thread?",
        "Write a regex that matches an email address",
        "How do I undo the last git commit?",
        "Convert a dict to JSON in Python",
        "Why does my React component render twice?",
        "How to make an HTTP request in Go?",
        "Write a unit test for a function that adds two numbers",
    ),
    "chat": (
        "Tell me a joke",
        "What should I cook tonight?",
        "Give me three ideas for a weekend trip",
        "How can I sleep better?",
        "Write a short poem about autumn",
        "Help me write a birthday message for my sister",
        "What are good books about habits?",
    ),
    "search": (
        "What is the capital of Australia?",
        "Who wrote One Hundred Years of Solitude?",
        "When was PostgreSQL first released?",
        "What is the population of Canada?",
        "How tall is Mount Everest?",
        "What does HTTP 418 mean?",
        "Latest stable version of Python",
    ),
    "summarize": (
        "Summarize this meeting transcript",
        "Give me the key points of this article",
        "Summarize the release notes in three bullets",
        "TL;DR of this support ticket thread",
        "Summarize this contract clause in plain words",
    ),
    "translate": (
        "Translate 'good morning' into French",
        "Translate this paragraph into German",
        "How do you say 'thank you' in Japanese?",
        "Translate this error message into Spanish",
    ),
    "math": (
        "What is 15% of 240?",
        "Solve 2x + 3 = 11",
        "What is the derivative of x^2 sin(x)?",
        "How many seconds are in a leap year?",
        "Explain the Monty Hall problem",
    ),
}
INTENT_DIFFICULTY = {"code": 0.0, "chat": 0.04, "search": -0.05, "summarize": 0.02,
                     "translate": 0.03, "math": -0.1}  # fmt: skip
INTENT_LATENCY = {"code": 1.4, "chat": 0.8, "search": 1.1, "summarize": 1.6, "translate": 0.7,
                  "math": 1.0}  # fmt: skip
PROJECTS: dict[str, dict[str, float]] = {
    "docs-assistant": {"code": 3, "search": 2, "summarize": 1},
    "support-bot": {"chat": 2, "search": 2, "summarize": 2, "translate": 1},
    "internal-tools": {"code": 2, "math": 1, "translate": 1, "chat": 1},
}
TOOLS = {"code": "code_interpreter", "search": "web_search", "math": "calculator"}
GOOD_COMMENTS = ("Exactly what I needed", "Clear and correct", "Thanks!", "Saved me an hour")
BAD_COMMENTS = (
    "Wrong answer",
    "Too long, didn't answer the question",
    "The code does not run",
    "Outdated information",
    "Made up a source",
    "Answer was in the wrong language",
    "Too slow",
)
# Why, in the default label set's words (a comment's reasons; no draw of its own, so the
# generator's sequence, and with it every figure of a seed, stays as it was).
BAD_REASONS = {
    "Wrong answer": ["incorrect"],
    "Too long, didn't answer the question": ["too_long", "incomplete"],
    "The code does not run": ["incorrect"],
    "Outdated information": ["incorrect"],
    "Made up a source": ["incorrect", "unsafe"],
    "Answer was in the wrong language": ["off_topic"],
    "Too slow": ["other"],
}
USERS = 300


@dataclass(frozen=True)
class DemoExchange:
    interaction: InteractionCreate
    feedback: FeedbackCreate | None


@dataclass(frozen=True)
class DemoSummary:
    interactions: int
    feedback: int
    first: datetime
    last: datetime


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def _zipf_index(rng: random.Random, n: int) -> int:
    # A few questions are asked over and over, most rarely: what a top-10 list looks like.
    return min(n - 1, int(n * rng.random() ** 2.2))


def _answer(model: str, intent: str, query: str, good: bool) -> str:
    if intent == "code":
        body = "Here is a minimal example:\n\n```python\nprint('Hello, World!')\n```"
    elif intent == "translate":
        body = "Here is the translation: « Bonjour »."
    elif intent == "math":
        body = "Step by step: first isolate the unknown, then divide. The result is 4."
    else:
        body = "Here is a short answer with the key points."
    if not good:
        body += " (This answer misses part of the question.)"
    return f"{body}\n\n-- {model} on: {query[:60]}"


def _reasons(comment: str | None, index: int) -> list[str] | None:
    """A down-vote's reasons: its comment's, else one in two votes gives one (by position)."""
    if comment is not None:
        return BAD_REASONS[comment]
    if index % 2:
        return None
    return [("incorrect", "incomplete", "too_long", "off_topic", "incorrect")[index // 2 % 5]]


def generate(
    count: int, *, seed: int = 42, anchor: datetime | None = None, days: int = 90
) -> Iterator[DemoExchange]:
    """`count` exchanges spread over the `days` before `anchor` (default: now)."""
    rng = random.Random(seed)
    anchor = (anchor or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start_of_today = anchor.replace(hour=0, minute=0, second=0)
    # Traffic grows over time and dips at weekends.
    day_weights = []
    for back in range(days):
        day = start_of_today - timedelta(days=back)
        growth = 1 + 0.8 * (days - back) / days
        weekend = 0.55 if day.weekday() >= 5 else 1.0
        elapsed = (anchor - start_of_today).total_seconds() / 86400
        today_share = min(1.0, elapsed) if back == 0 else 1.0
        day_weights.append(growth * weekend * today_share)
    hours = [0.2] * 7 + [1, 2, 3, 3.5, 3, 2.5, 3, 3.5, 3, 2.5, 2, 1.2, 0.8, 0.6, 0.5, 0.4, 0.3]
    for index in range(count):
        back = rng.choices(range(days), weights=day_weights)[0]
        day = start_of_today - timedelta(days=back)
        limit = (anchor - day).total_seconds() if back == 0 else 86400.0
        hour = rng.choices(range(24), weights=hours)[0]
        offset = min(limit - 1, hour * 3600 + rng.random() * 3600)
        created = day + timedelta(seconds=max(0.0, offset))
        available = [m for m in MODELS if m.since_day > back]
        model = rng.choices(available, weights=[m.weight for m in available])[0]
        project = rng.choice(sorted(PROJECTS))
        intent = _pick(rng, PROJECTS[project])
        pool = QUESTIONS[intent]
        query = pool[_zipf_index(rng, len(pool))]
        user = int(USERS * rng.random() ** 1.5)  # some users are much more active
        session = f"s-{user:04d}-{back:02d}-{hour // 6}"
        quality = model.quality + model.strengths.get(intent, 0.0) + INTENT_DIFFICULTY[intent]
        good = rng.random() < max(0.05, min(0.97, quality))
        latency = model.latency_ms * INTENT_LATENCY[intent] * math.exp(rng.gauss(0, 0.45))
        tool = TOOLS.get(intent) if rng.random() < 0.4 else None
        request_id = f"demo-{seed}-{index:07d}"
        interaction = InteractionCreate(
            request_id=request_id,
            query=query,
            response=_answer(model.name, intent, query, good),
            model=model.name,
            intent=intent,
            project=project,
            user_id=f"u-{user:04d}",
            session_id=session,
            response_time_ms=int(latency),
            tools_called=[tool] if tool else [],
            memory_used=round(rng.lognormvariate(math.log(350), 0.3), 1),
            metadata={"source": "demo-data", "seed": seed},
            created_at=created,
        )
        feedback = None
        # Unhappy users vote more often than happy ones.
        if rng.random() < (0.32 if good else 0.5):
            stars = None
            if rng.random() < 0.6:
                stars = (
                    rng.choices([5, 4, 3], [6, 3.5, 0.5])[0]
                    if good
                    else rng.choices([1, 2, 3], [5, 3.5, 1.5])[0]
                )
            comment = None
            if rng.random() < (0.08 if good else 0.3):
                comment = rng.choice(GOOD_COMMENTS if good else BAD_COMMENTS)
            voted = min(anchor, created + timedelta(seconds=5 + rng.random() * 1800))
            feedback = FeedbackCreate(
                request_id=request_id,
                is_helpful=good,
                rating=stars,
                comment=comment,
                reasons=None if good else _reasons(comment, index),
                user_id=f"u-{user:04d}",
                created_at=voted,
            )
        yield DemoExchange(interaction, feedback)


async def load(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    count: int,
    *,
    seed: int = 42,
    anchor: datetime | None = None,
    days: int = 90,
    chunk: int = 500,
    concurrency: int = 3,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Store `count` generated exchanges through the services, one transaction per chunk.

    A few chunks are written at once on separate connections: each exchange costs a few
    round trips, and the database can work on one chunk while Python prepares another.
    """
    rules = IngestRules.from_settings(settings)
    done = votes = 0
    first: datetime | None = None
    last: datetime | None = None

    async def store(part: list[DemoExchange]) -> None:
        nonlocal done
        async with sessionmaker() as session, session.begin():
            interactions = InteractionService(InteractionRepository(session), rules)
            feedback = feedback_service(session, rules)
            for exchange in part:
                await interactions.log(exchange.interaction)
                vote = exchange.feedback
                if vote is not None:
                    if vote.reasons and not set(vote.reasons) <= set(rules.reasons):
                        vote = vote.model_copy(update={"reasons": None})  # FEEDBACK_REASONS
                    await feedback.submit(vote)
        done += len(part)
        if progress is not None:
            progress(done)

    # At most `concurrency` chunks in memory at once, however many exchanges are asked for.
    pending: set[asyncio.Task[None]] = set()
    try:
        for part in _chunks(generate(count, seed=seed, anchor=anchor, days=days), chunk):
            for exchange in part:
                stamp = exchange.interaction.created_at or datetime.now(UTC)
                first = stamp if first is None else min(first, stamp)
                last = stamp if last is None else max(last, stamp)
                votes += exchange.feedback is not None
            if len(pending) >= concurrency:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    task.result()
            pending.add(asyncio.create_task(store(part)))
        await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()
    now = datetime.now(UTC)
    return DemoSummary(interactions=done, feedback=votes, first=first or now, last=last or now)


def _chunks(items: Iterator[DemoExchange], size: int) -> Iterator[list[DemoExchange]]:
    part: list[DemoExchange] = []
    for item in items:
        part.append(item)
        if len(part) == size:
            yield part
            part = []
    if part:
        yield part
