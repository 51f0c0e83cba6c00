"""The weekly report and the metrics count the same votes: over the week's seven days, the
report's feedback_rate, down-votes and down-vote reasons are those of /v1/metrics/daily and
/v1/metrics/reasons (a vote counts on its answer's day, whenever it was cast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from feedback_api.kit.time import last_finished_week
from tests.helpers import exchange

REASONS: tuple[list[str], ...] = (["incorrect"], ["incorrect", "too_long"], [], ["unsafe"])


async def test_the_report_agrees_with_the_daily_metrics_over_its_days(
    client: httpx.AsyncClient,
) -> None:
    week = last_finished_week(datetime.now(UTC))
    answers = [
        (f"a{i}", week.start + timedelta(hours=8 * i + 1), ("m1", "m2")[i % 2]) for i in range(21)
    ]
    # An answer of the week before, voted on during this week: in neither.
    answers.append(("before", week.start - timedelta(hours=1), "m1"))
    for request_id, at, model in answers:
        body = exchange(request_id=request_id, model=model, created_at=at.isoformat())
        assert (await client.post("/v1/interactions", json=body)).status_code == 201
    for i, (request_id, _, _) in enumerate(answers):
        if i % 3 == 0:
            continue  # no vote: feedback_rate below 1
        vote: dict[str, Any] = {"request_id": request_id, "user_id": f"u{i}"}
        reasons = REASONS[(i // 2) % len(REASONS)]
        vote |= {"rating": 1} if i % 5 == 0 else {"rating": -1, "reasons": reasons}
        if request_id == "before":
            vote["created_at"] = (week.start + timedelta(hours=2)).isoformat()
        # Cast now, days after the answer (unless dated above).
        r = await client.post("/v1/feedback", json=vote)
        assert r.status_code == 201, r.text
    assert (await client.post("/v1/admin/refresh")).status_code == 200

    report = (await client.get("/v1/reports/weekly", params={"week": str(week)})).json()
    days = {
        "since": week.monday.isoformat(),
        "until": (week.monday + timedelta(days=6)).isoformat(),
    }
    assert {m["model"] for m in report["models"]} == {"m1", "m2"}
    for m in report["models"]:
        daily = (await client.get("/v1/metrics/daily", params={**days, "model": m["model"]})).json()
        items = daily["items"]
        assert len(items) == 7
        asked = sum(i["total_queries"] for i in items)
        answered = sum(round((i["feedback_rate"] or 0) * i["total_queries"]) for i in items)
        assert asked == m["volume"]
        assert m["feedback_rate"] == pytest.approx(answered / asked)
        assert m["downvotes"] == sum(i["negative"] for i in items) > 0
        reasons = (
            await client.get("/v1/metrics/reasons", params={**days, "model": m["model"]})
        ).json()["items"]
        assert [
            (r["reason"], r["down_votes"], pytest.approx(r["share_of_down_votes"]))
            for r in reasons
            if r["down_votes"]
        ] == [(r["reason"], r["downvotes"], r["share_of_downvotes"]) for r in m["downvote_reasons"]]
        assert m["downvote_reasons"]
