"""The weekly report's section on why answers were voted down, per model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from feedback_api.kit.time import Week
from tests.helpers import exchange


async def _votes(client: httpx.AsyncClient) -> None:
    monday = Week.containing(datetime.now(UTC).date()).start.isoformat()
    bodies: list[dict[str, Any]] = [
        {"model": "m1", "rating": -1, "reasons": ["incorrect", "too_long"]},
        {"model": "m1", "rating": -1, "reasons": ["incorrect"]},
        {"model": "m1", "rating": -1},
        {"model": "m1", "rating": -1, "reasons": ["unsafe"]},
        {"model": "m1", "rating": 1, "reasons": ["other"]},  # an up-vote's reason: not here
        {"model": "m2", "rating": -1},
        {"model": "m3", "rating": 1},
    ]
    for n, body in enumerate(bodies):
        r = await client.post(
            "/v1/feedback", json=exchange(request_id=f"w{n}", created_at=monday, **body)
        )
        assert r.status_code == 201, r.text


async def test_the_report_says_why_answers_were_voted_down(client: httpx.AsyncClient) -> None:
    await _votes(client)
    report = (await client.get("/v1/reports/weekly")).json()
    models = {m["model"]: m for m in report["models"]}
    m1 = models["m1"]
    assert m1["downvotes"] == 4
    assert m1["downvote_reasons"] == [
        {"reason": "incorrect", "downvotes": 2, "share_of_downvotes": 0.5},
        {"reason": "too_long", "downvotes": 1, "share_of_downvotes": 0.25},
        {"reason": "unsafe", "downvotes": 1, "share_of_downvotes": 0.25},
    ]
    assert m1["downvotes_without_reason"] == 1
    assert models["m2"]["downvotes"] == 1 and models["m2"]["downvote_reasons"] == []
    assert models["m2"]["downvotes_without_reason"] == 1
    assert models["m3"]["downvotes"] == 0

    markdown = (await client.get("/v1/reports/weekly", params={"format": "md"})).text
    assert "## Why answers were voted down" in markdown
    line = "- m1, 4 down-votes: incorrect 50 % (2), too_long 25 % (1), unsafe 25 % (1)"
    assert line + "; (no reason given) (1)" in markdown
    assert "- m2, 1 down-votes: (no reason given) (1)" in markdown
    assert "- m3: no down-votes." in markdown

    page = (await client.get("/v1/reports/weekly", params={"format": "html"})).text
    assert "<h2>Why answers were voted down</h2>" in page
    assert "<td rowspan=4>m1</td><td>incorrect</td><td class=num>2</td>" in page
    assert "<td>(no reason given)</td><td class=num>1</td>" in page  # m1's silent down-vote
    assert "<td>(no reason given)</td>" in page  # m2
