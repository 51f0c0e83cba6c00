"""A text with more distinct words than PostgreSQL's search words keep (1 MB of them) is
refused as its own request's problem: a 422 for it, never a 500, and never a failure of the
votes written in the same group."""

from __future__ import annotations

import asyncio
import itertools
import string

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange


def wordy(words: int = 140_000) -> str:
    """`words` distinct words of four letters: about 700,000 characters, under the field's
    limit of 1,000,000, whose search words take 1.1 MB."""
    made = ("".join(w) for w in itertools.product(string.ascii_lowercase, repeat=4))
    return " ".join(itertools.islice(made, words))


TOO_MANY = "more distinct words than the search index keeps"


async def test_an_exchange_or_a_vote_with_too_many_words_is_a_422(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    text = wordy()
    for path, body in (
        ("/v1/interactions", exchange(request_id="wordy-1", response=text)),
        ("/v1/feedback", exchange(request_id="wordy-2", response=text, rating=1)),
        ("/v1/feedback", exchange(request_id="wordy-3", rating=-1, correction=text)),
    ):
        r = await client.post(path, json=body)
        assert r.status_code == 422 and TOO_MANY in r.json()["detail"], (path, r.text)
    assert await count(engine, "interactions") == 0


async def test_a_vote_with_too_many_words_fails_alone_in_its_group(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    text = wordy()
    bodies = [exchange(request_id=f"fine-{n}", rating=1) for n in range(20)]
    bodies[7:7] = [exchange(request_id=f"wordy-{n}", response=text, rating=1) for n in range(2)]
    answers = await asyncio.gather(*(client.post("/v1/feedback", json=b) for b in bodies))
    statuses = {b["request_id"]: a.status_code for b, a in zip(bodies, answers, strict=True)}
    assert statuses == {**{f"fine-{n}": 201 for n in range(20)}, "wordy-0": 422, "wordy-1": 422}
    assert await count(engine, "feedback") == 20


async def test_a_batch_refuses_such_an_item_alone_and_stores_the_others(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    text = wordy()
    # (One such text a batch: two would be over the body's limit of 1 MiB.)
    for wordy_vote, fields in (
        (exchange(request_id="b-wordy-0", response=text, rating=1), "query, response"),
        (exchange(request_id="b-wordy-1", rating=-1, correction=text), "comment, correction"),
    ):
        fine = [exchange(request_id=f"b-fine-{fields[0]}-{n}", rating=1) for n in range(2)]
        r = await client.post("/v1/feedback/batch", json={"items": [fine[0], wordy_vote, fine[1]]})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [x["status"] for x in results] == [201, 422, 201], results
        assert fields in results[1]["error"] and TOO_MANY in results[1]["error"]
    exchanges = [exchange(request_id="i-fine"), exchange(request_id="i-wordy", query=text)]
    r = await client.post("/v1/interactions/batch", json={"items": exchanges})
    assert [x["status"] for x in r.json()["results"]] == [201, 422], r.text
    assert await count(engine, "feedback") == 4 and await count(engine, "interactions") == 5


async def test_a_long_text_whose_words_fit_is_stored(client: httpx.AsyncClient) -> None:
    # Long, but few distinct words: asked of the database, and kept.
    long = "the same few words again " * 12_000  # 300,000 characters
    r = await client.post(
        "/v1/feedback/batch", json={"items": [exchange(request_id="long", response=long, rating=1)]}
    )
    assert r.json()["results"][0]["status"] == 201, r.text
