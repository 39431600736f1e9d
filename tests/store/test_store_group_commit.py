"""Group commit: concurrent add() calls share commits (each commit is one fsync)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.store.storage import SIMPLE, add, headed, on_store

from smtpx.store import SQLiteStore
from smtpx.store._writer import LARGE_MESSAGE

CONCURRENT = 200


def test_200_concurrent_adds_share_far_fewer_commits(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> tuple[list[str], int]:
        before = store.commits
        ids = await asyncio.gather(*(add(store, headed(f"n{n}")) for n in range(CONCURRENT)))
        return ids, store.commits - before

    ids, commits = on_store(tmp_path, scenario)
    print(f"\n{CONCURRENT} concurrent add() calls: {commits} commits")
    assert len(set(ids)) == CONCURRENT
    assert commits <= CONCURRENT // 10


def test_sessions_that_each_wait_for_their_reply_still_share_commits(tmp_path: Path) -> None:
    # Closer to a server: 50 sessions, each sending 4 messages one after the other,
    # each waiting for its message to be committed (its 250) before the next.
    async def session(store: SQLiteStore, n: int) -> None:
        for m in range(4):
            await add(store, headed(f"session {n} message {m}"))

    async def scenario(store: SQLiteStore) -> int:
        before = store.commits
        await asyncio.gather(*(session(store, n) for n in range(50)))
        assert await store.count() == 200
        return store.commits - before

    commits = on_store(tmp_path, scenario)
    print(f"\n50 sessions x 4 messages, each awaited: {commits} commits")
    assert commits <= 50


def test_ids_follow_the_order_of_the_add_calls(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = await asyncio.gather(*(add(store, headed(f"n{n}")) for n in range(50)))
        assert ids == sorted(ids)
        listed = await store.list(limit=50)
        assert [m.summary.subject for m in listed] == [f"n{n}" for n in reversed(range(50))]

    on_store(tmp_path, scenario)


def test_sequential_adds_commit_one_by_one(tmp_path: Path) -> None:
    # Nothing waits for company: a lone message is committed at once.
    async def scenario(store: SQLiteStore) -> int:
        before = store.commits
        for n in range(3):
            await add(store, headed(str(n)))
        return store.commits - before

    assert on_store(tmp_path, scenario) == 3


def test_a_large_message_commits_apart_from_the_small_ones(tmp_path: Path) -> None:
    big = SIMPLE + b"x" * (LARGE_MESSAGE + 1)

    async def scenario(store: SQLiteStore) -> None:
        results = await asyncio.gather(
            add(store, big), *(add(store, headed(str(n))) for n in range(20))
        )
        assert len(set(results)) == 21
        assert await store.raw(results[0]) == big
        assert await store.count() == 21

    on_store(tmp_path, scenario)


def test_deletes_join_the_group_commit(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = await asyncio.gather(*(add(store, headed(str(n))) for n in range(50)))
        before = store.commits
        deleted = await asyncio.gather(*(store.delete(message_id) for message_id in ids))
        assert all(deleted)
        assert store.commits - before <= 5
        assert await store.count() == 0

    on_store(tmp_path, scenario)


def test_a_cancelled_add_still_keeps_the_message(tmp_path: Path) -> None:
    # The client went away while the commit was in flight; the message is kept
    # (nobody can un-write it), and the store keeps working.
    async def scenario(store: SQLiteStore) -> None:
        task = asyncio.ensure_future(add(store, headed("orphan")))
        await asyncio.sleep(0)  # add() has queued its job
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await add(store, headed("next"))
        assert {m.summary.subject for m in await store.list()} == {"orphan", "next"}

    on_store(tmp_path, scenario)
