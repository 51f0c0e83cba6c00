"""The review page (/dashboard#review) in a real headless Chromium against the real app: two
named reviewers work one queue to the end by keyboard alone, a blind queue hides the votes,
and markup in an answer or in the instructions stays text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from feedback_api.app import create_app
from feedback_api.config import Settings
from tests.dashboard.test_page import Watched
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

KEYS = {
    "root": ("admin", "root-key-0123456789abcdef"),
    "alice": ("review", "alice-key-0123456789abcdef"),
    "bob": ("review", "bob-key-0123456789abcdef"),
}
INJECTION = '<img src=x onerror="window.__pwned = 1"><b>bold</b>'
INSTRUCTIONS = (
    "# How to judge\n\nMark an answer **correct** only when every fact in it is right.\n\n"
    "- Check the `sources` first\n- Then the [style guide](https://example.com/guide)\n"
    "- And [our notes](notes.md)\n\n" + INJECTION
)
ANSWERS = 5
STATE = "() => document.getElementById('review').dataset.state"


@pytest.fixture(scope="module")
def review_server(database_url: str) -> Iterator[LiveServer]:
    """The live server with an admin key and two reviewers' named keys."""
    settings = Settings(
        database_url=database_url,
        refresh_interval_seconds=3600,
        api_keys=",".join(f"{scope}:{name}:{key}" for name, (scope, key) in KEYS.items()),
        _env_file=None,
    )
    with LiveServer(create_app(settings)) as server:
        yield server


@pytest.fixture
async def admin(review_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {KEYS['root'][1]}"}
    async with httpx.AsyncClient(base_url=review_server.url, headers=headers, timeout=60) as c:
        yield c


def exchange(i: int, comment: str) -> dict[str, Any]:
    """An answer with a thumbs-down that says `comment`; answer 2 carries markup."""
    return {
        "request_id": f"answer-{i}",
        "query": f"What is {i} + {i}?",
        "response": INJECTION if i == 2 else f"{i} + {i} = {2 * i}.",
        "model": "model-a",
        "intent": "math",
        "project": "demo",
        "rating": -1,
        "comment": comment,
        "tools_called": ["calculator"],
        "sources_used": [{"doc": f"arithmetic-{i}.md"}],
        "metadata": {"system_prompt": "terse"},
    }


async def make_queue(
    admin: httpx.AsyncClient, name: str, answers: int, comment: str, **settings: Any
) -> str:
    items = [exchange(i, comment) for i in range(answers)]
    r = await admin.post("/v1/feedback/batch", json={"items": items})
    assert r.status_code == 200 and r.json()["failed"] == 0, r.text
    r = await admin.post(
        "/v1/review/queues", json={"name": name, "instructions": INSTRUCTIONS, **settings}
    )
    assert r.status_code == 201, r.text
    queue_id = str(r.json()["id"])
    r = await admin.post(
        f"/v1/review/queues/{queue_id}/items",
        json={"request_ids": [item["request_id"] for item in items]},
    )
    assert r.status_code in (200, 201), r.text
    assert r.json()["added"] == answers, r.text
    return queue_id


@pytest.fixture
async def reviewer(
    browser: Browser, review_server: LiveServer
) -> AsyncIterator[Callable[[str, str], Awaitable[Watched]]]:
    """A browser context of its own per reviewer, its key already in the tab's storage."""
    contexts = []

    async def _open(name: str, fragment: str) -> Watched:
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        await context.add_init_script(
            f"sessionStorage.setItem('feedback-api-key', {KEYS[name][1]!r});"
        )
        watched = Watched(await context.new_page())
        await watched.page.goto(review_server.url + "/dashboard" + fragment)
        return watched

    yield _open
    for context in contexts:
        await context.close()


async def wait_for_answer(page: Page, previous: str | None) -> str | None:
    """The assignment now shown (None: the queue has nothing left for this reviewer, and
    nothing others hold that could still come to them)."""
    await page.wait_for_function(
        """(previous) => {
          const s = document.getElementById('review');
          const done = s.dataset.state === 'empty' && s.dataset.waiting === undefined;
          return done || s.dataset.state === 'error' ||
            (s.dataset.state === 'item' && s.dataset.assignmentId !== previous);
        }""",
        arg=previous,
        timeout=30_000,
    )
    state = await page.evaluate(STATE)
    assert state != "error", await page.text_content("#review-error")
    return None if state == "empty" else await page.get_attribute("#review", "data-assignment-id")


async def work_through(page: Page, strict: bool) -> list[str]:
    """Label every answer the page hands out, by keyboard alone; the answers seen.

    Both call the markup incorrect, a strict reviewer 0 + 0 = 0 too (with the first reason
    and a correction each time), and the rest correct."""
    seen = []
    assignment = await wait_for_answer(page, None)
    while assignment is not None:
        answer = await page.text_content('#review-exchange [data-field="answer"]') or ""
        seen.append(answer)
        assert await page.locator("#review img").count() == 0
        assert await page.get_by_text("bold", exact=True).count() == 0
        wrong = answer == INJECTION or (strict and answer.startswith("0 + 0"))
        if wrong:
            await page.keyboard.press("2")
            await page.keyboard.press("3")  # the first reason
            await page.keyboard.press("c")  # into the correction box
            await page.keyboard.type(f"The sum is twice the number ({len(seen)}).")
            await page.keyboard.press("Escape")
        else:
            await page.keyboard.press("1")
        await page.keyboard.press("Enter")
        assignment = await wait_for_answer(page, assignment)
    return seen


async def test_two_reviewers_work_one_queue_until_it_is_empty(
    admin: httpx.AsyncClient,
    reviewer: Callable[[str, str], Awaitable[Watched]],
) -> None:
    queue_id = await make_queue(
        admin, "arithmetic", ANSWERS, "users say wrong", reviewers_per_item=2, blind=False
    )
    # Alice finds the queue in the list and opens it by keyboard; Bob opens it by its address.
    alice = await reviewer("alice", "#review")
    row = alice.page.locator(f'tr[data-queue-id="{queue_id}"]')
    await row.wait_for()
    assert await row.locator('[data-field="pending"]').text_content() == str(ANSWERS)
    assert await row.locator('[data-field="alpha"]').text_content() == "\N{EN DASH}"
    for _ in range(40):
        await alice.page.keyboard.press("Tab")
        if await alice.page.evaluate(
            f"() => !!document.activeElement.closest('[data-queue-id=\"{queue_id}\"]')"
        ):
            break
    await alice.page.keyboard.press("Enter")
    bob = await reviewer("bob", f"#review/{queue_id}")

    # The first answer: the whole exchange, the users' votes (the queue is not blind), the
    # instructions rendered, and a lease counting down.
    page = alice.page
    await wait_for_answer(page, None)
    text = {
        name: await page.text_content(f'#review-exchange [data-field="{name}"]')
        for name in ("question", "tools", "sources", "model", "metadata")
    }
    assert (text["question"] or "").startswith("What is ")
    assert text["tools"] == "calculator" and text["model"] == "model-a"
    assert "arithmetic-" in (text["sources"] or "") and "terse" in (text["metadata"] or "")
    assert await page.locator("#review-others [data-vote]").count() == 1
    assert "users say wrong" in (await page.text_content("#review-others") or "")
    assert await page.locator("#review [data-blind]").count() == 0
    assert await page.text_content("#review-instructions h4") == "How to judge"
    assert await page.locator("#review-instructions strong").count() == 1
    link = page.locator("#review-instructions a")
    assert await link.get_attribute("href") == "https://example.com/guide"
    # A relative link would point into this service: it stays text.
    assert "[our notes](notes.md)" in (await page.text_content("#review-instructions") or "")
    assert 850 <= int(await page.get_attribute("#review-lease", "data-lease-left") or 0) <= 900
    assert await page.locator("#review [data-reason]").count() >= 1

    # Both work until the queue has nothing left for either of them.
    seen_alice, seen_bob = await asyncio.gather(
        work_through(alice.page, strict=True), work_through(bob.page, strict=False)
    )
    assert len(seen_alice) == len(seen_bob) == ANSWERS
    assert INJECTION in seen_alice and INJECTION in seen_bob  # shown as the text it is
    for watched in (alice, bob):
        assert await watched.page.evaluate("() => window.__pwned") is None
        assert await watched.page.locator("img").count() == 0
        assert INJECTION in (await watched.page.text_content("#review-instructions") or "")

    # Every answer ends with two labels, one by each reviewer; the corrections were kept.
    r = await admin.get(f"/v1/review/queues/{queue_id}/items", params={"limit": 100})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == ANSWERS
    for item in items:
        r = await admin.get(f"/v1/review/items/{item['id']}")
        assert r.status_code == 200, r.text
        labels = r.json()["labels"]
        assert sorted(label["reviewer"] for label in labels) == ["alice", "bob"], labels
        for label in labels:
            if label["verdict"] == "incorrect":
                assert label["correction"].startswith("The sum is twice the number")
                assert len(label["reasons"]) == 1
    queue = (await admin.get(f"/v1/review/queues/{queue_id}")).json()
    progress = queue["progress"]
    assert progress["items"]["pending"] == progress["items"]["in_review"] == 0
    assert progress["labels"] == {"alice": ANSWERS, "bob": ANSWERS}

    # Back in the list: the queue labelled through, with the API's alpha.
    agreement = (await admin.get(f"/v1/review/queues/{queue_id}/agreement")).json()
    await page.evaluate("() => { window.location.hash = '#review'; }")
    await page.wait_for_function("() => document.getElementById('review').dataset.state === 'list'")
    row = page.locator(f'tr[data-queue-id="{queue_id}"]')
    assert await row.locator('[data-field="pending"]').text_content() == "0"
    alpha = await row.locator('[data-field="alpha"]').text_content() or ""
    assert alpha.startswith(f"{agreement['krippendorff_alpha']:.2f}"), (alpha, agreement)
    assert alice.errors == [] and bob.errors == []


async def test_a_blind_queue_shows_no_votes_and_s_skips(
    admin: httpx.AsyncClient,
    reviewer: Callable[[str, str], Awaitable[Watched]],
) -> None:
    queue_id = await make_queue(admin, "blind", 2, "a secret thumb", lease_seconds=30)
    alice = await reviewer("alice", f"#review/{queue_id}")
    page = alice.page
    first = await wait_for_answer(page, None)
    assert await page.is_visible("#review [data-blind]")
    others = page.locator("#review-others [data-vote], #review-others [data-label]")
    assert await others.count() == 0
    assert "a secret thumb" not in (await page.text_content("#review") or "")
    # A 30-second lease counts down and is renewed while the answer is open.
    assert 0 < int(await page.get_attribute("#review-lease", "data-lease-left") or 0) <= 30
    async with page.expect_response(
        lambda r: r.url.endswith(f"/v1/review/assignments/{first}/heartbeat"), timeout=20_000
    ) as beat:
        pass
    assert (await beat.value).ok
    skipped = await page.get_attribute("#review", "data-item-id")

    # s declines: the other answer comes, and the skipped one never comes back to alice.
    await page.keyboard.press("s")
    second = await wait_for_answer(page, first)
    assert second is not None
    assert await page.get_attribute("#review", "data-item-id") != skipped
    assert await page.is_visible("#review [data-blind]")
    await page.keyboard.press("1")
    await page.keyboard.press("Enter")
    # Nothing more for alice; the answer she skipped is still pending for others, so the
    # page keeps looking (it cannot tell whether that one would be hers).
    await page.wait_for_function(
        "() => document.getElementById('review').dataset.state === 'empty'", timeout=30_000
    )
    assert await page.get_attribute("#review", "data-waiting") == ""
    assert await page.is_visible("#review-waiting")
    # The answer she labelled last is gone from the page, its form with it.
    assert not await page.is_visible("#review-task")
    # Bob gets the answer alice skipped.
    bob = await reviewer("bob", f"#review/{queue_id}")
    await wait_for_answer(bob.page, None)
    assert await bob.page.get_attribute("#review", "data-item-id") == skipped
    assert await bob.page.is_visible("#review [data-blind]")
    agreement = (await admin.get(f"/v1/review/queues/{queue_id}/agreement")).json()
    [row] = [r for r in agreement["reviewers"] if r["reviewer"] == "alice"]
    assert row["labels"] == 1 and row["declined"] == 1
    assert alice.errors == [] and bob.errors == []


async def test_a_closed_queue_says_so_and_stops_looking(
    admin: httpx.AsyncClient,
    reviewer: Callable[[str, str], Awaitable[Watched]],
) -> None:
    queue_id = await make_queue(admin, "closed", 2, "closed early")
    r = await admin.patch(f"/v1/review/queues/{queue_id}", json={"closed": True})
    assert r.status_code == 200, r.text
    alice = await reviewer("alice", f"#review/{queue_id}")
    page = alice.page
    assert await wait_for_answer(page, None) is None  # empty, and not waiting
    assert await page.is_visible("#review-closed")
    assert not await page.is_visible("#review-waiting")
    assert not await page.is_visible("#review-task")
    assert alice.errors == []


async def test_a_queue_closed_while_a_reviewer_works_says_so_after_the_answer(
    admin: httpx.AsyncClient,
    reviewer: Callable[[str, str], Awaitable[Watched]],
) -> None:
    queue_id = await make_queue(admin, "closed later", 2, "closed while working")
    alice = await reviewer("alice", f"#review/{queue_id}")
    page = alice.page
    first = await wait_for_answer(page, None)
    assert first is not None
    r = await admin.patch(f"/v1/review/queues/{queue_id}", json={"closed": True})
    assert r.status_code == 200, r.text
    await page.keyboard.press("1")
    await page.keyboard.press("Enter")
    # The label is kept; the next claim is refused (409) and the page says why.
    assert await wait_for_answer(page, first) is None
    assert await page.is_visible("#review-closed")
    assert not await page.is_visible("#review-waiting")
    queue = (await admin.get(f"/v1/review/queues/{queue_id}")).json()
    assert queue["progress"]["labels"] == {"alice": 1}
    assert len(alice.errors) == 1 and "409" in alice.errors[0]  # the browser's own line


async def test_without_keys_the_page_asks_for_a_reviewer_name(
    browser: Browser, database_url: str
) -> None:
    settings = Settings(database_url=database_url, refresh_interval_seconds=3600, _env_file=None)
    with LiveServer(create_app(settings)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            queue_id = await make_queue(client, "open mode", 1, "fine")
            context = await browser.new_context()
            try:
                watched = Watched(await context.new_page())
                page = watched.page
                await page.goto(f"{server.url}/dashboard#review/{queue_id}")
                # The API asks who is reviewing (422); the page asks the person, once.
                await page.locator("#reviewer-dialog").wait_for(state="visible")
                assert "X-Reviewer" in (await page.text_content("#reviewer-reason") or "")
                await page.keyboard.type("carol")
                await page.keyboard.press("Enter")
                first = await wait_for_answer(page, None)
                await page.keyboard.press("1")
                await page.keyboard.press("Enter")
                assert await wait_for_answer(page, first) is None
                stored = "() => localStorage.getItem('feedback-api-reviewer')"
                assert await page.evaluate(stored) == "carol"
                assert watched.errors and all("422" in error for error in watched.errors)
            finally:
                await context.close()
            [item] = (await client.get(f"/v1/review/queues/{queue_id}/items")).json()["items"]
            detail = (await client.get(f"/v1/review/items/{item['id']}")).json()
            assert [label["reviewer"] for label in detail["labels"]] == ["carol"]
