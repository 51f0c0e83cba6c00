"""weighted's first lines (the first example with an intent, with a project, with reasons),
whatever the window holds: each kind present, rare, absent from the window but present
before it, absent; found alike from the votes themselves (no refresh yet), from the cast
hours the rollups keep, and from those plus the votes logged since the last refresh."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

NOW = datetime.now(UTC)


def vote(n: int, hours_ago: float, **extra: Any) -> dict[str, Any]:
    """A vote with its exchange (question `q{n}`), cast `hours_ago`."""
    return {
        "query": f"q{n}",
        "response": f"answer {n}",
        "model": "m1",
        "rating": 1,
        "user_id": f"u{n}",
        "created_at": (NOW - timedelta(hours=hours_ago)).isoformat(),
        **extra,
    }


async def write(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    r = await client.post("/v1/feedback/batch", json={"items": items})
    assert r.status_code in (200, 201) and r.json()["created"] == len(items), r.text


async def refresh(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/admin/refresh", params={"full": "true"})
    assert r.status_code == 200, r.text


async def questions(client: httpx.AsyncClient, **body: Any) -> list[str]:
    """The question of each line of the weighted export over 7 days, in order."""
    r = await client.post(
        "/v1/feedback/export/finetuning", json={"days": 7, "format": "weighted", **body}
    )
    assert r.status_code == 200, r.text
    return [json.loads(line)["messages"][-2]["content"] for line in r.text.splitlines()]


# 40 votes on exchanges with no intent, no project and no reasons, one an hour from six
# days ago: the window's bulk (q0-q39).
PLAIN = [vote(n, 144 - n) for n in range(40)]


async def test_rare_kinds_come_first_from_the_votes_the_rollups_and_the_log(
    client: httpx.AsyncClient,
) -> None:
    rare = [
        # a tie (one up, one down on twin exchanges) with an intent, before the others: not
        # written, so the first line with an intent is the next one, in a later hour
        {**vote(100, 130, intent="code"), "query": "tied", "response": "tied answer"},
        {**vote(101, 130, intent="code", rating=-1), "query": "tied", "response": "tied answer"},
        vote(102, 48, intent="code"),
        vote(103, 20, intent="code"),  # a later one: not the first
        vote(104, 72, project="p"),
        vote(105, 24, reasons=["incorrect"], rating=-1),
        vote(106, 100, intent="other", model="m2"),  # another model, earlier
        vote(107, 400, intent="code", project="p", reasons=["incorrect"]),  # before the window
    ]
    await write(client, [*PLAIN, *rare])
    everything = {f"q{n}" for n in range(40)} | {"q102", "q103", "q104", "q105", "q106"}
    # With no refresh yet the export reads the votes; then the hours the rollups keep.
    for _ in ("votes", "rollups"):
        lines = await questions(client)
        assert lines[:3] == ["q106", "q104", "q105"]
        assert sorted(lines) == sorted(everything)
        filtered = await questions(client, model="m1")
        assert filtered[:3] == ["q102", "q104", "q105"]
        assert sorted(filtered) == sorted(everything - {"q106"})
        await refresh(client)
    # Votes cast since the refresh: their hours are read from the change log, earlier ones
    # win (one in an hour the rollups keep without reasons, one in an hour they do not have).
    await write(client, [vote(108, 110, reasons=["incorrect"]), vote(109, 160, project="p")])
    lines = await questions(client, model="m1")
    assert lines[:3] == ["q102", "q109", "q108"]
    assert len(lines) == len(everything) + 1


async def test_kinds_only_before_the_window_or_nowhere_add_no_first_line(
    client: httpx.AsyncClient,
) -> None:
    await write(client, PLAIN)
    streamed = await questions(client)
    assert sorted(streamed) == sorted(f"q{n}" for n in range(40))
    old = vote(200, 300, intent="code", project="p", reasons=["incorrect"])
    await write(client, [old])
    for _ in ("votes", "rollups"):
        # The old vote's kinds are before the window: the lines are the window's, as they
        # stream, with no line moved first.
        assert await questions(client) == streamed
        await refresh(client)
    assert await questions(client) == streamed


async def test_kinds_everywhere_put_the_earliest_vote_first(client: httpx.AsyncClient) -> None:
    every = [vote(n, 144 - n, intent="code", project="p", reasons=["incorrect"]) for n in range(20)]
    await write(client, list(reversed(every)))
    for _ in ("votes", "rollups"):
        lines = await questions(client)
        assert lines[0] == "q0" and sorted(lines) == sorted(f"q{n}" for n in range(20))
        await refresh(client)
