"""The queue and the background worker behind both clients.

Callers only append to a bounded queue in memory and return (with a spool, a thread of its
own writes what they queued to a SQLite file moments later). One worker thread takes items
from the head in order and sends them in batches: first the exchanges
(`POST /v1/interactions/batch`), then the votes (`POST /v1/feedback/batch`), and the votes
carrying a feedback token one by one (`POST /v1/feedback`, which is where a token is
accepted). A failure of the whole request (network error, 408, 429, 5xx) puts every item of
the cycle back at the head and waits (exponential backoff with jitter, or the server's
Retry-After), so a vote never overtakes the exchange it names. The server answers each item
on its own: stored (201, 200) items are done; a vote answered 404 for a request_id this
client logged is put aside and sent again later; any other 4xx is dropped, logged and
counted.

Each item carries its own idempotency key, so that a retry after a lost answer never counts
twice: an exchange's request_id (the server stores one exchange per request_id and answers
200 "already stored" to the same one again), a vote's (request_id, user_id), which holds one
vote per user and interaction (a retry replaces the vote by itself); a vote sent alone also
carries an Idempotency-Key header. A vote that brings its exchange along gets a request_id
generated here when the caller gives none.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, Literal

import httpx

from feedback_api_client.spool import Spool

logger = logging.getLogger("feedback_api_client")

Kind = Literal["interaction", "feedback"]

INTERACTIONS_BATCH = "/v1/interactions/batch"
FEEDBACK_BATCH = "/v1/feedback/batch"
FEEDBACK = "/v1/feedback"

# What the server takes per batch request.
MAX_BATCH_ITEMS = 1000
# Request_ids this client logged, remembered to tell "its exchange is on its way" (a 404
# worth retrying) from "no such exchange" (a 404 to report).
_REMEMBERED_REQUEST_IDS = 100_000
# Votes with a feedback token are sent one request each: at most this many per cycle.
_ALONE_PER_CYCLE = 100


@dataclass(frozen=True)
class ClientStats:
    """What the client did since it was created (counts of items unless said otherwise)."""

    queued: int  # waiting to be sent, or on their way
    enqueued: int  # accepted by log_interaction / feedback
    stored: int  # answered 201 or 200 by the server
    interactions_stored: int
    feedback_stored: int
    rejected: int  # refused by the server (4xx): dropped, never retried
    overflowed: int  # refused because the queue was full (see `max_queue`)
    invalid: int  # refused at once: not JSON, or larger than a batch may be
    abandoned: int  # still queued when the client closed, without a spool to keep them
    unsaved: int  # queued but not yet written to the spool (0 without one)
    retries: int  # requests sent again after a failure
    errors: int  # failed requests: network errors, 408, 429, 5xx
    last_error: str | None


# One queued item, as a plain tuple of strings, numbers and bytes: CPython's garbage
# collector stops tracking such tuples, so a queue that grows during an outage adds nothing
# to the full collections that pause every thread of the host (objects would: measured in
# docs/benchmarks/client.md). What changes about an item is kept beside it, by its number.
#   (number, kind, key, request_id, alone, body, queued_at)
# number: unique in this client, and its row in the spool; alone: a vote with a feedback
# token (POST /v1/feedback, one request each); body: its JSON, encoded once when queued.
Item = tuple[int, Kind, str, "str | None", bool, bytes, float]
N: Final = 0
KIND: Final = 1
KEY: Final = 2
RID: Final = 3
ALONE: Final = 4
BODY: Final = 5
AT: Final = 6


_STORED = {"interaction": "interactions_stored", "feedback": "feedback_stored"}


class _Retry(Exception):
    """The whole request failed in a way worth retrying; wait `delay` seconds (or back off)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


@dataclass
class _Settled:
    """What a cycle decided for its items."""

    done: list[Item] = field(default_factory=list)
    rejected: list[Item] = field(default_factory=list)
    deferred: list[Item] = field(default_factory=list)
    again: list[Item] = field(default_factory=list)  # back to the head of the queue
    retry: _Retry | None = None


def json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(
        body, default=json_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class Engine:
    """The queue, the spool and the worker thread; shared by the sync and async clients."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        max_queue: int,
        max_batch_items: int,
        max_batch_bytes: int,
        flush_interval: float,
        timeout: float,
        backoff_base: float,
        backoff_max: float,
        retry_after_max: float,
        not_found_retries: int,
        spool_dir: str | Path | None,
        headers: Mapping[str, str] | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.max_queue = max_queue
        self.max_batch_items = max(1, min(max_batch_items, MAX_BATCH_ITEMS))
        self.max_batch_bytes = max_batch_bytes
        self.flush_interval = flush_interval
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.not_found_retries = not_found_retries
        # First: it may refuse (SpoolInUse) before anything else is opened.
        self._spool = Spool(spool_dir) if spool_dir is not None else None
        all_headers = {"user-agent": "feedback-api-client/0.1", **(headers or {})}
        if api_key:
            all_headers["authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=all_headers,
            timeout=timeout,
            transport=transport,
        )

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # the queue changed, or flush/close
        self._stopping = threading.Event()  # ends waits for backoff at close
        self._queue: deque[Item] = deque()
        self._deferred: list[Item] = []  # votes answered 404 whose exchange may be on its way
        self._in_flight = 0
        self._flushes = 0
        self._closed = False
        self._logged: dict[str, None] = {}  # an ordered set of this client's request_ids
        self._counts = dict.fromkeys(
            (
                "enqueued",
                "interactions_stored",
                "feedback_stored",
                "rejected",
                "overflowed",
                "invalid",
                "abandoned",
                "retries",
                "errors",
            ),
            0,
        )
        self._last_error: str | None = None
        # Whether last_error is a failed send (the server away), which a later successful
        # send clears: the count of errors stays, the message no longer describes the present.
        self._last_error_passes = False
        self._failures = 0  # consecutive failed requests, for the backoff

        self._next = 1
        if self._spool is not None:
            for spooled in self._spool.items():
                kind: Kind = "interaction" if spooled.kind == "interaction" else "feedback"
                item = (
                    spooled.seq,
                    kind,
                    spooled.key,
                    spooled.request_id,
                    spooled.alone,
                    spooled.body,
                    time.monotonic(),
                )
                self._queue.append(item)
                if kind == "interaction" and spooled.request_id:
                    self._remember(spooled.request_id)
                self._next = spooled.seq + 1
            if self._queue:
                logger.info("resuming %d items from the spool %s", len(self._queue), spool_dir)
        # With a spool: items queued, not yet written (by number); being written; and
        # those of the latter that finished meanwhile (deleted once written).
        self._unsaved: dict[int, Item] = {}
        self._saving: set[int] = set()
        self._finished_while_saving: list[int] = []
        self._spool_stopping = False
        # Votes put aside after a 404: how many 404s each got, and when each may go again.
        self._not_found: dict[int, int] = {}
        self._due: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, name="feedback-api-client", daemon=True)
        self._thread.start()
        self._spool_thread: threading.Thread | None = None
        if self._spool is not None:
            self._spool_thread = threading.Thread(
                target=self._write_spool, name="feedback-api-client-spool", daemon=True
            )
            self._spool_thread.start()

    # --- the callers' side: never blocks on the network, never raises ---------------------

    def put(self, kind: Kind, body: Mapping[str, Any], key: str, request_id: str | None) -> bool:
        """Queue one item; False (logged and counted) when it is refused."""
        try:
            data = encode(body)
        except (TypeError, ValueError) as exc:
            self._refuse("invalid", f"a {kind} that is not JSON was dropped: {exc}")
            return False
        if len(data) + 16 > self.max_batch_bytes:
            self._refuse(
                "invalid",
                f"a {kind} of {len(data)} bytes was dropped: larger than max_batch_bytes "
                f"({self.max_batch_bytes})",
            )
            return False
        alone = kind == "feedback" and "feedback_token" in body
        with self._lock:
            if self._closed:
                self._counts["abandoned"] += 1
                logger.warning("the client is closed: a %s was dropped", kind)
                return False
            if self._pending() >= self.max_queue:
                self._counts["overflowed"] += 1
                overflowed = self._counts["overflowed"]
                if overflowed == 1 or overflowed % 1000 == 0:
                    logger.warning(
                        "the queue is full (max_queue=%d): %d new items dropped so far",
                        self.max_queue,
                        overflowed,
                    )
                return False
            item: Item = (self._next, kind, key, request_id, alone, data, time.monotonic())
            self._next += 1
            if self._spool is not None:
                self._unsaved[item[N]] = item
                if len(self._unsaved) == 1:
                    self._changed.notify_all()
            self._queue.append(item)
            self._counts["enqueued"] += 1
            if kind == "interaction" and request_id:
                self._remember(request_id)
            # The worker starts its flush_interval at the first item, and sends when full.
            if len(self._queue) == 1 or len(self._queue) >= self.max_batch_items:
                self._changed.notify_all()
        return True

    def _refuse(self, count: str, message: str) -> None:
        with self._lock:
            self._counts[count] += 1
            self._last_error, self._last_error_passes = message, False
        logger.warning(message)

    def _remember(self, request_id: str) -> None:
        self._logged[request_id] = None
        if len(self._logged) > _REMEMBERED_REQUEST_IDS:
            del self._logged[next(iter(self._logged))]

    def _pending(self) -> int:
        return len(self._queue) + len(self._deferred) + self._in_flight

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item queued so far is settled; False if `timeout` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushes += 1
            self._changed.notify_all()
            try:
                while self._pending():
                    if not self._thread.is_alive():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._changed.wait(remaining)
                return True
            finally:
                self._flushes -= 1

    def close(self, timeout: float | None) -> None:
        """Flush for up to `timeout` seconds, then stop the worker. What is still queued
        is written to the spool and stays there, or is counted as abandoned without one."""
        with self._lock:
            if self._closed:
                return
        drained = self.flush(timeout)
        with self._lock:
            self._closed = True
            left = self._pending()
            self._changed.notify_all()
        self._stopping.set()
        # A request under way may take up to `timeout`: not waited for beyond a moment.
        self._thread.join(timeout=2.0)
        if self._spool_thread is not None:
            with self._lock:
                self._spool_stopping = True  # after writing what is unsaved
                self._changed.notify_all()
            self._spool_thread.join(timeout=10.0)
        with self._lock:
            if not drained and left:
                if self._spool is None:
                    self._counts["abandoned"] += left
                    logger.warning("closed with %d items unsent (no spool_dir): lost", left)
                else:
                    logger.info("closed with %d items unsent; they stay in the spool", left)
            if self._thread.is_alive():
                return  # still inside a request: it closes what it uses when it returns
            self._http.close()
            writing = self._spool_thread is not None and self._spool_thread.is_alive()
            if self._spool is not None and not writing:
                self._spool.close()

    # --- the spool writer: the disk off the callers' path ---------------------------------

    def _write_spool(self) -> None:
        """Write what callers queued to the spool, everything waiting in one transaction.

        Callers never touch the disk (a write can stall for many milliseconds on a busy
        machine: docs/benchmarks/client.md); an item reaches the spool moments after its call. An
        item finished before it was written is not written; one finished while it was
        being written is deleted again.
        """
        assert self._spool is not None
        while True:
            with self._lock:
                while not self._unsaved and not self._spool_stopping:
                    self._changed.wait()
                if not self._unsaved:
                    return
                batch = list(self._unsaved.values())
                self._unsaved = {}
                self._saving = {item[N] for item in batch}
            try:
                self._spool.add_many(
                    (item[N], item[KIND], item[KEY], item[RID], item[ALONE], item[BODY])
                    for item in batch
                )
            except Exception as exc:  # the disk is full, the directory went away...
                with self._lock:
                    self._counts["errors"] += 1
                    self._last_error, self._last_error_passes = f"spool: {exc}", False
                logger.warning("could not write to the spool; kept in memory only: %s", exc)
            with self._lock:
                late, self._finished_while_saving = self._finished_while_saving, []
                self._saving = set()
                self._changed.notify_all()
            if late:
                self._forget(late)

    def _forget(self, seqs: list[int]) -> None:
        assert self._spool is not None
        try:
            self._spool.remove(seqs)
        except Exception as exc:  # sent again after a restart: harmless, idempotent
            logger.warning("could not update the spool: %s", exc)

    def stats(self) -> ClientStats:
        with self._lock:
            counts = dict(self._counts)
            queued = self._pending()
            unsaved = len(self._unsaved) + len(self._saving)
            last_error = self._last_error
        return ClientStats(
            queued=queued,
            unsaved=unsaved,
            stored=counts["interactions_stored"] + counts["feedback_stored"],
            last_error=last_error,
            **counts,
        )

    # --- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                cycle = self._next_cycle()
                if cycle is None:
                    return
                self._in_flight = len(cycle)
            try:
                settled = self._send(cycle)
            except Exception as exc:  # a bug of ours must not end the worker
                logger.exception("unexpected error while sending; retrying")
                settled = _Settled(again=cycle, retry=_Retry(f"unexpected error: {exc!r}"))
            self._settle(settled)
            if settled.retry is not None:
                self._stopping.wait(self._delay(settled.retry))

    def _next_cycle(self) -> list[Item] | None:
        """Under the lock: wait until a batch is due, and take it from the head."""
        while True:
            if self._closed:
                return None
            now = time.monotonic()
            self._release_deferred(now)
            waits = []
            if self._queue:
                if (
                    self._flushes
                    or len(self._queue) >= self.max_batch_items
                    or now - self._queue[0][AT] >= self.flush_interval
                ):
                    cycle = self._take()
                    if cycle:
                        return cycle
                    continue  # everything at the head was put aside
                waits.append(self._queue[0][AT] + self.flush_interval - now)
            if self._deferred:
                waits.append(min(self._due[item[N]] for item in self._deferred) - now)
            wait = min(waits, default=math.inf)
            self._changed.wait(max(0.0, wait) if wait < math.inf else None)

    def _release_deferred(self, now: float) -> None:
        """Votes put aside whose time has come go back to the head, in their order, with
        every later vote on the same request_id (which must not overtake them)."""
        ready = {item[RID] for item in self._deferred if self._due[item[N]] <= now}
        if ready:
            due = [item for item in self._deferred if item[RID] in ready]
            self._deferred = [item for item in self._deferred if item[RID] not in ready]
            for item in due:
                del self._due[item[N]]
            self._queue.extendleft(reversed(due))

    def _take(self) -> list[Item]:
        """Items from the head, in order, up to one batch of each kind; stops at the first
        that does not fit, so nothing is sent before an item queued ahead of it. A vote on a
        request_id whose earlier vote is put aside is put aside behind it (order per vote)."""
        cycle: list[Item] = []
        sizes = {"interaction": 0, "feedback": 0}
        counts = {"interaction": 0, "feedback": 0}
        alone = 0
        waiting = {item[RID] for item in self._deferred}
        while self._queue:
            item = self._queue[0]
            if item[KIND] == "feedback" and item[RID] in waiting:
                self._queue.popleft()
                self._due[item[N]] = math.inf  # it goes back with the vote it waits behind
                self._deferred.append(item)
                continue
            if item[ALONE]:
                # Token votes go after the batches: never in a cycle with batched votes
                # queued before them, which they would overtake.
                if alone >= _ALONE_PER_CYCLE or counts["feedback"]:
                    break
                alone += 1
            else:
                kind, size = item[KIND], len(item[BODY]) + 1
                if kind == "feedback" and alone:
                    break
                if counts[kind] >= self.max_batch_items:
                    break
                if sizes[kind] + size > self.max_batch_bytes - 16:
                    break
                counts[kind] += 1
                sizes[kind] += size
            cycle.append(self._queue.popleft())
        return cycle

    def _delay(self, retry: _Retry) -> float:
        if retry.delay is not None:
            return min(retry.delay, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(self._failures - 1, 30))
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter": never all at once

    def _settle(self, settled: _Settled) -> None:
        with self._lock:
            seqs = []
            for item in settled.done + settled.rejected:
                number = item[N]
                self._not_found.pop(number, None)
                if self._spool is None or self._unsaved.pop(number, None) is not None:
                    continue  # never written: nothing to delete
                if number in self._saving:
                    self._finished_while_saving.append(number)
                else:
                    seqs.append(number)
            for item in settled.done:
                self._counts[_STORED[item[KIND]]] += 1
            self._counts["rejected"] += len(settled.rejected)
            for item in settled.rejected:
                if item[KIND] == "interaction" and item[RID]:
                    self._logged.pop(item[RID], None)  # its votes cannot find it
            self._deferred.extend(settled.deferred)
            self._queue.extendleft(reversed(settled.again))
            self._in_flight = 0
            if settled.retry is not None:
                self._failures += 1
                self._counts["errors"] += 1
                self._counts["retries"] += 1
                self._last_error, self._last_error_passes = settled.retry.reason, True
            else:
                self._failures = 0
                if self._last_error_passes:  # the server answers again
                    self._last_error, self._last_error_passes = None, False
            self._changed.notify_all()
        if seqs:
            self._forget(seqs)
        if settled.retry is not None:
            logger.warning("sending failed (%s); will retry", settled.retry.reason)

    def _send(self, cycle: list[Item]) -> _Settled:
        settled = _Settled()
        exchanges = [item for item in cycle if item[KIND] == "interaction"]
        votes = [item for item in cycle if item[KIND] == "feedback" and not item[ALONE]]
        try:
            # In this order: a vote goes only once the exchanges queued before it are stored.
            if exchanges:
                self._post_batch(INTERACTIONS_BATCH, exchanges, settled)
                if settled.again:
                    raise _Retry("the server asked to send some exchanges again")
            if votes:
                self._post_batch(FEEDBACK_BATCH, votes, settled)
            for item in cycle:
                if item[ALONE]:
                    self._post_alone(item, settled)
        except _Retry as retry:
            settled.retry = retry
        if settled.again and settled.retry is None:
            settled.retry = _Retry("the server asked to send some items again")
        if settled.retry is not None:
            # Everything not settled goes back to the head, in its order.
            finished = {item[N] for item in settled.done + settled.rejected + settled.deferred}
            settled.again = [item for item in cycle if item[N] not in finished]
        return settled

    def _post_batch(self, path: str, items: list[Item], settled: _Settled) -> None:
        """One batch request; on 413 the batch is halved (an item alone too large is
        dropped). Raises _Retry when the whole request should be sent again."""
        body = b'{"items":[' + b",".join(item[BODY] for item in items) + b"]}"
        response = self._request(path, body, {"content-type": "application/json"})
        if response.status_code == 413 and len(items) > 1:
            half = len(items) // 2
            self._post_batch(path, items[:half], settled)
            self._post_batch(path, items[half:], settled)
            return
        if response.status_code != 200:
            reason = _describe(response)
            for item in items:
                self._reject(item, settled, response.status_code, reason)
            return
        try:
            results = response.json()["results"]
            statuses = {int(r["index"]): (int(r["status"]), r.get("error")) for r in results}
        except (ValueError, KeyError, TypeError) as exc:
            raise _Retry(f"{path} answered something else than a batch result: {exc}") from None
        for index, item in enumerate(items):
            status, error = statuses.get(index, (500, "no result for this item"))
            self._file(item, status, error or "", settled)

    def _post_alone(self, item: Item, settled: _Settled) -> None:
        headers = {"content-type": "application/json", "idempotency-key": item[KEY]}
        response = self._request(FEEDBACK, item[BODY], headers)
        self._file(item, response.status_code, _describe(response), settled)

    def _request(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        try:
            response = self._http.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None
        if _retryable(response.status_code):
            raise _Retry(f"{path} answered {response.status_code}", retry_after(response))
        return response

    def _file(self, item: Item, status: int, error: str, settled: _Settled) -> None:
        """Where one item goes after the server's answer for it."""
        if status in (200, 201):
            settled.done.append(item)
        elif status == 404 and item[KIND] == "feedback" and item[RID] in self._logged:
            times = self._not_found[item[N]] = self._not_found.get(item[N], 0) + 1
            if times > self.not_found_retries:
                self._reject(item, settled, status, error)
                return
            ceiling = min(self.backoff_max, self.backoff_base * 2**times)
            self._due[item[N]] = time.monotonic() + random.uniform(ceiling / 2, ceiling)
            settled.deferred.append(item)
        elif _retryable(status):
            settled.again.append(item)
        else:
            self._reject(item, settled, status, error)

    def _reject(self, item: Item, settled: _Settled, status: int, error: str) -> None:
        settled.rejected.append(item)
        message = f"a {item[KIND]} was refused with {status} and dropped: {error}"
        with self._lock:
            self._last_error, self._last_error_passes = message, False
        logger.warning("%s (request_id %s)", message, item[RID])


def _describe(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else response.text[:200]
