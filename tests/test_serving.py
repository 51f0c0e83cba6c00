"""The app on uvicorn and a real socket, as `feedback-api serve` runs it: HTTP intact."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from feedback_api.app import create_app
from feedback_api.config import Settings
from tests.helpers import exchange
from tests.live_server import LiveServer


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[LiveServer]:
    settings = Settings(database_url=database_url, refresh_enabled=False, _env_file=None)  # type: ignore[call-arg]
    with LiveServer(create_app(settings)) as server:
        yield server


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, await reader.readexactly(int(headers["content-length"]))


def _vote(request_id: str, *extra: str) -> bytes:
    body = json.dumps(exchange(rating=1, request_id=request_id)).encode()
    head = "".join(
        f"{h}\r\n"
        for h in (
            "POST /v1/feedback HTTP/1.1",
            "Host: test",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *extra,
        )
    )
    return head.encode() + b"\r\n" + body


async def test_pipelined_votes_are_answered_in_order(served: LiveServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"".join(_vote(f"pipelined-{i}") for i in range(3)))
    answers = [await _read_response(reader) for _ in range(3)]
    writer.close()
    assert [status for status, _, _ in answers] == [201, 201, 201]
    assert [json.loads(body)["request_id"] for _, _, body in answers] == [
        "pipelined-0",
        "pipelined-1",
        "pipelined-2",
    ]
    assert all("x-request-id" in headers for _, headers, _ in answers)


async def test_connection_close_ends_after_the_whole_answer(served: LiveServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(_vote("closing", "Connection: close"))
    status, _, body = await _read_response(reader)
    assert status == 201 and json.loads(body)["request_id"] == "closing"
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # then the server hangs up
    writer.close()


async def test_a_path_with_a_double_slash_is_not_found(served: LiveServer) -> None:
    # Sent as written: httpx would read `//v1/feedback` as a host `v1` and the path
    # `/feedback` (the POST-only alias, so a 405) before anything reached the server.
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET //v1/feedback HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    status, headers, body = await _read_response(reader)
    writer.close()
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "Not Found", "code": "not_found", "errors": []}


@pytest.mark.slow  # a large export over a real socket
async def test_a_streamed_export_arrives_whole(served: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        for i in range(40):
            vote = exchange(rating=1, request_id=f"streamed-{i}", query=f"Question {i} " * 50)
            assert (await client.post("/v1/feedback", json=vote)).status_code == 201
        response = await client.post("/v1/feedback/export/finetuning", json={"days": 7})
    assert response.status_code == 200
    assert response.headers.get("transfer-encoding") == "chunked"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 40


# What `feedback-api serve`'s factory leaves behind in a worker: the redactor built, and with
# everything start-up built, out of the collector's sight (its full collections walk only
# what requests make).
_FACTORY = """
import gc, json
from feedback_api.app import serve_app
from feedback_api.config import get_settings
from feedback_api.privacy.redaction.redactor import redactor_for
serve_app()
built = redactor_for.cache_info().currsize
redactor = redactor_for(get_settings().redaction)
collected = {id(o) for o in gc.get_objects()}
print(json.dumps({"built": built, "frozen": gc.get_freeze_count(),
                  "seen": id(redactor) in collected}))
"""


def test_the_served_factory_builds_the_redactor_before_freezing_start_up(
    database_url: str,
) -> None:
    env = {**os.environ, "FEEDBACK_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-c", _FACTORY], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["built"] == 1
    assert state["frozen"] > 100_000
    assert state["seen"] is False
