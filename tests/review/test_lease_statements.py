"""Each lease request is one statement on the database, and what that statement decides by
itself (the queue's lease, instructions and label set; the reasons a submit may give) is
what the slower path decided."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool

from feedback_api.review.claims import (
    CLAIM,
    RELEASE,
    SUBMIT,
    _free,
    claim_statement,
    submit_statement,
)
from tests.helpers import count
from tests.review.helpers import add, as_open, claim, log_answers, new_queue, submit


@contextmanager
def queries() -> Iterator[list[str]]:
    """Every query the app's connections send from now on: the statements SQLAlchemy runs
    and those asyncpg sends by itself (a pool's pre-ping, BEGIN, COMMIT, ROLLBACK)."""
    seen: list[str] = []

    def driver(record: Any) -> None:
        seen.append(record.query)

    def opened(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(driver)

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(Pool, "connect", opened)
    event.listen(Engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Pool, "connect", opened)


async def test_each_lease_request_is_one_round_trip(make_client: Any) -> None:
    with queries() as seen:
        async with make_client() as client:
            ids = await log_answers(client, 4)
            queue_id = await new_queue(client, reviewers_per_item=1)
            await add(client, queue_id, ids)
            ann = as_open("ann")
            # A new connection's first use runs SQLAlchemy's own set-up: a first claim and
            # submit open the connections the pools then reuse.
            warm = await claim(client, queue_id, ann)
            assert warm is not None
            assert (await submit(client, warm, ann)).status_code == 201
            for _ in range(2):
                seen.clear()
                lease = await claim(client, queue_id, ann)
                assert lease is not None
                assert len(seen) == 1, seen
                seen.clear()
                body = {"lease_token": lease["lease_token"]}
                beat = await client.post(
                    f"/v1/review/assignments/{lease['assignment_id']}/heartbeat",
                    json=body,
                    headers=ann,
                )
                assert beat.status_code == 200 and len(seen) == 1, seen
                seen.clear()
                assert (await submit(client, lease, ann)).status_code == 201
                assert len(seen) == 1, seen
            lease = await claim(client, queue_id, ann)
            assert lease is not None
            seen.clear()
            r = await client.post(
                f"/v1/review/assignments/{lease['assignment_id']}/release",
                json={"lease_token": lease["lease_token"]},
                headers=ann,
            )
            assert r.status_code == 204 and len(seen) == 1, seen


async def test_a_claim_takes_its_queue_as_it_is_now(client: httpx.AsyncClient) -> None:
    ids = await log_answers(client, 2, project="acme")
    queue_id = await new_queue(client, lease_seconds=45, instructions="*one*", project="acme")
    await add(client, queue_id, ids)
    before = datetime.now(UTC)
    lease = await claim(client, queue_id, as_open("ann"))
    assert lease is not None
    leased_until = datetime.fromisoformat(lease["leased_until"])
    assert before + timedelta(seconds=40) < leased_until < before + timedelta(seconds=60)
    assert lease["instructions"] == "*one*" and "incorrect" in lease["label_set"]
    r = await client.put("/v1/projects/acme/reasons", json={"reasons": ["wrong_date", "rude"]})
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"/v1/review/queues/{queue_id}", json={"instructions": "two", "lease_seconds": 600}
    )
    assert r.status_code == 200, r.text
    before = datetime.now(UTC)
    second = await claim(client, queue_id, as_open("bob"))
    assert second is not None
    assert second["label_set"] == ["wrong_date", "rude"] and second["instructions"] == "two"
    leased_until = datetime.fromisoformat(second["leased_until"])
    assert before + timedelta(seconds=590) < leased_until < before + timedelta(seconds=620)


async def test_a_refused_reason_stores_nothing_and_keeps_the_lease(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    ids = await log_answers(client, 1, project="acme")
    queue_id = await new_queue(client, project="acme")
    await add(client, queue_id, ids)
    r = await client.put("/v1/projects/acme/reasons", json={"reasons": ["wrong_date"]})
    assert r.status_code == 200, r.text
    lease = await claim(client, queue_id, as_open("ann"))
    assert lease is not None
    # "incorrect" is in the default set, not in the project's own.
    refused = await submit(client, lease, as_open("ann"), "incorrect", reasons=["incorrect"])
    assert refused.status_code == 422 and "wrong_date" in refused.json()["detail"]
    assert await count(engine, "review_labels") == 0
    # The same lease still submits: the refused statement wrote nothing.
    stored = await submit(client, lease, as_open("ann"), "incorrect", reasons=["wrong_date"])
    assert stored.status_code == 201 and stored.json()["reasons"] == ["wrong_date"]
    assert await count(engine, "review_labels") == 1
    item = (await client.get(f"/v1/review/items/{lease['item_id']}")).json()
    assert item["status"] == "done" and item["labels_count"] == 1


async def test_a_stale_lease_with_a_bad_reason_is_the_reasons_422(
    client: httpx.AsyncClient,
) -> None:
    """The order of answers is as before: unknown assignment, then reasons, then the lease."""
    ids = await log_answers(client, 1)
    queue_id = await new_queue(client)
    await add(client, queue_id, ids)
    lease = await claim(client, queue_id, as_open("ann"))
    assert lease is not None
    stale = {**lease, "lease_token": lease["assignment_id"]}
    r = await submit(client, stale, as_open("ann"), reasons=["boring"])
    assert r.status_code == 422 and "boring" in r.json()["detail"]
    r = await submit(client, stale, as_open("ann"))
    assert r.status_code == 409 and "lease_token" in r.json()["detail"]
    unknown = {**lease, "assignment_id": "00000000-0000-0000-0000-000000000000"}
    r = await submit(client, unknown, as_open("ann"), reasons=["boring"])
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("core", "text_form"),
    [
        (claim_statement, CLAIM),
        (submit_statement, SUBMIT),
        (lambda: _free("released", keep_reviewer=False), RELEASE),
    ],
)
def test_the_frozen_lease_statements_are_their_own_sql(core: Any, text_form: Any) -> None:
    """Run as text, each statement sends the SQL its Core form compiles to, with the
    values its Core form gives its constant parameters."""
    dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]

    def named(compiled: Any) -> str:
        return re.sub(
            r"\$(\d+)", lambda m: ":" + compiled.positiontup[int(m.group(1)) - 1], str(compiled)
        )

    statement = core()
    expected, got = statement.compile(dialect=dialect), text_form.compile(dialect=dialect)
    assert named(got) == named(expected)
    assert got.construct_params(_REQUIRED) == expected.construct_params(_REQUIRED)
    assert [c.key for c in text_form.selected_columns] == [
        c.key for c in statement.selected_columns
    ]


_REQUIRED = {
    "the_queue": None,
    "by_reviewer": "ann",
    "the_assignment": None,
    "the_token": None,
    "new_label": None,
    "new_verdict": "correct",
    "new_reasons": [],
    "new_correction": None,
    "new_note": None,
    "default_reasons": [],
}
