"""Group commit: writes that arrive together share one statement and one commit.

A commit costs PostgreSQL a WAL flush and costs us a statement and its round trip, whatever
the size of the transaction. Under load, one single-vote request per transaction spends most
of its time on that fixed cost. Here each request hands its items to a writer and waits; the
writer takes every item that is waiting, writes them all with one set-wise call, commits, and
only then answers each request. A 2xx still means committed: no request is answered before
the transaction holding its rows commits.

With no concurrency the group is one request and this costs one task switch; under load the
groups grow by themselves (requests arrive while the previous group commits), and a writer
may wait a little for more right after a group of several (`grow_for`): that is what keeps
throughput near PostgreSQL's own ceiling (docs/benchmarks/ingest.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger(__name__)

Write = Callable[[AsyncConnection, Sequence[T]], Awaitable[Sequence[R]]]

# A group is waited for to grow (`grow_for`) only after one of at least LOADED requests that
# committed less than PAUSE seconds ago: under load. Two requests together are what chance
# makes at a low rate; a writer idle for PAUSE has no clients coming back to wait for.
LOADED = 3
PAUSE = 0.02


class GroupCommit(Generic[T, R]):
    """`await group.write(items)` writes `items` with whatever else is waiting.

    `write(connection, items)` runs on a connection of `engine`, must return one result per
    item in order and treat the items as if written one after another in that order; the
    group commits when it returns. The items of one call are never split across
    transactions. When `write` is a single statement (atomic by itself), give an engine with
    `isolation_level="AUTOCOMMIT"`: no BEGIN or COMMIT round trips. Each of the `writers`
    keeps one connection from its first group until `close()` (or until a write fails, when
    the connection goes back to the pool and the next group checks out a tested one).

    When a shared write fails with an error for which `retry_alone(error)` is true (a value
    one request sent, a deadlock), each request is written again on its own, so that it alone
    gets that error; any other error (the database is down, a statement timed out) is every
    request's answer at once.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        write: Write[T, R],
        *,
        retry_alone: Callable[[Exception], bool],
        max_items: int = 1000,
        writers: int = 1,
        gather_turns: int = 0,
        grow_for: float = 0.0,
    ) -> None:
        self._engine = engine
        self._write = write
        self._retry_alone = retry_alone
        self._max_items = max_items
        # Before each group the writer lets the event loop turn while each turn brings new
        # items, up to this many turns: requests whose bytes have arrived hand their items
        # in, and the group grows (see `_gather`). None by default: a writer takes what is
        # waiting when it starts.
        self._gather_turns = gather_turns
        # Then, when the previous group held several requests and committed within PAUSE
        # (under load), the writer waits up to `grow_for` seconds for as many (`_gather`).
        if grow_for and writers != 1:
            raise ValueError("grow_for needs a single writer: the groups' sizes are its own")
        self._grow_for = grow_for
        self._previous = 0  # requests in the group taken last (0: it left others waiting)
        self._committed_at = -math.inf  # when that group's write returned (the loop's clock)
        self._grown: tuple[int, asyncio.Future[None]] | None = None  # (size, when reached)
        # More than one writer sends a group while the previous one commits, overlapping
        # PostgreSQL's commit latency with our own work, at the price of smaller groups.
        self._writers = writers
        self._waiting: list[tuple[Sequence[T], asyncio.Future[Sequence[R]]]] = []
        self._running: set[asyncio.Task[None]] = set()
        # Writers between groups keep their connections: under a steady load every group
        # would otherwise pay a checkout, the pool's pre-ping round trip and a check-in.
        self._idle: list[_Writer[T, R]] = []

    async def write(self, items: Sequence[T]) -> Sequence[R]:
        """The results of `items`, once the transaction that wrote them has committed."""
        if not items:
            return []
        future: asyncio.Future[Sequence[R]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        grown = self._grown
        if grown is not None and len(self._waiting) >= grown[0] and not grown[1].done():
            grown[1].set_result(None)
        if len(self._running) < self._writers:
            self._running.add(asyncio.create_task(self._drain()))
        # A caller that goes away cancels its own future only; the shared write goes on, and
        # its result for that caller is dropped (see `_commit`).
        return await future

    async def _drain(self) -> None:
        writer = self._idle.pop() if self._idle else _Writer(self._engine, self._write)
        try:
            while self._waiting:
                if self._gather_turns or self._grow_for:
                    await self._gather()
                size, count = 0, 0
                for items, _ in self._waiting:
                    if count and size + len(items) > self._max_items:
                        break
                    size += len(items)
                    count += 1
                group = self._waiting[:count]
                del self._waiting[:count]
                # A group that left requests waiting (max_items) is no size to wait for.
                self._previous = 0 if self._waiting else count
                await self._commit(writer, group)
                self._committed_at = asyncio.get_running_loop().time()
        finally:
            # Here, with no await between the last look at `_waiting` and this: a write that
            # arrives now sees a free writer and starts one. (A done-callback would run a loop
            # iteration later, and a write arriving in between would wait for nobody.)
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)
            self._idle.append(writer)

    async def _gather(self) -> None:
        """Let the event loop turn before a group is taken, as long as each turn brings more
        items (at most `gather_turns` turns); then, if the previous group held LOADED
        requests or more, committed less than PAUSE ago, and fewer are waiting now, wait up
        to `grow_for` seconds for as many.

        A request that arrives while no group is being written starts a writer, which would
        otherwise take that one request alone while the handlers of requests read in the same
        turn are still on their way to `write`. A turn costs microseconds; a smaller group
        costs a statement, its round trip and its commit: under load the groups are several
        times larger this way (docs/benchmarks/ingest.md, "Votes at a million a week"). Alone, a
        request waits one turn.

        The turns alone leave groups at about half the clients under a steady load: while a
        group commits the others' requests gather, and the group's own clients send their
        next ones only once answered, after the next group has left. Waiting for the previous
        group's size lets those join: fewer, larger groups, each vote cheaper for PostgreSQL
        and for us (decisions/030). A wait ends as soon as the size is reached. A group of
        one or two is never waited for, nor one after a pause: a request that comes more
        than PAUSE after the last commit starts a group at once, whatever that one held.
        """
        try:
            for _ in range(self._gather_turns):
                before = len(self._waiting)
                await asyncio.sleep(0)
                if len(self._waiting) == before:
                    break
            wanted = self._previous
            loop = asyncio.get_running_loop()
            busy = loop.time() - self._committed_at <= PAUSE
            if self._grow_for and wanted >= LOADED and busy and len(self._waiting) < wanted:
                reached: asyncio.Future[None] = loop.create_future()
                self._grown = (wanted, reached)
                timer = loop.call_later(self._grow_for, _settle, reached)
                try:
                    await reached
                finally:
                    timer.cancel()
                    self._grown = None
        except BaseException as exc:  # cancelled at shutdown: nobody may wait forever
            stranded, self._waiting = self._waiting, []
            for _, future in stranded:
                _fail(future, exc)
            raise

    async def _commit(
        self,
        writer: _Writer[T, R],
        group: list[tuple[Sequence[T], asyncio.Future[Sequence[R]]]],
    ) -> None:
        try:
            try:
                results = await writer.run([item for items, _ in group for item in items])
            except Exception as exc:
                if len(group) == 1 or not self._retry_alone(exc):
                    for _, future in group:
                        _fail(future, exc)
                    return
                logger.warning("a group of %d writes failed (%s); each goes alone", len(group), exc)
                for request in group:
                    await self._commit(writer, [request])
                return
        except BaseException as exc:  # cancelled at shutdown: nobody may wait forever
            for _, future in group:
                _fail(future, exc)
            raise
        start = 0
        for items, future in group:
            if not future.done():  # cancelled: its caller went away
                future.set_result(results[start : start + len(items)])
            start += len(items)

    async def close(self) -> None:
        """Wait until every write handed in so far is done, then give the connections back."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        idle, self._idle = self._idle, []
        for writer in idle:
            await writer.release()


class _Writer(Generic[T, R]):
    """One writer's connection, checked out at its first group and kept between groups."""

    def __init__(self, engine: AsyncEngine, write: Write[T, R]) -> None:
        self._engine = engine
        self._write = write
        self._connection: AsyncConnection | None = None

    async def run(self, items: Sequence[T]) -> Sequence[R]:
        if self._connection is not None and await _closed(self._connection):
            # Closed while it waited for this group (a database restart): the pool drops it
            # and gives a tested one instead of failing the group.
            await self.release()
        if self._connection is None:
            self._connection = await self._engine.connect()
        try:
            results = await self._write(self._connection, items)
            await self._connection.commit()
        except BaseException:
            # Rolled back and back to the pool (or dropped there, when the failure broke it);
            # the next group checks out a connection the pool has tested.
            await self.release()
            raise
        return results

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # A connection that fails its rollback is dropped by the pool; the write it did is
            # answered already, and that failure must not change the answer.
            with contextlib.suppress(Exception):
                await connection.close()


async def _closed(connection: AsyncConnection) -> bool:
    """Whether the driver knows the connection is gone (no round trip: its socket closed)."""
    driver = (await connection.get_raw_connection()).driver_connection
    is_closed = getattr(driver, "is_closed", None)
    return bool(is_closed()) if callable(is_closed) else False


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future[R], exc: BaseException) -> None:
    if future.done():  # already answered: by a retry alone, before a cancellation
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
