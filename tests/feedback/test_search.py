"""GET /v1/feedback?q=: a word search over question and answer, and over the comment."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from feedback_api.feedback import listing
from feedback_api.feedback.listing import FeedbackFilter, few_matches, matching, walk
from feedback_api.feedback.repository import FeedbackRepository
from feedback_api.kit.search import share
from tests.helpers import exchange


async def vote(client: httpx.AsyncClient, minute: int, **overrides: Any) -> str:
    body = exchange(rating=1, created_at=f"2026-03-01T{minute // 60:02d}:{minute % 60:02d}:00Z")
    body.update(overrides)
    r = await client.post("/v1/feedback", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def search(client: httpx.AsyncClient, q: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/feedback", params={"q": q, **params})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_q_finds_words_of_question_answer_or_comment(client: httpx.AsyncClient) -> None:
    in_question = await vote(client, 1, query="Why does my Kubernetes pod restart?")
    in_answer = await vote(client, 2, response="Check the liveness probe of the KUBERNETES pod")
    in_comment = await vote(client, 3, rating=-1, comment="It ignored kubernetes entirely")
    await vote(client, 4, query="How do I sort a list?", comment="fine")

    found = await search(client, "kubernetes")
    # Newest first, each once, whichever text matched.
    assert [item["id"] for item in found] == [in_comment, in_answer, in_question]
    # What one types while typing: the start of a word, in any case.
    assert [item["id"] for item in await search(client, "KUBE")] == [
        in_comment,
        in_answer,
        in_question,
    ]
    # Every word, in any order, anywhere in the exchange (question and answer together).
    assert [item["id"] for item in await search(client, "pod liveness")] == [in_answer]
    assert [item["id"] for item in await search(client, "restart kubernetes")] == [in_question]
    assert await search(client, "kubernetes helm") == []
    # Not the middle of a word: words, not fragments.
    assert await search(client, "bernetes") == []
    # Words of one or two characters are whole words.
    assert [item["id"] for item in await search(client, "my pod")] == [in_question]
    assert await search(client, "li") == []


async def test_q_with_the_other_filters(client: httpx.AsyncClient) -> None:
    await vote(client, 1, model="m-a", comment="slow answer")
    wanted = await vote(client, 2, model="m-b", rating=-1, comment="slow answer")
    await vote(client, 3, model="m-b", comment="slow answer")
    await vote(client, 4, model="m-b", rating=-1, comment="wrong answer")
    found = await search(client, "slow", model="m-b", is_helpful=False)
    assert [item["id"] for item in found] == [wanted]
    window = await search(
        client, "slow", since="2026-03-01T00:02:00Z", until="2026-03-01T00:03:00Z"
    )
    assert [item["id"] for item in window] == [wanted]


@pytest.mark.parametrize("q", ["snake_case", "snake-case", "SNAKE.case", "case snake"])
async def test_punctuation_separates_words(client: httpx.AsyncClient, q: str) -> None:
    wanted = await vote(client, 1, query="what is snake_case?")
    await vote(client, 2, query="what is a snake?")
    assert [i["id"] for i in await search(client, q)] == [wanted]


@pytest.mark.parametrize("q", ["a'b", "x:*y", "!(a|b)&", "c:\\temp", "100%", "<->", "'"])
async def test_search_syntax_typed_is_just_text(client: httpx.AsyncClient, q: str) -> None:
    """What to_tsquery would read as operators is only a word separator here."""
    await vote(client, 1, comment="a b x y c temp 100")
    r = await client.get("/v1/feedback", params={"q": q})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert q == "<->" or q == "'"


async def test_keyset_pages_of_a_search_over_both_tables(client: httpx.AsyncClient) -> None:
    """Matches alternate between the vote's comment and the exchange's question, with votes
    that match nothing in between: every page keeps the order, no vote twice, none lost."""
    expected = []
    for minute in range(36):
        if minute % 3 == 0:
            expected.append(await vote(client, minute, comment=f"zebra comment {minute}"))
        elif minute % 3 == 1:
            expected.append(await vote(client, minute, query=f"a Zebra question {minute}"))
        else:
            await vote(client, minute, comment="giraffe")
    # One matches in both tables: it must come once.
    both = await vote(client, 40, query="zebra here", comment="and zebra there")
    expected = [both, *reversed(expected)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"q": "zebra", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/feedback", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 5  # 25 matches, 5 a page: the last page is full, and no empty one follows


@pytest.mark.parametrize(
    ("q", "says"),
    [
        ("", "type a word"),
        ("   ", "type a word"),
        ("...", "type a word"),
        ("___", "type a word"),
        ("x" * 201, "at most 200 characters"),
        ("abc\x00", "NUL"),
    ],
)
async def test_a_search_without_words_or_too_long_is_422(
    client: httpx.AsyncClient, q: str, says: str
) -> None:
    r = await client.get("/v1/feedback", params={"q": q})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_input"
    assert body["detail"].startswith("q: ") and says in body["detail"], body["detail"]


async def test_one_letter_and_two_hundred_characters_are_fine(
    client: httpx.AsyncClient,
) -> None:
    long = " ".join(["word"] * 40)[:200]
    wanted = await vote(client, 1, comment=f"{long} x")
    assert [i["id"] for i in await search(client, long)] == [wanted]
    assert [i["id"] for i in await search(client, "  X ")] == [wanted]


async def test_the_search_can_use_its_indexes(connection: AsyncConnection) -> None:
    """The search's expressions are the migration's index expressions: with scans of the
    table and of its B-trees priced out, the plan reads both search indexes of the votes
    (their own words, their exchange's)."""
    statement = matching(FeedbackFilter(q="zebra"), 50, None)
    sql = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    # The settings go with the connection's transaction, rolled back after the test.
    await connection.execute(text("SET LOCAL enable_seqscan = off"))
    await connection.execute(text("SET LOCAL enable_indexscan = off"))
    plan = "\n".join(row[0] for row in await connection.execute(text("EXPLAIN " + sql)))
    for index in ("ix_feedback_search", "ix_feedback_exchange_search"):
        assert f"Bitmap Index Scan on {index}" in plan, plan


async def test_q_finds_the_correction_and_goes_with_reason(client: httpx.AsyncClient) -> None:
    wanted = await vote(
        client,
        1,
        rating=-1,
        reasons=["incorrect"],
        correction="Use a readiness probe instead",
    )
    await vote(client, 2, rating=-1, reasons=["too_long"], correction="A readiness probe")
    await vote(client, 3, rating=-1, reasons=["incorrect"], comment="wrong")
    assert [i["id"] for i in await search(client, "readiness", reason="incorrect")] == [wanted]
    assert len(await search(client, "readiness probe")) == 2
    # Changing the correction changes what the search finds (a generated column).
    r = await client.put(f"/v1/feedback/{wanted}", json={"correction": "Restart it"})
    assert r.status_code == 200, r.text
    assert [i["id"] for i in await search(client, "restart")] == [wanted]
    assert len(await search(client, "readiness")) == 1


async def test_walking_the_newest_votes_finds_what_the_index_finds(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Matches from the indexes (few, or what a walk left) or by a walk of the newest votes
    (many): both ways give the same pages."""
    for minute in range(30):
        await vote(client, minute, comment="otter" if minute % 2 else None, query=f"otter {minute}")
    where = FeedbackFilter(q="otter")
    async with engine.connect() as conn:
        assert (await conn.execute(few_matches("otter"))).scalar_one() == 30
        ways = (walk(where, 7, None, 100), matching(where, 7, None))
        pages = [[row.id for row in await conn.execute(stmt)] for stmt in ways]
    assert pages[0] == pages[1] and len(pages[0]) == 7


@pytest.mark.parametrize(("walked", "few"), [(3, 3), (40, 3), (3, 100)])
async def test_every_way_of_a_search_gives_the_same_pages(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    walked: int,
    few: int,
) -> None:
    """With the bounds made small, a search takes every way there is: a first walk that
    finds the page or not, matches few enough to read from the indexes or a walk, and
    walks that stop at WALK_ROWS votes short of a page (the rest from the indexes), words
    in the vote's comment and in its question; after an ANALYZE, the statistics send the
    common word straight to a walk: every page keeps the order, no vote twice, none lost."""
    monkeypatch.setattr(listing, "FIRST_WALK", 4)
    monkeypatch.setattr(listing, "FEW_MATCHES", few)
    monkeypatch.setattr(listing, "WALK_ROWS", walked)
    expected = []
    for minute in range(60):
        if minute < 20 and minute % 4 == 0:  # few in the vote's comment, all old
            expected.append(await vote(client, minute, comment=f"heron {minute}"))
        elif minute < 40 and minute % 2 == 1:  # many in the question, none among the newest
            expected.append(await vote(client, minute, query=f"a heron question {minute}"))
        else:
            await vote(client, minute, comment="ibis")
    expected.reverse()
    assert await all_pages(client, "heron") == expected
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE feedback, interactions"))
        await conn.commit()
    assert await all_pages(client, "heron") == expected


async def all_pages(client: httpx.AsyncClient, q: str) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": q, "limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/feedback", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_a_search_runs_without_parallel_workers(session: AsyncSession) -> None:
    """Parallel workers walk far past a page (docs/explorer.md): the search turns them off
    for its own transaction, and only there (here a savepoint: undone with it, the same)."""
    await FeedbackRepository(session).list(FeedbackFilter(q="anything"), 10, None)
    setting = await session.scalar(text("SHOW max_parallel_workers_per_gather"))
    assert setting == "0"
    await session.rollback()
    setting = await session.scalar(text("SHOW max_parallel_workers_per_gather"))
    assert setting != "0"


def test_the_share_of_rows_a_search_matches_by_the_statistics() -> None:
    """A prefix sums the common words it starts; every word must match: the smallest; a
    word the statistics do not list counts as none (the three extra shares: ANALYZE's)."""
    common, shares = ["kotlin", "kotlinx", "rust", "go"], [0.1, 0.05, 0.2, 0.3, 0.05, 0.3, 0.0]
    assert share("kot", common, shares) == pytest.approx(0.15)
    assert share("Kotlin RUST", common, shares) == pytest.approx(0.15)
    assert share("go", common, shares) == pytest.approx(0.3)
    assert share("g", common, shares) == 0.0  # one letter: whole words only
    assert share("rust zebra", common, shares) == 0.0


async def test_a_vote_carries_the_words_of_its_exchange_however_it_comes(
    client: httpx.AsyncClient,
) -> None:
    """The vote statement copies the exchange's words into the vote: for a vote with its
    exchange, by reference to one logged before, in a batch, and for a second vote on the
    same exchange; a vote replaced by the same user keeps them. A search still needs every
    word in the exchange or every word in the vote (not some of each)."""
    logged = {"query": "Where do pelicans nest?", "response": "On islands", "model": "m"}
    r = await client.post("/v1/interactions", json={"request_id": "pelican-1", **logged})
    assert r.status_code == 201, r.text
    by_reference = await client.post(
        "/v1/feedback", json={"request_id": "pelican-1", "is_helpful": True, "user_id": "u1"}
    )
    assert by_reference.status_code == 201, by_reference.text
    with_exchange = await vote(client, 5, query="A pelican question", user_id="u2")
    batch = {"items": [{"request_id": "pelican-1", "is_helpful": False, "user_id": "u3"}]}
    r = await client.post("/v1/feedback/batch", json=batch)
    assert r.status_code == 200 and r.json()["failed"] == 0, r.text
    replaced = await client.post(
        "/v1/feedback",
        json={"request_id": "pelican-1", "is_helpful": False, "user_id": "u1", "comment": "ok"},
    )
    assert replaced.status_code == 200, replaced.text
    found = {item["id"] for item in await search(client, "pelican")}
    # u1's vote (replaced, the same vote), u2's on its own exchange, u3's from the batch.
    assert len(found) == 3 and {with_exchange, by_reference.json()["id"]} <= found
    assert len(await search(client, "nest islands")) == 2
    assert await search(client, "islands ok") == []


async def test_markup_in_an_answer_is_searched_as_docs_explorer_md_says(
    client: httpx.AsyncClient,
) -> None:
    # PostgreSQL's parser reads tags as markup: the text between tags is searchable; a tag
    # itself, and the content of <script> and <style> elements, are not (docs/explorer.md).
    await vote(
        client,
        1,
        response='Wrap it: <b>quokka</b> <div class="wombat">numbat</div> '
        "<script>zanzibar();</script> <style>.okapi{}</style> then axolotl",
    )
    for found in ("quokka", "numbat", "axolotl", "wrap"):
        assert len(await search(client, found)) == 1, found
    for hidden in ("wombat", "zanzibar", "okapi"):
        assert await search(client, hidden) == [], hidden
