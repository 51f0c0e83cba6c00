"""Reasons and corrections on a vote: stored, shown, changed, filtered on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import count, exchange


async def vote(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/feedback", json=exchange(**body))
    assert r.status_code in (200, 201), r.text
    data: dict[str, Any] = r.json()
    return data


async def test_a_vote_carries_reasons_and_a_correction(client: httpx.AsyncClient) -> None:
    data = await vote(
        client,
        rating=-1,
        reasons=["incorrect", "too_long", "incorrect"],
        correction='print("Hello, World!", end="")',
    )
    assert data["reasons"] == ["incorrect", "too_long"]  # duplicates merged, order kept
    assert data["correction"] == 'print("Hello, World!", end="")'
    assert (await client.get(f"/v1/feedback/{data['id']}")).json() == data


async def test_without_reasons_a_vote_has_none(client: httpx.AsyncClient) -> None:
    data = await vote(client, rating=1)
    assert data["reasons"] == [] and data["correction"] is None


async def test_by_reference_vote_with_reasons(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/interactions", json=exchange(request_id="r-1"))
    assert r.status_code == 201
    r = await client.post(
        "/v1/feedback",
        json={"request_id": "r-1", "is_helpful": False, "reasons": ["unsafe"], "correction": "no"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["reasons"] == ["unsafe"] and r.json()["correction"] == "no"


async def test_a_second_vote_replaces_reasons_and_correction(client: httpx.AsyncClient) -> None:
    first = await vote(client, request_id="r-2", user_id="u", rating=-1, reasons=["other"])
    second = await vote(client, request_id="r-2", user_id="u", rating=1)
    assert second["id"] == first["id"]
    assert second["reasons"] == [] and second["correction"] is None


async def test_put_keeps_changes_and_clears_reasons_and_correction(
    client: httpx.AsyncClient,
) -> None:
    data = await vote(client, rating=-1, reasons=["incomplete"], correction="better")
    url = f"/v1/feedback/{data['id']}"
    kept = (await client.put(url, json={"comment": "meh"})).json()
    assert kept["reasons"] == ["incomplete"] and kept["correction"] == "better"
    changed = (await client.put(url, json={"reasons": ["unsafe", "unsafe", "other"]})).json()
    assert changed["reasons"] == ["unsafe", "other"] and changed["correction"] == "better"
    cleared = (await client.put(url, json={"reasons": None, "correction": None})).json()
    assert cleared["reasons"] == [] and cleared["correction"] is None
    assert (await client.get(url)).json() == cleared


async def test_list_filters_on_a_reason(client: httpx.AsyncClient) -> None:
    await vote(client, request_id="a", rating=-1, reasons=["incorrect", "unsafe"])
    await vote(client, request_id="b", rating=-1, reasons=["unsafe"])
    await vote(client, request_id="c", rating=1)
    unsafe = (await client.get("/v1/feedback", params={"reason": "unsafe"})).json()
    assert sorted(i["request_id"] for i in unsafe["items"]) == ["a", "b"]
    incorrect = (await client.get("/v1/feedback", params={"reason": "incorrect"})).json()
    assert [i["request_id"] for i in incorrect["items"]] == ["a"]
    both = (
        await client.get("/v1/feedback", params={"reason": "unsafe", "is_helpful": True})
    ).json()
    assert both["items"] == []


async def test_batch_votes_carry_reasons(client: httpx.AsyncClient) -> None:
    items = [
        exchange(request_id="b1", rating=-1, reasons=["other"], correction="x"),
        exchange(request_id="b2", rating=1),
    ]
    r = await client.post("/v1/feedback/batch", json={"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["feedback"]["reasons"] == ["other"]
    assert results[0]["feedback"]["correction"] == "x"
    assert results[1]["feedback"]["reasons"] == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"reasons": [f"r{i}" for i in range(11)]}, "at most 10 reasons"),
        ({"reasons": "incorrect"}, "reasons"),
        ({"reasons": [""]}, "reasons.0"),
        ({"reasons": ["x" * 41]}, "at most 40"),
        ({"correction": "x" * 1_000_001}, "correction"),
        ({"correction": "a\u0000b"}, "nul"),
    ],
)
async def test_bad_reasons_and_corrections_are_422(
    make_client: Any, engine: AsyncEngine, body: dict[str, Any], needle: str
) -> None:
    async with make_client(max_body_bytes=4 * 1024 * 1024) as client:
        r = await client.post("/v1/feedback", json=exchange(rating=-1, **body))
        assert r.status_code == 422, r.text
        assert needle.lower() in r.json()["detail"].lower(), r.json()
        created = await vote(client, request_id="ok", rating=-1)
        r = await client.put(f"/v1/feedback/{created['id']}", json=body)
        assert r.status_code == 422, r.text
        assert needle.lower() in r.json()["detail"].lower(), r.json()
    assert await count(engine, "feedback") == 1


DEFAULT = ["incorrect", "incomplete", "unsafe", "off_topic", "too_long", "other"]
KEYS = "admin:admin-key-0123456789,read:read-key-01234567890,ingest:ingest-key-0123456789"
ADMIN = {"Authorization": "Bearer admin-key-0123456789"}
READ = {"Authorization": "Bearer read-key-01234567890"}
INGEST = {"Authorization": "Bearer ingest-key-0123456789"}


async def test_a_reason_outside_the_default_set_is_422_listing_the_allowed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    r = await client.post("/v1/feedback", json=exchange(rating=-1, reasons=["boring", "unsafe"]))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "'boring' is not in the label set of project 'demo'" in detail
    assert "allowed: " + ", ".join(DEFAULT) in detail
    # By reference: the project is the logged interaction's.
    await client.post("/v1/interactions", json=exchange(request_id="ref", project=None))
    r = await client.post(
        "/v1/feedback", json={"request_id": "ref", "is_helpful": False, "reasons": ["Unsafe"]}
    )
    assert r.status_code == 422, r.text
    assert "'Unsafe' is not in the label set of votes without a project" in r.json()["detail"]
    assert await count(engine, "feedback") == 0


async def test_label_sets_replace_the_default_for_their_project(
    client: httpx.AsyncClient,
) -> None:
    got = (await client.get("/v1/projects/demo/reasons")).json()
    assert got == {"project": "demo", "reasons": DEFAULT, "source": "default"}
    r = await client.put("/v1/projects/demo/reasons", json={"reasons": ["hallucination", "slow"]})
    assert r.status_code == 200, r.text
    own = {"project": "demo", "reasons": ["hallucination", "slow"], "source": "project"}
    assert r.json() == own
    assert (await client.get("/v1/projects/demo/reasons")).json() == own
    # Another project keeps the default; a project's name may hold a slash.
    other = (await client.get("/v1/projects/team/a/reasons")).json()
    assert other == {"project": "team/a", "reasons": DEFAULT, "source": "default"}

    assert (await vote(client, request_id="x1", rating=-1, reasons=["slow"]))["reasons"] == ["slow"]
    r = await client.post("/v1/feedback", json=exchange(rating=-1, reasons=["incorrect"]))
    assert r.status_code == 422
    assert "allowed: hallucination, slow" in r.json()["detail"]
    ok = await vote(client, request_id="x2", project="elsewhere", rating=-1, reasons=["other"])
    assert ok["reasons"] == ["other"]

    # Batches and idempotent votes are checked by the same statement.
    items = [
        exchange(request_id="b1", rating=-1, reasons=["slow"]),
        exchange(request_id="b2", rating=-1, reasons=["other"]),
    ]
    results = (await client.post("/v1/feedback/batch", json={"items": items})).json()["results"]
    assert [r["status"] for r in results] == [201, 422]
    assert "allowed: hallucination, slow" in results[1]["error"]
    r = await client.post(
        "/v1/feedback",
        json=exchange(request_id="i1", rating=-1, reasons=["other"]),
        headers={"Idempotency-Key": "k-1"},
    )
    assert r.status_code == 422 and "allowed: hallucination, slow" in r.json()["detail"]

    # PUT /v1/feedback/{id} checks against the vote's project.
    url = f"/v1/feedback/{ok['id']}"
    r = await client.put(url, json={"reasons": ["slow"]})
    assert r.status_code == 422 and "project 'elsewhere'" in r.json()["detail"]
    r = await client.put(f"/v1/feedback/{results[0]['feedback']['id']}", json={"reasons": []})
    assert r.status_code == 200 and r.json()["reasons"] == []

    reset = await client.delete("/v1/projects/demo/reasons")
    assert reset.status_code == 200
    assert reset.json() == {"project": "demo", "reasons": DEFAULT, "source": "default"}
    assert (await vote(client, request_id="x3", rating=-1, reasons=["incorrect"]))["reasons"]


@pytest.mark.parametrize(
    ("reasons", "needle"),
    [
        (["slow", "slow"], "'slow' is in the label set twice"),
        (["slow", ""], "label 2: an empty label"),
        (["  "], "label 1: an empty label"),
        (["Slow"], "'Slow' is not a label; a label is 1-40 lowercase letters, digits or _"),
        (["a-b"], "'a-b' is not a label"),
        (["x" * 41], "is not a label; a label is 1-40"),
        ([f"l{i}" for i in range(51)], "at most 50 labels; got 51"),
        ([], "at least one label"),
    ],
)
async def test_bad_label_sets_are_422_with_a_sentence(
    client: httpx.AsyncClient, reasons: list[str], needle: str
) -> None:
    r = await client.put("/v1/projects/demo/reasons", json={"reasons": reasons})
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"], r.json()
    assert (await client.get("/v1/projects/demo/reasons")).json()["source"] == "default"


async def test_a_label_set_of_50_labels_of_40_characters_is_fine(
    client: httpx.AsyncClient,
) -> None:
    labels = [f"{i:02d}" + "x" * 38 for i in range(50)]
    r = await client.put("/v1/projects/demo/reasons", json={"reasons": labels})
    assert r.status_code == 200 and r.json()["reasons"] == labels


async def test_label_sets_need_the_admin_scope_to_change(make_client: Any) -> None:
    async with make_client(api_keys=KEYS) as client:
        body = {"reasons": ["slow"]}
        for headers in (READ, INGEST):
            r = await client.put("/v1/projects/demo/reasons", json=body, headers=headers)
            assert r.status_code == 403 and "needs admin" in r.json()["detail"]
            r = await client.delete("/v1/projects/demo/reasons", headers=headers)
            assert r.status_code == 403
        assert (await client.get("/v1/projects/demo/reasons")).status_code == 401
        assert (await client.get("/v1/projects/demo/reasons", headers=INGEST)).status_code == 403
        r = await client.put("/v1/projects/demo/reasons", json=body, headers=ADMIN)
        assert r.status_code == 200
        got = await client.get("/v1/projects/demo/reasons", headers=READ)
        assert got.json()["source"] == "project"


async def test_the_default_set_comes_from_the_settings(make_client: Any) -> None:
    async with make_client(reasons="wrong,rude") as client:
        assert (await client.get("/v1/projects/p/reasons")).json()["reasons"] == ["wrong", "rude"]
        assert (await vote(client, rating=-1, reasons=["rude"]))["reasons"] == ["rude"]
        r = await client.post("/v1/feedback", json=exchange(rating=-1, reasons=["unsafe"]))
        assert r.status_code == 422 and "allowed: wrong, rude" in r.json()["detail"]


@pytest.mark.parametrize(
    ("value", "needle"),
    [("a,a", "twice"), ("Bad", "not a label"), ("", "at least one label")],
)
def test_a_bad_default_set_is_refused_at_start(value: str, needle: str) -> None:
    from pydantic import ValidationError

    from feedback_api.config import Settings

    with pytest.raises(ValidationError, match=needle):
        Settings(reasons=value, _env_file=None)  # type: ignore[call-arg]


async def test_erasing_a_user_erases_their_corrections(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await vote(client, request_id="e1", user_id="erin", rating=-1, correction="secret fix")
    await vote(client, request_id="e2", user_id="other", rating=-1, correction="kept")
    assert (await client.delete("/v1/users/erin")).status_code == 200
    assert await count(engine, "feedback", "correction = 'secret fix'") == 0
    assert await count(engine, "feedback", "correction = 'kept'") == 1


async def test_a_project_path_is_read_as_a_project_is_written(client: httpx.AsyncClient) -> None:
    too_long = await client.put(f"/v1/projects/{'p' * 201}/reasons", json={"reasons": ["slow"]})
    assert too_long.status_code == 422, too_long.text
    spaced = await client.put("/v1/projects/%20acme%20/reasons", json={"reasons": ["slow"]})
    assert spaced.status_code == 200, spaced.text
    assert (await client.get("/v1/projects/acme/reasons")).json()["reasons"] == ["slow"]
