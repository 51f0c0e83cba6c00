"""feedback_api_client against the real server over a real socket, checked in the database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from feedback_api_client import AsyncFeedbackClient, FeedbackClient, SpoolInUse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.client.conftest import Serve
from tests.helpers import count
from tests.live_server import free_port

# Slow: the client runs in subprocesses against a served app, some while it is down.
pytestmark = pytest.mark.slow

# Quick retries: the tests wait for the server, not for production-sized backoffs.
FAST: dict[str, Any] = {
    "flush_interval": 0.05,
    "backoff_base": 0.05,
    "backoff_max": 0.3,
    "close_timeout": 5,
}


def exchange(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "query": f"question {i}",
        "response": f"answer {i}",
        "model": "qwen-2.5-coder-7b",
        "intent": "code",
        "user_id": f"user-{i}",
        "response_time_ms": i,
        **extra,
    }


async def stored_once(engine: AsyncEngine, request_ids: list[str]) -> None:
    """Each request_id is one interaction with one vote, and there is nothing else."""
    assert await count(engine, "interactions") == len(request_ids)
    assert await count(engine, "feedback") == len(request_ids)
    distinct = "request_id = ANY(:ids)"
    assert await count(engine, "interactions", distinct, ids=request_ids) == len(request_ids)


async def test_a_server_outage_mid_stream_loses_and_doubles_nothing(
    serve: Serve, engine: AsyncEngine
) -> None:
    port = free_port()
    request_ids: list[str] = []
    down: list[float] = []
    server = serve(port=port)
    server.__enter__()
    client = FeedbackClient(f"http://127.0.0.1:{port}", **FAST)
    try:
        for i in range(900):
            if i == 300:
                server.__exit__(None, None, None)  # the server goes away mid-stream
            if i == 600:
                server = serve(port=port)
                server.__enter__()  # and comes back on the same address
            start = time.perf_counter()
            if i % 3 == 0:  # a vote that brings its exchange along
                rid = client.feedback(rating=1 if i % 2 else -1, **exchange(i))
                assert rid is not None
            else:
                rid = client.log_interaction(**exchange(i))
                client.feedback(request_id=rid, is_helpful=i % 2 == 0, stars=4, user_id="u")
            if 300 <= i < 600:
                down.append(time.perf_counter() - start)
            request_ids.append(rid)
            if i % 50 == 0:
                await asyncio.sleep(0.06)  # let batches go out between the calls
        assert client.flush(timeout=60)
        stats = client.stats()
    finally:
        client.close()
        server.__exit__(None, None, None)
    assert len(set(request_ids)) == 900
    await stored_once(engine, request_ids)
    assert stats.stored == 900 + 600 and stats.rejected == 0 and stats.queued == 0
    assert stats.errors >= 1 and stats.retries >= 1  # the outage was seen, and outlived
    assert stats.last_error is None  # recovered: the count stays, the message goes
    assert statistics.median(down) < 0.001


async def test_the_async_client_sends_the_same_way(serve: Serve, engine: AsyncEngine) -> None:
    with serve() as server:
        async with AsyncFeedbackClient(server.url, **FAST) as client:
            request_ids = [client.log_interaction(**exchange(i)) for i in range(20)]
            for rid in request_ids:
                client.feedback(request_id=rid, is_helpful=True)
            assert await client.flush(timeout=30)
            assert client.stats().stored == 40
    await stored_once(engine, request_ids)


def _latencies(client: FeedbackClient, rounds: int = 3, calls: int = 1000) -> list[list[float]]:
    measured = []
    for _ in range(rounds):
        times = []
        for i in range(calls):
            start = time.perf_counter()
            rid = client.log_interaction(**exchange(i))
            client.feedback(request_id=rid, is_helpful=True, user_id="u")
            times.append((time.perf_counter() - start) / 2)
        measured.append(times)
    return measured


def test_calls_return_at_once_while_the_server_is_down(tmp_path: Path) -> None:
    """Median under 1 ms, the slowest call under 50 ms. The machine is shared: the slowest
    call is taken from the best of three rounds, so one descheduling of this process by the
    operating system does not fail the test; the median must hold in every round."""
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there: refused at once
    for options in ({}, {"spool_dir": tmp_path / "spool"}):
        client = FeedbackClient(nobody, **FAST, **options)
        try:
            rounds = _latencies(client)
            # It does try, in the background: on a loaded machine its sender thread may not
            # have run yet when the calls return, so wait for its first attempt.
            deadline = time.monotonic() + 10
            while client.stats().errors == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            tried = client.stats().errors
        finally:
            client.close(timeout=0)
        medians = [statistics.median(times) for times in rounds]
        slowest = [max(times) for times in rounds]
        assert all(median < 0.001 for median in medians), (options, medians)
        assert min(slowest) < 0.050, (options, slowest)
        assert tried >= 1


def test_a_full_queue_drops_new_items_and_counts_them() -> None:
    client = FeedbackClient(f"http://127.0.0.1:{free_port()}", max_queue=10, **FAST)
    try:
        for i in range(15):
            client.log_interaction(**exchange(i))
        stats = client.stats()
    finally:
        client.close(timeout=0)
    assert (stats.enqueued, stats.overflowed, stats.queued) == (10, 5, 10)
    assert client.stats().abandoned == 10  # closed without a spool: said, and counted


_CRASHING = """
import json, sys, time
from feedback_api_client import FeedbackClient
client = FeedbackClient(sys.argv[1], spool_dir=sys.argv[2], backoff_base=0.05, backoff_max=0.2)
ids = [client.log_interaction(query=f"q{i}", response="a", model="m") for i in range(100)]
for rid in ids:
    client.feedback(request_id=rid, is_helpful=True, user_id="u")
while client.stats().unsaved:  # on disk moments after the calls: wait for that moment
    time.sleep(0.01)
print(json.dumps(ids), flush=True)
time.sleep(120)
"""


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


async def test_the_spool_survives_a_crash(
    serve: Serve, engine: AsyncEngine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    process = _python(_CRASHING, f"http://127.0.0.1:{free_port()}", str(spool))
    try:
        assert process.stdout is not None
        request_ids = json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGKILL)  # no atexit, no flush: a crash
        process.wait(timeout=10)
    with serve() as server:
        client = FeedbackClient(server.url, spool_dir=spool, **FAST)
        try:
            assert client.flush(timeout=30)
            stats = client.stats()
        finally:
            client.close()
    assert (stats.enqueued, stats.stored, stats.queued) == (0, 200, 0)
    await stored_once(engine, request_ids)
    # Settled items are gone from the spool: a third client has nothing to send.
    with serve() as server:
        third = FeedbackClient(server.url, spool_dir=spool, **FAST)
        assert third.stats().queued == 0
        third.close()


async def test_a_closed_client_leaves_its_queue_to_the_next(
    serve: Serve, engine: AsyncEngine, tmp_path: Path
) -> None:
    first = FeedbackClient(f"http://127.0.0.1:{free_port()}", spool_dir=tmp_path, **FAST)
    request_ids = [first.log_interaction(**exchange(i)) for i in range(50)]
    for rid in request_ids:
        first.feedback(request_id=rid, is_helpful=True)
    first.close(timeout=0)  # the server is away: what is queued is written to the spool
    assert (first.stats().queued, first.stats().unsaved, first.stats().abandoned) == (100, 0, 0)
    with serve() as server:
        second = FeedbackClient(server.url, spool_dir=tmp_path, **FAST)
        try:
            assert second.stats().queued == 100
            assert second.flush(timeout=30)
        finally:
            second.close()
    await stored_once(engine, request_ids)


def test_one_client_per_spool(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    first = FeedbackClient(nobody, spool_dir=tmp_path, **FAST)
    try:
        with pytest.raises(SpoolInUse, match="spool_dir of its own"):
            FeedbackClient(nobody, spool_dir=tmp_path, **FAST)
    finally:
        first.close(timeout=0)
    FeedbackClient(nobody, spool_dir=tmp_path, **FAST).close(timeout=0)  # free again


_EXITING = """
import sys
from feedback_api_client import FeedbackClient
client = FeedbackClient(sys.argv[1], flush_interval=30)
for i in range(5):
    rid = client.log_interaction(query=f"q{i}", response="a", model="m")
    client.feedback(request_id=rid, is_helpful=False)
"""


async def test_the_interpreter_exit_flushes(serve: Serve, engine: AsyncEngine) -> None:
    with serve() as server:
        process = _python(_EXITING, server.url)
        assert process.wait(timeout=60) == 0
    assert await count(engine, "interactions") == 5
    assert await count(engine, "feedback") == 5


async def test_refused_items_are_dropped_and_counted(serve: Serve, engine: AsyncEngine) -> None:
    with serve() as server:
        client = FeedbackClient(server.url, **FAST)
        try:
            good = client.log_interaction(**exchange(1))
            client.log_interaction(**exchange(2, response_time_ms=-1))  # 422
            client.feedback(request_id=good, rating=7, is_helpful=True)  # 422: stars 1-5
            client.feedback(request_id="nobody-logged-this", is_helpful=True)  # 404
            client.feedback(request_id=good, is_helpful=True, user_id="u")
            client.log_interaction(**exchange(3, not_a_field=1))  # 422
            assert client.flush(timeout=30)
            stats = client.stats()
        finally:
            client.close()
    assert (stats.stored, stats.rejected, stats.retries) == (2, 4, 0)
    assert stats.last_error is not None and "refused" in stats.last_error
    assert await count(engine, "interactions") == 1
    assert await count(engine, "feedback") == 1


class Refuse(BaseHTTPMiddleware):
    """Answers the first `times` interaction batches with `status` and Retry-After, and
    records when each batch came."""

    times = 2
    status = 429
    arrivals: ClassVar[list[float]] = []

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        if request.url.path == "/v1/interactions/batch":
            type(self).arrivals.append(time.monotonic())
            if len(type(self).arrivals) <= type(self).times:
                error = {"detail": "slow down", "code": "busy", "errors": []}
                return JSONResponse(error, type(self).status, headers={"Retry-After": "1"})
        response: Response = await call_next(request)
        return response


async def test_retry_after_is_honoured(serve: Serve, engine: AsyncEngine) -> None:
    for status in (429, 503):
        Refuse.status, Refuse.arrivals = status, []
        with serve(middleware=Refuse) as server:
            # Its own backoff would retry after 10 ms: only Retry-After explains the waits.
            client = FeedbackClient(server.url, **{**FAST, "backoff_base": 0.01})
            try:
                rid = client.log_interaction(**exchange(status))
                client.feedback(request_id=rid, is_helpful=True)
                assert client.flush(timeout=30)
                stats = client.stats()
            finally:
                client.close()
        first, second, third = Refuse.arrivals
        assert second - first >= 0.95 and third - second >= 0.95, (status, Refuse.arrivals)
        assert (stats.retries, stats.stored) == (2, 2)
    assert await count(engine, "interactions") == 2
    assert await count(engine, "feedback") == 2


class Late(BaseHTTPMiddleware):
    """The first interaction batch is answered "stored" (201 each) but not stored: its
    exchanges arrive later, by another way, while their votes are answered 404."""

    bodies: ClassVar[list[bytes]] = []
    voted: ClassVar[threading.Event] = threading.Event()

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        if request.url.path == "/v1/interactions/batch" and not type(self).bodies:
            type(self).bodies.append(await request.body())
            items = json.loads(type(self).bodies[0])["items"]
            results = [{"index": i, "status": 201} for i in range(len(items))]
            answer = {"created": len(items), "existing": 0, "failed": 0, "results": results}
            return JSONResponse(answer)
        response: Response = await call_next(request)
        if request.url.path == "/v1/feedback/batch":
            type(self).voted.set()
        return response


async def test_a_vote_waits_for_the_exchange_this_client_logged(
    serve: Serve, engine: AsyncEngine
) -> None:
    Late.bodies, Late.voted = [], threading.Event()
    with serve(middleware=Late) as server:
        client = FeedbackClient(server.url, **{**FAST, "not_found_retries": 100})
        try:
            rids = [client.log_interaction(**exchange(i)) for i in range(5)]
            for rid in rids:
                client.feedback(request_id=rid, is_helpful=True, user_id="u")
            # Votes on a request_id put aside keep their order behind the first.
            client.feedback(request_id=rids[0], is_helpful=False, user_id="u")
            assert await asyncio.to_thread(Late.voted.wait, 20)
            assert await count(engine, "feedback") == 0  # 404: no exchange yet
            async with httpx.AsyncClient(base_url=server.url) as other:
                late = await other.post(
                    "/v1/interactions/batch",
                    content=Late.bodies[0],
                    headers={"content-type": "application/json"},
                )
            assert late.json()["created"] == 5, late.text
            assert client.flush(timeout=30)
            stats = client.stats()
        finally:
            client.close()
    assert (stats.stored, stats.rejected) == (11, 0)
    await stored_once(engine, rids)
    assert await count(engine, "feedback", "is_helpful = false") == 1


async def test_a_batch_over_the_body_limit_is_split(serve: Serve, engine: AsyncEngine) -> None:
    with serve(max_body_bytes=8_000) as server:
        client = FeedbackClient(server.url, **FAST)
        try:
            rids = [client.log_interaction(**exchange(i, response="x" * 500)) for i in range(60)]
            for rid in rids:
                client.feedback(request_id=rid, is_helpful=True)
            client.log_interaction(**exchange(99, response="x" * 9_000))  # alone too large
            assert client.flush(timeout=30)
            stats = client.stats()
        finally:
            client.close()
    assert (stats.stored, stats.rejected) == (120, 1)
    await stored_once(engine, rids)


class Slow(BaseHTTPMiddleware):
    """The first batch of each kind is stored, then answered too late: the client's
    request times out after the commit, the way an answer gets lost."""

    delayed: ClassVar[set[str]] = set()

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)  # committed by now
        path = request.url.path
        if path.endswith("/batch") and path not in type(self).delayed:
            type(self).delayed.add(path)
            await asyncio.sleep(1.5)
        return response


async def test_a_retry_after_a_lost_answer_counts_once(serve: Serve, engine: AsyncEngine) -> None:
    Slow.delayed = set()
    with serve(middleware=Slow) as server:
        client = FeedbackClient(server.url, **{**FAST, "timeout": 0.5})
        try:
            rids = [client.log_interaction(**exchange(i)) for i in range(30)]
            for rid in rids:
                client.feedback(request_id=rid, is_helpful=True, user_id="u")
            assert client.flush(timeout=30)
            stats = client.stats()
        finally:
            client.close()
    assert Slow.delayed == {"/v1/interactions/batch", "/v1/feedback/batch"}
    assert stats.retries >= 2 and stats.stored == 60 and stats.rejected == 0
    await stored_once(engine, rids)


KEYS = "ingest:ingest-key-0123456789,read:read-key-0123456789"
SECRET = "s3cr3t-" + "z" * 40


async def test_votes_with_a_feedback_token_and_keys(serve: Serve, engine: AsyncEngine) -> None:
    with serve(api_keys=KEYS, secret_key=SECRET) as server:
        backend = FeedbackClient(server.url, api_key="ingest-key-0123456789", **FAST)
        rid = backend.log_interaction(**exchange(1))
        other = backend.log_interaction(**exchange(2))
        assert backend.flush(timeout=30)
        async with httpx.AsyncClient(base_url=server.url) as http:
            answer = await http.post(
                "/v1/interactions",
                json={**exchange(1), "request_id": rid},
                headers={"Authorization": "Bearer ingest-key-0123456789"},
            )
        token = answer.json()["feedback_token"]
        # Without an API key: the vote goes alone to POST /v1/feedback with its token.
        frontend = FeedbackClient(server.url, **FAST)
        try:
            frontend.feedback(request_id=rid, is_helpful=True, feedback_token=token)
            frontend.feedback(request_id=other, is_helpful=True, feedback_token=token)  # 403
            frontend.feedback(request_id=rid, is_helpful=True)  # 401: no key, no token
            assert frontend.flush(timeout=30)
            stats = frontend.stats()
        finally:
            frontend.close()
        wrong = FeedbackClient(server.url, api_key="not-a-key-at-all", **FAST)
        wrong.log_interaction(**exchange(3))
        assert wrong.flush(timeout=30)
        wrong.close()
        backend.close()
    assert (stats.stored, stats.rejected, stats.retries) == (1, 2, 0)
    assert (wrong.stats().rejected, wrong.stats().stored) == (1, 0)
    assert await count(engine, "interactions") == 2
    assert await count(engine, "feedback") == 1
