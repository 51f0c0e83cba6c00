"""feedback.js in a real headless Chromium: a page of another origin (a second local port,
served by a plain http.server) imports the module from the real API on a real database."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Response

from feedback_api.app import create_app
from feedback_api.config import Settings
from tests.live_server import PORTS, LiveServer

# Slow: every test runs feedback.js in a real Chromium.
pytestmark = pytest.mark.slow

INGEST = "ingest-key-for-the-browser-tests"
READ = "read-key-for-the-browser-tests"
SECRET = "a-secret-for-the-browser-tests-0123456789"
PENDING = "feedback-api:pending-votes"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class PageServer:
    """The frontend's origin: a directory of pages on a port of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = partial(QuietHandler, directory=str(root))
        for port in PORTS:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
            except OSError:
                continue
            break
        else:
            raise RuntimeError("no free port for the page server")
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def write(self, name: str, html: str) -> str:
        (self.root / name).write_text(html, encoding="utf-8")
        return f"{self.url}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    server = PageServer(tmp_path_factory.mktemp("pages"))
    yield server
    server.close()


def api_settings(database_url: str, frontend: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=database_url,
        refresh_enabled=False,
        access_log=False,
        api_keys=f"ingest:{INGEST},read:{READ}",
        secret_key=SECRET,
        cors_origins=frontend,
        _env_file=None,
    )


@pytest.fixture(scope="module")
def api(database_url: str, pages: PageServer) -> Iterator[LiveServer]:
    with LiveServer(create_app(api_settings(database_url, pages.url))) as server:
        yield server


async def log_interaction(api_url: str, request_id: str) -> str:
    """What the chat backend does: log the exchange; the answer's token goes to the page."""
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": INGEST}) as client:
        response = await client.post(
            "/v1/interactions",
            json={
                "request_id": request_id,
                "query": "When did the Berlin wall fall?",
                "response": "In 1991.",
                "model": "m1",
                "user_id": "u1",
            },
        )
        response.raise_for_status()
        token: str = response.json()["feedback_token"]
        return token


async def votes_on(api_url: str, request_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": READ}) as client:
        response = await client.get("/v1/feedback", params={"limit": 1000})
        response.raise_for_status()
        return [v for v in response.json()["items"] if v["request_id"] == request_id]


def page_html(api_url: str, body: str = "", script: str = "") -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chat</title>
<link rel="icon" href="data:,">
<style>
  feedback-thumbs {{ --feedback-pressed-color: rgb(200, 0, 0); }}
  feedback-thumbs::part(status) {{ font-style: italic; }}
</style>
<script type="module">
  import * as feedback from "{api_url}/static/feedback.js";
  window.feedback = feedback;
  window.events = [];
  for (const type of ["feedback-sent", "feedback-failed"]) {{
    document.addEventListener(type, (event) => window.events.push({{
      type,
      isHelpful: event.detail.vote.isHelpful,
      queued: event.detail.queued ?? null,
      status: event.detail.error ? event.detail.error.status : null,
      response: event.detail.response ?? null,
    }}));
  }}
  window.flushOutcome = await feedback.flushed;
  {script}
</script>
</head><body><p>In 1991.</p>{body}</body></html>
"""


def thumbs(request_id: str, token: str, extra: str = "", inner: str = "") -> str:
    attributes = f'request-id="{request_id}" token="{token}" {extra}'
    return f"<feedback-thumbs {attributes}>{inner}</feedback-thumbs>"


class Watched:
    """A page with its console errors and the votes it posted (with their answers)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.posts: list[Request] = []
        self.answers: list[Response] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", self._request)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/v1/feedback"):
            self.posts.append(request)

    def _response(self, response: Response) -> None:
        if response.request.method == "POST" and response.url.endswith("/v1/feedback"):
            self.answers.append(response)

    async def goto(self, url: str) -> None:
        await self.page.goto(url)
        await self.loaded()

    async def reload(self) -> None:
        await self.page.reload()
        await self.loaded()

    async def loaded(self) -> None:
        """The module is imported and its flush of earlier votes is done."""
        await self.page.wait_for_function("() => window.flushOutcome !== undefined")

    async def pending(self) -> list[Any]:
        raw = await self.page.evaluate(f"() => localStorage.getItem({PENDING!r})")
        return json.loads(raw) if raw else []

    async def events(self, count: int) -> list[dict[str, Any]]:
        await self.page.wait_for_function(f"() => window.events.length >= {count}")
        events: list[dict[str, Any]] = await self.page.evaluate("() => window.events")
        return events

    async def state(self) -> str | None:
        return await self.page.get_attribute("feedback-thumbs", "data-state")


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[Callable[[str], Awaitable[Watched]]]:
    contexts = []

    async def _open(url: str) -> Watched:
        context = await browser.new_context()
        contexts.append(context)
        watched = Watched(await context.new_page())
        await watched.goto(url)
        return watched

    yield _open
    for context in contexts:
        await context.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(300):  # 15 s
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def pressed(page: Page) -> dict[str, str | None]:
    return {
        vote: await page.get_attribute(
            f'feedback-thumbs button[data-vote="{vote}"]', "aria-pressed"
        )
        for vote in ("up", "down")
    }


async def test_a_click_on_a_page_of_another_origin_stores_the_vote(
    api: LiveServer, pages: PageServer, open_page: Callable[[str], Awaitable[Watched]]
) -> None:
    token = await log_interaction(api.url, "req-click")
    # The README's two lines: the module by a script tag, the element without base-url (the
    # module's own origin is the API's).
    readme = f'<script type="module" src="{api.url}/static/feedback.js"></script>'
    url = pages.write("click.html", page_html(api.url, readme + thumbs("req-click", token)))
    watched = await open_page(url)
    page = watched.page
    assert await page.evaluate(
        "() => customElements.get('feedback-thumbs') === window.feedback.FeedbackWidget"
    )
    assert await page.evaluate("() => !!document.querySelector('feedback-thumbs').shadowRoot")
    assert await pressed(page) == {"up": "false", "down": "false"}
    up = page.locator('feedback-thumbs button[data-vote="up"]')
    down = page.locator('feedback-thumbs button[data-vote="down"]')
    assert await up.get_attribute("aria-label") == "Good answer"
    assert await down.get_attribute("aria-label") == "Bad answer"

    await up.click()
    (sent,) = await watched.events(1)
    assert sent["type"] == "feedback-sent"
    assert sent["isHelpful"] is True
    assert sent["response"]["is_helpful"] is True
    assert await watched.state() == "sent"
    assert await pressed(page) == {"up": "true", "down": "false"}
    (vote,) = await votes_on(api.url, "req-click")
    assert vote["is_helpful"] is True
    assert vote["id"] == sent["response"]["id"]
    status = page.locator("feedback-thumbs [part=status]")
    assert await status.text_content() == "Thanks for your feedback"

    # The token may change its one vote: a click on the other thumb sends again.
    await down.click()
    events = await watched.events(2)
    assert [e["type"] for e in events] == ["feedback-sent", "feedback-sent"]
    assert events[1]["response"]["is_helpful"] is False
    assert await pressed(page) == {"up": "false", "down": "true"}
    (changed,) = await votes_on(api.url, "req-click")
    assert changed["id"] == vote["id"]
    assert changed["is_helpful"] is False
    # A second click on the pressed thumb sends nothing more.
    await down.click()
    await asyncio.sleep(0.3)
    assert len(watched.posts) == 2

    # Styles are the page's to change: custom properties and parts pierce the shadow root.
    color = await down.evaluate("(button) => getComputedStyle(button).borderTopColor")
    assert color == "rgb(200, 0, 0)"
    assert await status.evaluate("(node) => getComputedStyle(node).fontStyle") == "italic"
    # Each vote went out once, with an idempotency key of its own and the token in the body.
    keys = [post.headers["idempotency-key"] for post in watched.posts]
    assert len(set(keys)) == 2
    bodies = [post.post_data_json for post in watched.posts]
    assert bodies == [
        {"request_id": "req-click", "is_helpful": True, "feedback_token": token},
        {"request_id": "req-click", "is_helpful": False, "feedback_token": token},
    ]
    assert await watched.pending() == []
    assert watched.errors == []


async def test_keyboard_alone_votes_and_sends_a_comment(
    api: LiveServer, pages: PageServer, open_page: Callable[[str], Awaitable[Watched]]
) -> None:
    token = await log_interaction(api.url, "req-keys")
    extra = f'base-url="{api.url}" comment label-up="Yes" label-down="No"'
    widget = thumbs("req-keys", token, extra)
    watched = await open_page(pages.write("keys.html", page_html(api.url, widget)))
    page = watched.page
    focused = "() => document.activeElement.shadowRoot?.activeElement?.dataset.vote ?? null"
    form = page.locator("feedback-thumbs form")
    assert await form.is_hidden()

    await page.keyboard.press("Tab")
    assert await page.evaluate(focused) == "up"
    await page.keyboard.press("Enter")
    await watched.events(1)
    assert await pressed(page) == {"up": "true", "down": "false"}
    assert (await votes_on(api.url, "req-keys"))[0]["is_helpful"] is True

    await page.keyboard.press("Tab")
    assert await page.evaluate(focused) == "down"
    await page.keyboard.press("Space")
    await watched.events(2)
    assert await pressed(page) == {"up": "false", "down": "true"}
    assert (await votes_on(api.url, "req-keys"))[0]["is_helpful"] is False
    assert await page.get_attribute('feedback-thumbs [data-vote="down"]', "aria-label") == "No"

    # With a thumb chosen, the comment box opens; Tab reaches it and the Send button.
    assert await form.is_visible()
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.shadowRoot.activeElement.tagName") == (
        "TEXTAREA"
    )
    assert await page.get_by_label("Comment").count() == 1
    await page.keyboard.type("It fell in 1989.")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    events = await watched.events(3)
    assert events[2]["type"] == "feedback-sent"
    (vote,) = await votes_on(api.url, "req-keys")
    assert vote["is_helpful"] is False
    assert vote["comment"] == "It fell in 1989."
    assert await form.is_hidden()
    # A changed thumb keeps the comment sent before (the vote is replaced as a whole).
    await page.locator('feedback-thumbs [data-vote="up"]').click()
    await watched.events(4)
    assert watched.posts[-1].post_data_json["comment"] == "It fell in 1989."
    (vote,) = await votes_on(api.url, "req-keys")
    assert (vote["is_helpful"], vote["comment"]) == (True, "It fell in 1989.")
    assert await watched.pending() == []
    assert watched.errors == []


async def test_a_known_vote_is_shown_and_a_reused_element_starts_afresh(
    api: LiveServer, pages: PageServer, open_page: Callable[[str], Awaitable[Watched]]
) -> None:
    first = await log_interaction(api.url, "req-known")
    second = await log_interaction(api.url, "req-next")
    widget = thumbs(
        "req-known",
        first,
        'vote="down" label="Rate it" label-comment="Tell us more" label-send="Go" comment',
        '<span slot="up">Yes!</span>',
    )
    watched = await open_page(pages.write("known.html", page_html(api.url, widget)))
    page = watched.page
    assert await pressed(page) == {"up": "false", "down": "true"}
    assert await page.get_attribute("feedback-thumbs [part=thumbs]", "aria-label") == "Rate it"
    assert await page.locator("feedback-thumbs [part~=send]").text_content() == "Go"
    assert await page.get_by_label("Tell us more").count() == 1
    # The page's own content in the up slot, in place of the icon.
    slotted = await page.locator('feedback-thumbs [data-vote="up"] slot').evaluate(
        "(slot) => slot.assignedElements().map((element) => element.textContent)"
    )
    assert slotted == ["Yes!"]
    assert await watched.state() == "idle"
    # The element moves on to the next answer: no vote shown, and its vote goes there.
    await page.evaluate(
        """([id, token]) => {
            const element = document.querySelector("feedback-thumbs");
            element.removeAttribute("vote");
            element.setAttribute("token", token);
            element.setAttribute("request-id", id);
        }""",
        ["req-next", second],
    )
    assert await pressed(page) == {"up": "false", "down": "false"}
    await page.locator('feedback-thumbs [data-vote="up"]').click()
    await watched.events(1)
    assert await votes_on(api.url, "req-known") == []
    assert [v["is_helpful"] for v in await votes_on(api.url, "req-next")] == [True]
    assert len(watched.posts) == 1
    assert watched.errors == []


async def test_reasons_are_sent_with_the_vote_and_a_refusal_is_final(
    api: LiveServer, pages: PageServer, open_page: Callable[[str], Awaitable[Watched]]
) -> None:
    token = await log_interaction(api.url, "req-reasons")
    widget = thumbs("req-reasons", token, 'reasons="incorrect:Wrong,incomplete"')
    watched = await open_page(pages.write("reasons.html", page_html(api.url, widget)))
    page = watched.page
    await page.locator('feedback-thumbs [data-vote="down"]').click()
    await watched.events(1)
    assert await page.locator("feedback-thumbs [part=reason]").all_text_contents() == [
        "Wrong",
        "incomplete",
    ]
    assert await page.locator("feedback-thumbs textarea").count() == 1
    assert await page.locator("feedback-thumbs label.comment").is_hidden()
    await page.get_by_label("Wrong").check()
    await page.locator("feedback-thumbs [part~=send]").click()
    events = await watched.events(2)
    assert watched.posts[-1].post_data_json == {
        "request_id": "req-reasons",
        "is_helpful": False,
        "reasons": ["incorrect"],
        "feedback_token": token,
    }
    assert events[1]["type"] == "feedback-sent"
    (vote,) = await votes_on(api.url, "req-reasons")
    assert vote["reasons"] == ["incorrect"]
    assert await watched.state() == "sent"
    assert await watched.pending() == []

    # A label outside the project's set is refused (422, naming the allowed ones): final,
    # never kept or resent.
    token = await log_interaction(api.url, "req-refused")
    widget = thumbs("req-refused", token, 'reasons="made_up:Made up"')
    watched = await open_page(pages.write("refused.html", page_html(api.url, widget)))
    page = watched.page
    await page.locator('feedback-thumbs [data-vote="down"]').click()
    await watched.events(1)
    await page.get_by_label("Made up").check()
    await page.locator("feedback-thumbs [part~=send]").click()
    events = await watched.events(2)
    assert events[1]["status"] == 422
    assert events[1]["queued"] is False
    assert await watched.state() == "failed"
    text = await page.locator("feedback-thumbs [part=status]").text_content()
    assert text is not None and text.startswith("Could not send:")
    assert "incorrect" in text  # the allowed labels
    assert all("422" in error for error in watched.errors), watched.errors
    assert await watched.pending() == []

    # A forged token is refused (403) the same way: the widget says so, nothing is kept.
    forged = pages.write(
        "forged.html", page_html(api.url, thumbs("req-reasons", token[:-4] + "AAAA"))
    )
    watched = await open_page(forged)
    await watched.page.locator('feedback-thumbs [data-vote="up"]').click()
    (failed,) = await watched.events(1)
    assert failed == {
        "type": "feedback-failed",
        "isHelpful": True,
        "queued": False,
        "status": 403,
        "response": None,
    }
    assert await watched.state() == "failed"
    assert await watched.pending() == []
    assert all("403" in error for error in watched.errors), watched.errors


async def test_a_vote_lost_on_the_network_is_resent_once_on_the_next_load(
    database_url: str, pages: PageServer, open_page: Callable[[str], Awaitable[Watched]]
) -> None:
    settings = api_settings(database_url, pages.url)
    with LiveServer(create_app(settings)) as first:
        port, api_url = first.port, first.url
        token = await log_interaction(api_url, "req-offline")
        url = pages.write("offline.html", page_html(api_url, thumbs("req-offline", token)))
        watched = await open_page(url)
    # The server is gone: the vote fails on the network and waits in localStorage.
    page = watched.page
    await page.locator('feedback-thumbs [data-vote="up"]').click()
    (failed,) = await watched.events(1)
    assert failed["type"] == "feedback-failed"
    assert failed["queued"] is True
    assert await watched.state() == "queued"
    assert await pressed(page) == {"up": "true", "down": "false"}
    (kept,) = await watched.pending()
    assert json.loads(kept["body"]) == {
        "request_id": "req-offline",
        "is_helpful": True,
        "feedback_token": token,
    }
    assert watched.errors
    assert all("ERR_CONNECTION_REFUSED" in error for error in watched.errors), watched.errors
    watched.errors.clear()
    first_attempts = len(watched.posts)

    with LiveServer(create_app(settings), port=port):
        await watched.reload()
        assert await page.evaluate("() => window.flushOutcome") == {
            "sent": 1,
            "kept": 0,
            "dropped": 0,
        }
        assert await watched.pending() == []
        (vote,) = await votes_on(api_url, "req-offline")
        assert vote["is_helpful"] is True
        resent = watched.posts[first_attempts:]
        assert [post.headers["idempotency-key"] for post in resent] == [kept["key"]]

        # The next load finds nothing to send: the vote was sent once, and stored once.
        await watched.reload()
        assert await page.evaluate("() => window.flushOutcome") == {
            "sent": 0,
            "kept": 0,
            "dropped": 0,
        }
        assert len(watched.posts) == first_attempts + 1
        assert await votes_on(api_url, "req-offline") == [vote]
        assert vote["updated_at"] == vote["created_at"]
    assert watched.errors == []


async def test_a_vote_answered_503_while_the_database_is_down_is_resent_once_it_is_back(
    api: LiveServer,
    database_url: str,
    pages: PageServer,
    open_page: Callable[[str], Awaitable[Watched]],
) -> None:
    token = await log_interaction(api.url, "req-503")  # tokens hold no state: any replica
    settings = api_settings(database_url, pages.url)
    nowhere = "postgresql+asyncpg://nobody@127.0.0.1:1/none"  # nothing listens on port 1
    no_database = settings.model_copy(
        update={"database_url": nowhere, "connect_timeout_seconds": 1.0}
    )
    with LiveServer(create_app(no_database)) as broken:
        port, api_url = broken.port, broken.url
        page_url = pages.write("outage.html", page_html(api_url, thumbs("req-503", token)))
        watched = await open_page(page_url)
        await watched.page.locator('feedback-thumbs [data-vote="up"]').click()
        (failed,) = await watched.events(1)
    # The server's 503 carried its CORS headers, so the page read it: kept, not refused.
    assert (failed["type"], failed["status"], failed["queued"]) == ("feedback-failed", 503, True)
    assert await watched.state() == "queued"
    (kept,) = await watched.pending()
    assert len(watched.posts) == 1
    assert await votes_on(api.url, "req-503") == []
    assert watched.errors and all("503" in error for error in watched.errors), watched.errors
    watched.errors.clear()

    with LiveServer(create_app(settings), port=port):
        await watched.reload()
        assert await watched.page.evaluate("() => window.flushOutcome") == {
            "sent": 1,
            "kept": 0,
            "dropped": 0,
        }
    assert watched.posts[1].headers["idempotency-key"] == kept["key"]
    assert len(watched.posts) == 2
    assert await watched.pending() == []
    assert [v["is_helpful"] for v in await votes_on(api.url, "req-503")] == [True]
    assert watched.errors == []


async def test_a_vote_made_while_the_page_unloads_arrives_and_is_not_stored_twice(
    api: LiveServer, pages: PageServer, open_page: Callable[[str], Awaitable[Watched]]
) -> None:
    token = await log_interaction(api.url, "req-unload")
    leaving = f"""
  window.addEventListener("pagehide", () => {{
    feedback.sendFeedback({{
      baseUrl: "{api.url}", requestId: "req-unload", token: "{token}",
      isHelpful: false, stars: 2, comment: "said while leaving",
    }});
  }});
"""
    watched = await open_page(pages.write("leaving.html", page_html(api.url, script=leaving)))
    away = '<!doctype html><title>away</title><link rel="icon" href="data:,">'
    await watched.page.goto(pages.write("away.html", away))

    async def arrived() -> bool:
        return len(await votes_on(api.url, "req-unload")) == 1

    # keepalive: the request outlives its page.
    await eventually(arrived, "the vote sent while the page unloaded is stored")
    (vote,) = await votes_on(api.url, "req-unload")
    assert (vote["is_helpful"], vote["stars"], vote["comment"]) == (False, 2, "said while leaving")
    # The page was gone before the answer came, so the vote still waits in localStorage ...
    (kept,) = await watched.pending()

    # ... and the next page that imports the module sends it again, under the same key: the
    # server answers with its first answer and writes nothing.
    posts, answers = len(watched.posts), len(watched.answers)
    await watched.goto(pages.write("back.html", page_html(api.url)))
    assert await watched.page.evaluate("() => window.flushOutcome") == {
        "sent": 1,
        "kept": 0,
        "dropped": 0,
    }
    assert await watched.pending() == []
    (resend,) = watched.posts[posts:]
    assert resend.headers["idempotency-key"] == kept["key"]
    (answer,) = watched.answers[answers:]
    assert answer.status == 201
    assert await answer.header_value("idempotent-replayed") == "true"
    assert await votes_on(api.url, "req-unload") == [vote]
    assert vote["updated_at"] == vote["created_at"]
    assert watched.errors == []
