"""Group commit: concurrent writes share a transaction, and each answer waits for its commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from feedback_api.config import Settings
from feedback_api.feedback.repository import VoteEntry, write_votes
from feedback_api.feedback.service import vote_group
from feedback_api.kit.db import autocommit
from feedback_api.kit.group_commit import PAUSE, GroupCommit
from tests.helpers import count, exchange


class Recorder:
    """A write function that keeps the groups it was given; fails for items named 'bad'."""

    def __init__(self, delay: float = 0.01) -> None:
        self.groups: list[list[str]] = []
        self.delay = delay

    async def __call__(self, connection: AsyncConnection, items: Sequence[str]) -> list[str]:
        self.groups.append(list(items))
        await asyncio.sleep(self.delay)  # a commit takes time: others queue meanwhile
        if "bad" in items:
            raise ValueError("refused")
        return [item.upper() for item in items]


def everything(exc: Exception) -> bool:
    return True


class Tracked(GroupCommit[str, str]):
    """A group that gives its writers' connections back after the test."""

    opened: ClassVar[list[GroupCommit[str, str]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened.append(self)


@pytest.fixture(autouse=True)
async def _close_groups() -> AsyncIterator[None]:
    yield
    while Tracked.opened:
        await Tracked.opened.pop().close()


async def test_concurrent_writes_are_grouped_and_each_gets_its_own_result(
    engine: AsyncEngine,
) -> None:
    recorder = Recorder()
    group: GroupCommit[str, str] = Tracked(engine, recorder, retry_alone=everything, writers=1)
    results = await asyncio.gather(*(group.write([f"v{i}"]) for i in range(20)))
    assert [list(r) for r in results] == [[f"V{i}"] for i in range(20)]
    # All twenty were waiting when the writer started: one transaction for all.
    assert recorder.groups == [[f"v{i}" for i in range(20)]]


async def test_one_failing_write_does_not_fail_the_others(engine: AsyncEngine) -> None:
    recorder = Recorder()
    group: GroupCommit[str, str] = Tracked(engine, recorder, retry_alone=everything, writers=1)
    results = await asyncio.gather(
        *(group.write(["bad" if i == 3 else f"v{i}"]) for i in range(6)), return_exceptions=True
    )
    assert isinstance(results[3], ValueError)
    assert [list(r) for i, r in enumerate(results) if i != 3] == [  # type: ignore[call-overload]
        ["V0"],
        ["V1"],
        ["V2"],
        ["V4"],
        ["V5"],
    ]
    # After the shared attempt failed, each write was retried alone.
    assert ["v1"] in recorder.groups and ["bad"] in recorder.groups


async def test_the_items_of_one_write_are_never_split(engine: AsyncEngine) -> None:
    recorder = Recorder()
    group: GroupCommit[str, str] = Tracked(
        engine, recorder, retry_alone=everything, writers=1, max_items=5
    )
    first = asyncio.create_task(group.write(["a"]))
    await asyncio.sleep(0)  # "a" is being written: the batches below queue behind it
    batches = [[f"b{i}-{j}" for j in range(4)] for i in range(3)] + [[f"c{j}" for j in range(7)]]
    results = await asyncio.gather(*(group.write(b) for b in batches))
    await first
    assert [list(r) for r in results] == [[x.upper() for x in b] for b in batches]
    # Two batches of 4 would exceed 5 items: each goes alone; one of 7 goes whole.
    assert recorder.groups == [["a"], *batches]


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_write(
    engine: AsyncEngine,
) -> None:
    recorder = Recorder(delay=0.05)
    group: GroupCommit[str, str] = Tracked(engine, recorder, retry_alone=everything, writers=1)
    leaving = asyncio.create_task(group.write(["leaves"]))
    staying = asyncio.create_task(group.write(["stays"]))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert list(await staying) == ["STAYS"]
    await group.close()
    assert recorder.groups == [["leaves", "stays"]]


async def test_an_error_of_the_whole_database_is_everyone_s_answer_at_once(
    engine: AsyncEngine,
) -> None:
    recorder = Recorder()
    group: GroupCommit[str, str] = Tracked(engine, recorder, retry_alone=lambda exc: False)
    results = await asyncio.gather(
        *(group.write(["bad" if i == 0 else f"v{i}"]) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ValueError) for r in results)
    assert len(recorder.groups) == 1  # no retries one by one (a timeout would take N times)


@pytest.mark.parametrize("writers", [1, 2])
@pytest.mark.parametrize("delay", range(6))
async def test_a_write_arriving_as_a_writer_finishes_is_written(
    engine: AsyncEngine, writers: int, delay: int
) -> None:
    async def write(connection: AsyncConnection, items: Sequence[str]) -> list[str]:
        await asyncio.sleep(0)
        return [item.upper() for item in items]

    group: GroupCommit[str, str] = Tracked(engine, write, retry_alone=everything, writers=writers)

    async def late() -> Sequence[str]:
        for _ in range(delay):  # land at each step of the first writer's way out
            await asyncio.sleep(0)
        return await group.write(["b"])

    first, second = await asyncio.wait_for(asyncio.gather(group.write(["a"]), late()), 2)
    assert (list(first), list(second)) == (["A"], ["B"])


async def test_cancelled_writers_leave_nobody_waiting(engine: AsyncEngine) -> None:
    recorder = Recorder(delay=0.05)
    group: GroupCommit[str, str] = Tracked(engine, recorder, retry_alone=everything, writers=1)
    writes = [asyncio.create_task(group.write(["bad" if i == 1 else f"v{i}"])) for i in range(3)]
    await asyncio.sleep(0.07)  # the group failed; the writes are being retried one by one
    for task in list(group._running):
        task.cancel()  # the event loop shutting down
    _, pending = await asyncio.wait(writes, timeout=1)
    assert not pending


async def test_an_empty_write_writes_nothing(engine: AsyncEngine) -> None:
    recorder = Recorder()
    group: GroupCommit[str, str] = Tracked(engine, recorder, retry_alone=everything)
    assert list(await group.write([])) == []
    assert recorder.groups == []


def growing(
    engine: AsyncEngine, recorder: Recorder, grow_for: float, max_items: int = 1000
) -> GroupCommit[str, str]:
    """The single votes' settings (app.py): loop turns first, then the wait to grow."""
    return Tracked(
        engine,
        recorder,
        retry_alone=everything,
        writers=1,
        gather_turns=4,
        grow_for=grow_for,
        max_items=max_items,
    )


def seconds() -> float:
    return asyncio.get_running_loop().time()


async def test_under_load_a_group_waits_to_grow_to_the_previous_one_s_size(
    engine: AsyncEngine,
) -> None:
    recorder = Recorder(delay=0)
    group = growing(engine, recorder, grow_for=5)
    await asyncio.gather(*(group.write([f"v{i}"]) for i in range(3)))  # a group of three
    started = seconds()
    alone = asyncio.create_task(group.write(["a"]))
    await asyncio.sleep(0.05)
    assert not alone.done()  # waiting for two more
    rest = await asyncio.gather(group.write(["b"]), group.write(["c"]))
    assert [list(await alone), *map(list, rest)] == [["A"], ["B"], ["C"]]
    assert recorder.groups == [["v0", "v1", "v2"], ["a", "b", "c"]]
    # Written as soon as three were waiting, not at the end of the wait.
    assert seconds() - started < 2


async def test_a_group_waits_to_grow_no_longer_than_it_may(engine: AsyncEngine) -> None:
    recorder = Recorder(delay=0)
    group = growing(engine, recorder, grow_for=0.2)
    await asyncio.gather(*(group.write([f"v{i}"]) for i in range(3)))
    started = seconds()
    assert list(await asyncio.wait_for(group.write(["a"]), 2)) == ["A"]
    assert seconds() - started >= 0.2
    assert recorder.groups[-1] == ["a"]


async def test_without_load_a_vote_never_waits_for_others(engine: AsyncEngine) -> None:
    recorder = Recorder(delay=0)
    group = growing(engine, recorder, grow_for=5)
    started = seconds()
    for name in ("a", "b", "c"):  # one after another: every group holds one
        assert list(await group.write([name])) == [name.upper()]
    # Two together are what chance makes at a low rate: no reason to wait for two again.
    await asyncio.gather(group.write(["d"]), group.write(["e"]))
    assert list(await group.write(["f"])) == ["F"]
    assert seconds() - started < 2
    assert recorder.groups == [["a"], ["b"], ["c"], ["d", "e"], ["f"]]


async def test_after_a_pause_a_vote_does_not_wait_for_the_last_group_s_size(
    engine: AsyncEngine,
) -> None:
    recorder = Recorder(delay=0)
    group = growing(engine, recorder, grow_for=5)
    await asyncio.gather(*(group.write([f"v{i}"]) for i in range(3)))
    await asyncio.sleep(PAUSE * 3)  # the load is gone
    started = seconds()
    assert list(await group.write(["a"])) == ["A"]
    assert seconds() - started < 2


async def test_a_group_cut_at_max_items_is_no_size_to_wait_for(engine: AsyncEngine) -> None:
    recorder = Recorder(delay=0.01)
    group = growing(engine, recorder, grow_for=5, max_items=3)
    started = seconds()
    results = await asyncio.gather(*(group.write([f"v{i}"]) for i in range(5)))
    assert [list(r) for r in results] == [[f"V{i}"] for i in range(5)]
    # The two left behind were written next, at once: a backlog is not waited for.
    assert recorder.groups == [["v0", "v1", "v2"], ["v3", "v4"]]
    assert seconds() - started < 2


async def test_growing_groups_need_a_single_writer(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="single writer"):
        GroupCommit(engine, Recorder(), retry_alone=everything, writers=2, grow_for=0.001)


async def test_a_writer_cancelled_while_its_group_grows_leaves_nobody_waiting(
    engine: AsyncEngine,
) -> None:
    group = growing(engine, Recorder(delay=0), grow_for=5)
    await asyncio.gather(*(group.write([f"v{i}"]) for i in range(3)))
    alone = asyncio.create_task(group.write(["a"]))
    await asyncio.sleep(0.05)  # the writer waits for two more
    for task in list(group._running):
        task.cancel()  # the event loop shutting down
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(alone, 1)
    assert group._grown is None and group._waiting == []


async def test_concurrent_votes_commit_together(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    responses = await asyncio.gather(
        *(client.post("/v1/feedback", json=exchange(rating=1, user_id=f"u{i}")) for i in range(40))
    )
    assert {r.status_code for r in responses} == {201}
    assert await count(engine, "feedback") == 40
    async with engine.connect() as conn:
        # Rows written by one transaction carry its id in xmin.
        transactions = await conn.scalar(text("SELECT count(DISTINCT xmin::text) FROM feedback"))
    assert transactions is not None and transactions < 40


async def test_a_vote_the_database_refuses_fails_alone(
    settings: Settings, database_url: str, engine: AsyncEngine
) -> None:
    group = vote_group(engine, writers=2)

    def entry(n: int, stars: int | None = None) -> VoteEntry:
        interaction = {**exchange(), "request_id": f"r{n}", "meta": {}}
        return VoteEntry({"is_helpful": True, "stars": stars, "metadata": {}}, interaction)

    # 40,000 stars passes no schema here (the API refuses it before) and overflows
    # the smallint column: the one statement of a shared group fails.
    results = await asyncio.gather(
        *(group.write([entry(n, 40_000 if n == 2 else None)]) for n in range(6)),
        return_exceptions=True,
    )
    await group.close()
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1
    assert await count(engine, "feedback") == 5
    assert await count(engine, "interactions") == 5


@pytest.mark.parametrize("writers", [1, 2])
async def test_votes_on_shared_interactions_from_many_groups_never_deadlock(
    make_client: Any, engine: AsyncEngine, writers: int
) -> None:
    """Groups that touch the same interactions in different orders wait, never deadlock."""
    async with make_client() as first, make_client() as second:
        for n in range(5):
            await first.post("/v1/interactions", json=exchange(request_id=f"shared-{n}"))

        async def votes(client: httpx.AsyncClient, order: list[int], user: str) -> list[int]:
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/v1/feedback",
                        json={"request_id": f"shared-{n}", "rating": 1, "user_id": user},
                    )
                    for n in order
                )
            )
            return [a.status_code for a in answers]

        statuses = await asyncio.gather(
            *(votes(first, [0, 1, 2, 3, 4], f"u{i}") for i in range(writers * 4)),
            *(votes(second, [4, 3, 2, 1, 0], f"u{i}") for i in range(writers * 4)),
        )
    assert {s for answers in statuses for s in answers} <= {200, 201}
    assert await count(engine, "feedback") == 5 * writers * 4


async def test_groups_mixing_context_and_references_never_deadlock(
    settings: Settings, database_url: str, engine: AsyncEngine
) -> None:
    """Group A brings R1 and votes on R2 by reference, group B the other way round.

    Reusing an interaction must not lock it against the foreign-key checks of the other
    group's votes (see interactions.models.REUSE_INTERACTION).
    """

    def vote(request_id: str, user: str, *, context: bool) -> VoteEntry:
        values = {"is_helpful": True, "metadata": {}, "user_id": user}
        if context:
            return VoteEntry(values, {**exchange(), "request_id": request_id, "meta": {}})
        return VoteEntry(values, request_id=request_id)

    async def run(entries: list[VoteEntry]) -> list[Any]:
        async with autocommit(engine).connect() as connection:
            return await write_votes(connection, entries)

    await run([vote("R1", "creator", context=True), vote("R2", "creator", context=True)])
    for n in range(20):
        a = [vote("R1", f"a{n}-{i}", context=True) for i in range(20)]
        a += [vote("R2", f"a{n}-{i}", context=False) for i in range(20)]
        b = [vote("R2", f"b{n}-{i}", context=True) for i in range(20)]
        b += [vote("R1", f"b{n}-{i}", context=False) for i in range(20)]
        await asyncio.gather(run(a), run(b))  # a deadlock would raise here
    assert await count(engine, "feedback") == 2 + 20 * 80


async def test_a_statement_timeout_is_answered_at_once_not_one_by_one(
    make_client: Any, database_url: str
) -> None:
    import asyncpg

    async with make_client(statement_timeout_seconds=1) as client:
        await client.post("/v1/interactions", json=exchange(request_id="locked"))
        blocker = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
        try:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE feedback IN EXCLUSIVE MODE")
                started = seconds()
                answers = await asyncio.gather(
                    *(
                        client.post(
                            "/v1/feedback",
                            json={"request_id": "locked", "rating": 1, "user_id": f"u{i}"},
                        )
                        for i in range(8)
                    )
                )
                elapsed = asyncio.get_running_loop().time() - started
        finally:
            await blocker.close()
    assert {a.status_code for a in answers} == {503}
    assert {a.json()["code"] for a in answers} == {"query_timeout"}
    assert elapsed < 4  # every group's one timeout, not one per vote
