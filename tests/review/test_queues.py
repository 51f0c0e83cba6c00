"""Queues, adding answers, claims, leases and labels through the HTTP API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange
from tests.review.helpers import (
    ADMIN,
    KEYS,
    READ,
    add,
    as_open,
    claim,
    log_answers,
    new_queue,
    reviewer,
    submit,
)


@pytest.fixture
async def keyed(make_client: Any) -> Any:
    async with make_client(api_keys=KEYS) as client:
        yield client


async def test_queue_lifecycle_and_progress(client: httpx.AsyncClient) -> None:
    ids = await log_answers(client, 3)
    queue_id = await new_queue(client, name="answers", instructions="# Check the *facts*")
    r = await client.post("/v1/review/queues", json={"name": "answers"})
    assert r.status_code == 409 and "answers" in r.json()["detail"]
    added = await add(client, queue_id, [*ids, ids[0], "nope"])
    assert added == {"added": 3, "already_queued": 0, "unknown": ["nope"]}
    again = await add(client, queue_id, ids[:2])
    assert again == {"added": 0, "already_queued": 2, "unknown": []}
    queue = (await client.get(f"/v1/review/queues/{queue_id}")).json()
    assert queue["progress"]["items"] == {
        "pending": 3, "in_review": 0, "done": 0, "needs_adjudication": 0
    }  # fmt: skip
    lease = await claim(client, queue_id, as_open("ann"))
    assert lease is not None and lease["interaction"]["request_id"] in ids
    assert "votes" not in lease and "labels" not in lease  # blind by default
    r = await submit(client, lease, as_open("ann"), "incorrect", reasons=["incomplete"])
    assert r.status_code == 201, r.text
    queue = (await client.get(f"/v1/review/queues/{queue_id}")).json()
    assert queue["progress"]["items"]["done"] == 1
    assert queue["progress"]["labels"] == {"ann": 1}
    r = await client.patch(f"/v1/review/queues/{queue_id}", json={"closed": True})
    assert r.status_code == 200 and r.json()["closed"] is True
    closed = await client.post(f"/v1/review/queues/{queue_id}/claim", headers=as_open("ann"))
    # Not 204 ("nothing left, look again"): closed says to stop until it is reopened.
    assert closed.status_code == 409, closed.text
    assert "'answers' is closed" in closed.json()["detail"]
    assert '{"closed": false}' in closed.json()["detail"]
    r = await client.patch(f"/v1/review/queues/{queue_id}", json={"closed": False})
    assert r.status_code == 200 and r.json()["closed"] is False
    assert await claim(client, queue_id, as_open("ann")) is not None  # the two answers left
    listed = (await client.get("/v1/review/queues")).json()["queues"]
    assert [q["name"] for q in listed] == ["answers"]


async def test_open_mode_needs_x_reviewer(client: httpx.AsyncClient) -> None:
    queue_id = await new_queue(client)
    r = await client.post(f"/v1/review/queues/{queue_id}/claim")
    assert r.status_code == 422 and "X-Reviewer" in r.json()["detail"]
    r = await client.post(f"/v1/review/queues/{queue_id}/claim", headers={"X-Reviewer": "a b"})
    assert r.status_code == 422 and "not a name" in r.json()["detail"]


async def test_scopes_and_named_reviewers(keyed: httpx.AsyncClient) -> None:
    r = await keyed.post("/v1/review/queues", json={"name": "q"}, headers=reviewer("alice"))
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    queue_id = await new_queue(keyed, ADMIN, reviewers_per_item=2, blind=False)
    [request_id] = await log_answers(keyed, 1, headers={"X-API-Key": "ingest-key-0123456789"})
    await add(keyed, queue_id, [request_id], ADMIN)
    assert (await keyed.get("/v1/review/queues", headers=reviewer("alice"))).status_code == 200
    assert (await keyed.get("/v1/review/queues", headers=READ)).status_code == 200
    r = await keyed.post(f"/v1/review/queues/{queue_id}/claim", headers=READ)
    assert r.status_code == 403 and "review" in r.json()["detail"]
    first = await claim(keyed, queue_id, reviewer("alice"))
    assert first is not None and first["votes"] == [] and first["labels"] == []
    # alice holds a slot: the second goes to someone else, never to her.
    assert await claim(keyed, queue_id, reviewer("alice")) is None
    second = await claim(keyed, queue_id, reviewer("bob"))
    assert second is not None and second["item_id"] == first["item_id"]
    assert (await submit(keyed, first, reviewer("alice"))).status_code == 201
    # bob's claim came before alice's label; a third reviewer finds nothing left.
    assert await claim(keyed, queue_id, reviewer("carol")) is None
    r = await submit(keyed, second, reviewer("alice"))
    assert r.status_code == 403 and "bob" in r.json()["detail"]
    r = await submit(keyed, second, reviewer("bob"), "incorrect")
    assert r.status_code == 201 and r.json()["reviewer"] == "bob"
    item = (await keyed.get(f"/v1/review/items/{first['item_id']}", headers=READ)).json()
    assert item["status"] == "needs_adjudication" and item["consensus"]["verdict"] is None
    assert sorted(label["reviewer"] for label in item["labels"]) == ["alice", "bob"]
    r = await keyed.post(
        f"/v1/review/items/{first['item_id']}/adjudicate",
        json={"verdict": "incorrect", "reasons": ["incorrect"], "note": "the date is wrong"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["status"] == "done"
    assert decided["consensus"] == {
        "verdict": "incorrect",
        "method": "adjudicated",
        "decided_at": decided["consensus"]["decided_at"],
        "reasons": ["incorrect"],
    }


async def test_submit_rules(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    ids = await log_answers(client, 2)
    queue_id = await new_queue(client, lease_seconds=30)
    await add(client, queue_id, ids)
    lease = await claim(client, queue_id, as_open("ann"))
    assert lease is not None
    no_token = await client.post(
        f"/v1/review/assignments/{lease['assignment_id']}/submit",
        json={"verdict": "correct"},
        headers=as_open("ann"),
    )
    assert no_token.status_code == 422 and "lease_token" in no_token.json()["detail"]
    bad_verdict = await submit(client, lease, as_open("ann"), "maybe")
    assert bad_verdict.status_code == 422
    bad_reason = await submit(client, lease, as_open("ann"), "incorrect", reasons=["boring"])
    assert bad_reason.status_code == 422 and "boring" in bad_reason.json()["detail"]
    wrong = await submit(client, {**lease, "lease_token": lease["assignment_id"]}, as_open("ann"))
    assert wrong.status_code == 409 and "lease_token" in wrong.json()["detail"]
    assert await count(engine, "review_labels") == 0
    # The lease runs out; nobody took the slot: the label is still accepted.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE review_slots SET leased_until = now() - interval '1 s'"))
    ok = await submit(client, lease, as_open("ann"))
    assert ok.status_code == 201
    twice = await submit(client, lease, as_open("ann"))
    assert twice.status_code == 409 and "submitted already" in twice.json()["detail"]
    # A lease that ran out and that someone else took is refused, and nothing is stored.
    taken = await claim(client, queue_id, as_open("ann"))
    assert taken is not None
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE review_slots SET leased_until = now() - interval '1 s'"))
    other = await claim(client, queue_id, as_open("ben"))
    assert other is not None and other["item_id"] == taken["item_id"]
    late = await submit(client, taken, as_open("ann"))
    assert late.status_code == 409 and "someone else" in late.json()["detail"]
    assert await count(engine, "review_labels") == 1
    # A lease that ran out and that its reviewer took back by claiming again: the refusal
    # names the assignment that holds the place now.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE review_slots SET leased_until = now() - interval '1 s'"))
    again = await claim(client, queue_id, as_open("ben"))
    assert again is not None and again["item_id"] == other["item_id"]
    stale = await submit(client, other, as_open("ben"))
    assert stale.status_code == 409, stale.text
    assert (
        f"claimed its place again as assignment {again['assignment_id']}" in stale.json()["detail"]
    )
    assert (await submit(client, again, as_open("ben"))).status_code == 201
    labelled = await submit(client, other, as_open("ben"))
    assert labelled.status_code == 409 and "you labelled its place since" in labelled.text
    missing = await client.post(
        f"/v1/review/assignments/{lease['lease_token']}/submit",
        json={"lease_token": lease["lease_token"], "verdict": "correct"},
        headers=as_open("ann"),
    )
    assert missing.status_code == 404


async def test_release_decline_heartbeat(client: httpx.AsyncClient) -> None:
    ids = await log_answers(client, 1)
    queue_id = await new_queue(client)
    await add(client, queue_id, ids)
    lease = await claim(client, queue_id, as_open("ann"))
    assert lease is not None
    path = f"/v1/review/assignments/{lease['assignment_id']}"
    token = {"lease_token": lease["lease_token"]}
    beat = await client.post(f"{path}/heartbeat", json=token, headers=as_open("ann"))
    assert beat.status_code == 200 and beat.json()["leased_until"] >= lease["leased_until"]
    assert (
        await client.post(f"{path}/release", json=token, headers=as_open("ann"))
    ).status_code == 204
    again = await client.post(f"{path}/release", json=token, headers=as_open("ann"))
    assert again.status_code == 409 and "released" in again.json()["detail"]
    back = await claim(client, queue_id, as_open("ann"))  # released: hers to take again
    assert back is not None and back["item_id"] == lease["item_id"]
    path = f"/v1/review/assignments/{back['assignment_id']}"
    skip = await client.post(
        f"{path}/decline", json={"lease_token": back["lease_token"]}, headers=as_open("ann")
    )
    assert skip.status_code == 204
    assert await claim(client, queue_id, as_open("ann")) is None  # declined: never again
    assert await claim(client, queue_id, as_open("ben")) is not None


async def test_label_edit_keeps_history_and_recounts(keyed: httpx.AsyncClient) -> None:
    [request_id] = await log_answers(keyed, 1, headers={"X-API-Key": "ingest-key-0123456789"})
    queue_id = await new_queue(keyed, ADMIN)
    await add(keyed, queue_id, [request_id], ADMIN)
    lease = await claim(keyed, queue_id, reviewer("alice"))
    assert lease is not None
    label = (await submit(keyed, lease, reviewer("alice"))).json()
    item_path = f"/v1/review/items/{lease['item_id']}"
    assert (await keyed.get(item_path, headers=READ)).json()["consensus"]["verdict"] == "correct"
    change = {"verdict": "incorrect", "reasons": ["incorrect"], "correction": "42"}
    r = await keyed.put(f"/v1/review/labels/{label['id']}", json=change, headers=reviewer("bob"))
    assert r.status_code == 403 and "alice" in r.json()["detail"]
    r = await keyed.put(f"/v1/review/labels/{label['id']}", json=change, headers=reviewer("alice"))
    assert r.status_code == 200 and r.json()["version"] == 2
    item = (await keyed.get(item_path, headers=READ)).json()
    assert (
        item["consensus"]["verdict"] == "incorrect" and item["consensus"]["method"] == "unanimous"
    )
    history_path = f"/v1/review/labels/{label['id']}/history"
    history = (await keyed.get(history_path, headers=READ)).json()
    assert [(v["version"], v["verdict"]) for v in history["versions"]] == [
        (1, "correct"),
        (2, "incorrect"),
    ]
    # A reviewer reads their own label's history, never another's (blind queues).
    assert (await keyed.get(history_path, headers=reviewer("alice"))).json() == history
    r = await keyed.get(history_path, headers=reviewer("bob"))
    assert r.status_code == 403 and "its own labels" in r.json()["detail"], r.text
    r = await keyed.put("/v1/review/labels/" + lease["item_id"], json=change, headers=ADMIN)
    assert r.status_code == 404


async def test_unknown_things_are_404(client: httpx.AsyncClient) -> None:
    nobody = "00000000-0000-0000-0000-000000000000"
    for method, path in [
        ("GET", f"/v1/review/queues/{nobody}"),
        ("GET", f"/v1/review/items/{nobody}"),
        ("GET", f"/v1/review/labels/{nobody}/history"),
        ("POST", f"/v1/review/queues/{nobody}/claim"),
    ]:
        r = await client.request(method, path, headers=as_open("ann"))
        assert r.status_code == 404, (path, r.text)
    queue_id = await new_queue(client)
    too_many = [f"r{i}" for i in range(1001)]
    r = await client.post(f"/v1/review/queues/{queue_id}/items", json={"request_ids": too_many})
    assert r.status_code == 422 and "1000" in r.json()["detail"]
    r = await client.post("/v1/review/queues", json={"name": "x", "reviewers_per_item": 6})
    assert r.status_code == 422


async def test_labelled_items_first_then_oldest(client: httpx.AsyncClient) -> None:
    older, newer, newest = await log_answers(client, 3)
    queue_id = await new_queue(client, reviewers_per_item=2)
    for request_id in (older, newer, newest):  # queued one after another
        await add(client, queue_id, [request_id])
    first = await claim(client, queue_id, as_open("ann"))
    assert first is not None and first["interaction"]["request_id"] == older
    skip = f"/v1/review/assignments/{first['assignment_id']}/decline"
    r = await client.post(skip, json={"lease_token": first["lease_token"]}, headers=as_open("ann"))
    assert r.status_code == 204
    second = await claim(client, queue_id, as_open("ann"))
    assert second is not None and second["interaction"]["request_id"] == newer
    assert (await submit(client, second, as_open("ann"))).status_code == 201
    # The item with a label goes out before the older one without.
    third = await claim(client, queue_id, as_open("ben"))
    assert third is not None and third["interaction"]["request_id"] == newer
    fourth = await claim(client, queue_id, as_open("ben"))
    assert fourth is not None and fourth["interaction"]["request_id"] == older


async def test_a_queue_name_or_instructions_with_nul_are_refused(
    client: httpx.AsyncClient,
) -> None:
    for body in ({"name": "q\u0000"}, {"name": "q", "instructions": "read\u0000 carefully"}):
        r = await client.post("/v1/review/queues", json=body)
        assert r.status_code == 422, r.text
        [error] = r.json()["errors"]
        assert error["field"] in ("name", "instructions") and "NUL" in error["message"], error
    queue_id = await new_queue(client)
    r = await client.patch(f"/v1/review/queues/{queue_id}", json={"instructions": "\u0000"})
    assert r.status_code == 422 and "NUL" in r.json()["errors"][0]["message"], r.text


async def test_an_item_shows_its_answer_with_the_answers_own_id_and_time(
    client: httpx.AsyncClient,
) -> None:
    (request_id,) = await log_answers(client, 1, created_at="2026-01-02T03:04:05Z")
    queue_id = await new_queue(client)
    await add(client, queue_id, [request_id])
    (listed,) = (await client.get(f"/v1/review/queues/{queue_id}/items")).json()["items"]
    item = (await client.get(f"/v1/review/items/{listed['id']}")).json()
    answer = (await client.get(f"/v1/interactions/{item['interaction_id']}")).json()
    assert item["id"] == listed["id"] and item["request_id"] == request_id
    assert item["interaction"] == answer  # its id and created_at are the answer's, not the item's
    assert item["interaction"]["id"] != item["id"]
    assert item["interaction"]["created_at"].startswith("2026-01-02T03:04:05")


async def test_an_admin_adjudicates_a_tie_or_overrules_a_consensus_not_an_open_item(
    client: httpx.AsyncClient,
) -> None:
    (request_id,) = await log_answers(client, 1)
    queue_id = await new_queue(client, reviewers_per_item=2)
    await add(client, queue_id, [request_id])
    lease = await claim(client, queue_id, as_open("ann"))
    assert lease is not None
    assert (await submit(client, lease, as_open("ann"), "correct")).status_code == 201
    path = f"/v1/review/items/{lease['item_id']}/adjudicate"
    early = await client.post(path, json={"verdict": "incorrect"}, headers=as_open("lead"))
    assert early.status_code == 409 and "1 of its labels" in early.json()["detail"], early.text
    lease = await claim(client, queue_id, as_open("ben"))
    assert lease is not None
    assert (await submit(client, lease, as_open("ben"), "correct")).status_code == 201
    item = (await client.get(f"/v1/review/items/{lease['item_id']}")).json()
    assert item["consensus"]["method"] == "unanimous"
    overruled = await client.post(path, json={"verdict": "incorrect"}, headers=as_open("lead"))
    assert overruled.status_code == 200, overruled.text
    consensus = overruled.json()["consensus"]
    assert (consensus["verdict"], consensus["method"]) == ("incorrect", "adjudicated")


async def test_a_filter_searches_as_the_vote_list_does(client: httpx.AsyncClient) -> None:
    for n, words in enumerate(("the printer jams", "a kettle boils")):
        body = exchange(request_id=f"f-{n}", query=words, response=words, rating=1)
        assert (await client.post("/v1/feedback", json=body)).status_code == 201
    queue_id = await new_queue(client)
    path = f"/v1/review/queues/{queue_id}/items"
    found = await client.post(path, json={"filter": {"q": "print"}, "limit": 10})
    assert found.status_code == 200 and found.json()["added"] == 1, found.text
    # No word in it: refused as GET /v1/feedback?q= refuses it, not a search for nothing.
    for q in ("&|!", "x\u0000y"):
        r = await client.post(path, json={"filter": {"q": q}, "limit": 10})
        listed = await client.get("/v1/feedback", params={"q": q})
        assert (r.status_code, listed.status_code) == (422, 422), (q, r.text)
        assert r.json()["errors"][0]["field"] == "filter.q", r.text


async def test_a_filter_on_a_reason_no_vote_can_carry_is_refused(
    client: httpx.AsyncClient,
) -> None:
    queue_id = await new_queue(client)
    path = f"/v1/review/queues/{queue_id}/items"
    r = await client.post(path, json={"filter": {"reason": "bogus"}, "limit": 10})
    assert r.status_code == 422 and "filter.reason" in r.json()["detail"], r.text
    ok = await client.post(path, json={"filter": {"reason": "incorrect"}, "limit": 10})
    assert ok.status_code == 200, ok.text
    # A label the project's set has dropped since stays on the votes cast under it.
    assert (await client.put("/v1/projects/acme/reasons", json={"reasons": ["legacy"]})).is_success
    body = exchange(request_id="old-label", project="acme", rating=-1, reasons=["legacy"])
    assert (await client.post("/v1/feedback", json=body)).status_code == 201
    assert (await client.put("/v1/projects/acme/reasons", json={"reasons": ["newer"]})).is_success
    legacy = {"filter": {"reason": "legacy", "project": "acme"}, "limit": 10}
    found = await client.post(path, json=legacy)
    assert found.status_code == 200 and found.json()["added"] == 1, found.text
