"""Python client benchmark: what a call costs the chat request, and how fast the queue drains.

    python bench/bench_client.py [--quick] [--database-url URL]

Side by side in one run:
  baseline the same JSON encoding and list append in a loop with no client at all: this
           machine's own pauses (the scheduler, the garbage collector) on that work;
  down     the time of one `log_interaction` or `feedback` call while nothing listens at the
           client's address (its worker failing and backing off meanwhile), without and with
           the on-disk spool: median, p99, p99.9 and the slowest call;
  up       the same calls against `feedback-api serve` (its defaults) while the worker sends:
           the calls share the process with the sending thread;
  drain    exchanges and votes per second from the first call to `flush()` returning,
           against the same items posted directly as batches of the same size (httpx, one
           request after another): the client's cost over the bare batch endpoints.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))

from feedback_api_client import FeedbackClient

from bench.common import database, free_port, percentile, server


def exchange(i: int) -> dict[str, Any]:
    return {
        "query": f"How do I write hello world number {i} in Python?",
        "response": 'print("Hello, World!")  # and a few more words of explanation',
        "model": "qwen-2.5-coder-7b",
        "intent": "code",
        "project": "bench",
        "user_id": f"user-{i % 1000}",
        "response_time_ms": 420,
        "tools_called": ["rag_search"],
    }


def calls(client: FeedbackClient, count: int, start: int = 0) -> list[float]:
    """Seconds per call: `count` exchanges, each followed by its vote."""
    times = []
    for i in range(start, start + count):
        t0 = time.perf_counter()
        rid = client.log_interaction(**exchange(i))
        t1 = time.perf_counter()
        client.feedback(request_id=rid, is_helpful=i % 3 != 0, user_id=f"user-{i % 1000}")
        t2 = time.perf_counter()
        times += [t1 - t0, t2 - t1]
    return times


# The garbage collector's pauses, as (generation, seconds): a full collection stops every
# thread of the process, callers included, for as long as the whole heap takes to walk.
PAUSES: list[tuple[int, float]] = []
_started = [0.0]


def _watch_collector(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        PAUSES.append((info["generation"], time.perf_counter() - _started[0]))


gc.callbacks.append(_watch_collector)


def line(name: str, times: list[float]) -> str:
    us = [t * 1e6 for t in times]
    full = [seconds for generation, seconds in PAUSES if generation == 2]
    longest = max((seconds for _, seconds in PAUSES), default=0.0)
    PAUSES.clear()
    return (
        f"{name:<34} median {statistics.median(us):7.1f} us   p99 {percentile(us, 0.99):7.1f} us"
        f"   p99.9 {percentile(us, 0.999):8.1f} us   max {max(us) / 1000:7.2f} ms"
        f"   ({len(us)} calls; longest collection {longest * 1000:.1f} ms,"
        f" {len(full)} full)"
    )


def baseline(count: int) -> None:
    """The same encoding and appending with no client and no other thread: what this
    machine's own pauses (scheduling, the garbage collector) do to a loop of that work."""
    kept, times = [], []
    PAUSES.clear()
    for i in range(2 * count):
        t0 = time.perf_counter()
        kept.append(json.dumps(exchange(i)).encode())
        times.append(time.perf_counter() - t0)
    print(line("no client (json.dumps + append)", times), flush=True)


def down(count: int) -> None:
    # The worker's "sending failed" warnings, one per retry, are expected here.
    logging.getLogger("feedback_api_client").setLevel(logging.ERROR)
    nobody = f"http://127.0.0.1:{free_port()}"
    spooled: dict[str, Any] = {"spool_dir": tempfile.mkdtemp()}
    for label, options in (("memory", {}), ("spool", spooled)):
        client = FeedbackClient(nobody, backoff_base=0.05, backoff_max=0.5, **options)
        try:
            PAUSES.clear()
            print(line(f"down, {label}", calls(client, count)), flush=True)
        finally:
            client.close(timeout=0)


def up_and_drain(base: str, count: int, batch: int) -> None:
    spooled: dict[str, Any] = {"spool_dir": tempfile.mkdtemp()}
    for label, options in (("memory", {}), ("spool", spooled)):
        client = FeedbackClient(base, max_batch_items=batch, **options)
        t0 = time.perf_counter()
        PAUSES.clear()
        times = calls(client, count)
        drained = client.flush(timeout=600)
        elapsed = time.perf_counter() - t0
        stats = client.stats()
        client.close()
        print(line(f"up, {label}", times), flush=True)
        rate = stats.stored / elapsed
        print(
            f"{'drain, ' + label:<34} {rate:8.0f} items/s   drained={drained} "
            f"stored={stats.stored} rejected={stats.rejected} retries={stats.retries}",
            flush=True,
        )
        direct = direct_rate(base, count, batch)
        print(f"{'direct batches':<34} {direct:8.0f} items/s   client/direct {rate / direct:.2f}x")


def direct_rate(base: str, count: int, batch: int) -> float:
    """Items/s of the same exchanges and votes posted as batches; prints each endpoint's."""
    items = []
    for i in range(count):
        rid = str(uuid.uuid4())
        items.append((dict(exchange(i), request_id=rid), {"request_id": rid, "is_helpful": True}))
    spent = {"/v1/interactions/batch": 0.0, "/v1/feedback/batch": 0.0}
    with httpx.Client(base_url=base, timeout=60) as http:
        for low in range(0, count, batch):
            chunk = items[low : low + batch]
            for path, bodies in (
                ("/v1/interactions/batch", [e for e, _ in chunk]),
                ("/v1/feedback/batch", [v for _, v in chunk]),
            ):
                t0 = time.perf_counter()
                answer = http.post(path, json={"items": bodies})
                spent[path] += time.perf_counter() - t0
                assert answer.status_code == 200, answer.text
    for path, seconds in spent.items():
        print(f"{'  ' + path:<34} {count / seconds:8.0f} items/s")
    return 2 * count / sum(spent.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    count = 2_000 if args.quick else 20_000
    baseline(count)
    down(count)
    url = database(args.database_url)
    with server(url) as base:
        up_and_drain(base, count, batch=500)


if __name__ == "__main__":
    main()
