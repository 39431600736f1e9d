"""What the inbox writes and polls: seen, since(), delete_matching(), prune(), stats().

Every change must keep the full-text index in step with the messages: after
each scenario, ``in_step`` runs FTS5's integrity check and compares the rowids
of the index, the messages and their bytes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.store.storage import SIMPLE, Clock, add, headed, on_store

from smtpx.store import (
    DeliveryStatus,
    DeliveryUpdate,
    SQLiteStore,
    StoreStats,
    _messages,
    _sqlite,
    parse_query,
)
from smtpx.store._search import compile_query, page_statement, read_seqs, since_statement
from smtpx.store._sqlite import DATABASE_NAME

BOB, CAROL = "bob@example.net", "carol@example.net"  # storage.ENVELOPE's recipients


def in_step(data_dir: Path) -> int:
    """Check the full-text index against the messages; how many messages there are."""
    with sqlite3.connect(data_dir / DATABASE_NAME) as connection:
        connection.execute("INSERT INTO messages_text (messages_text) VALUES ('integrity-check')")
        indexed = [seq for (seq,) in connection.execute("SELECT rowid FROM messages_text")]
        rows = [seq for (seq,) in connection.execute("SELECT seq FROM messages")]
        contents = [seq for (seq,) in connection.execute("SELECT seq FROM contents")]
        (orphans,) = connection.execute(
            "SELECT count(*) FROM deliveries WHERE seq NOT IN (SELECT seq FROM messages)"
        ).fetchone()
    assert sorted(indexed) == sorted(rows) == sorted(contents)
    assert orphans == 0
    return len(rows)


# mark_seen()


def test_messages_arrive_unseen_and_mark_seen_counts_what_changed(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, headed(str(n))) for n in range(4)]
        assert [m.seen for m in await store.list()] == [False] * 4
        before = store.commits
        assert await store.mark_seen([ids[0], ids[1], ids[1], "0" * 20, "not an id"]) == 2
        assert store.commits - before == 1
        assert await store.mark_seen([ids[1], ids[2]]) == 1  # ids[1] was already seen
        assert [m.seen for m in await store.list()] == [False, True, True, True]
        assert await store.mark_seen([ids[0], ids[3]], seen=False) == 1
        assert [m.seen for m in await store.list()] == [False, True, True, False]
        stored = await store.get(ids[1])
        assert stored is not None
        assert stored.seen is True
        assert await store.mark_seen([]) == 0
        with pytest.raises(TypeError, match="a sequence of ids, not one id"):
            await store.mark_seen(ids[0])

    on_store(tmp_path, scenario)


def test_mark_seen_takes_any_number_of_ids(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = await asyncio.gather(*(add(store, headed(str(n))) for n in range(300)))
        unknown = [f"{n:020x}" for n in range(50_000)]  # more than SQLite's variables
        assert await store.mark_seen([*unknown, *ids]) == 300
        assert await store.count("is:unread") == 0

    on_store(tmp_path, scenario)


# since(): what arrived after an id, oldest first, for a long poll.


def test_since_lists_what_came_after_an_id_oldest_first(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, headed(f"n{n}", to=f"r{n % 2}@example.net")) for n in range(6)]
        assert [m.id for m in await store.since("", None)] == ids
        assert [m.id for m in await store.since("", None, limit=2)] == ids[:2]
        assert [m.id for m in await store.since("", ids[2])] == ids[3:]
        assert [m.id for m in await store.since("to:r1@example.net", ids[2])] == [ids[3], ids[5]]
        assert await store.since("", ids[-1]) == []
        await store.delete(ids[2])
        assert [m.id for m in await store.since("", ids[2])] == ids[3:]  # a deleted cursor
        assert [m.id for m in await store.since("", "0")] == [ids[0], ids[1], *ids[3:]]

    on_store(tmp_path, scenario)


def test_a_poll_with_since_sees_each_new_match_once(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await add(store, headed("your code is 1111"))
        (newest,) = await store.list(limit=1)
        cursor: str | None = newest.id
        assert await store.since("code", cursor) == []
        await add(store, headed("unrelated"))
        wanted = await add(store, headed("your code is 2222"))
        found = await store.since("code", cursor)
        assert [m.id for m in found] == [wanted]
        cursor = found[-1].id
        assert await store.since("code", cursor) == []

    on_store(tmp_path, scenario)


# count() and stats()


def test_count_with_and_without_a_query(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, headed(f"n{n}")) for n in range(5)]
        await store.mark_seen(ids[:2])
        assert await store.count() == 5
        assert await store.count("") == 5
        assert await store.count("is:unread") == 3
        assert await store.count("n3") == 1
        assert await store.count("body -n3 is:read") == 2

    on_store(tmp_path, scenario)


def test_stats_counts_messages_unread_bytes_and_the_files(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        assert await store.stats() == StoreStats(0, 0, 0, (await store.stats()).database_bytes)
        ids = [await add(store, SIMPLE), await add(store, SIMPLE * 3)]
        await store.mark_seen(ids[:1])
        stats = await store.stats()
        assert (stats.messages, stats.unread, stats.bytes) == (2, 1, 4 * len(SIMPLE))
        files = tmp_path / DATABASE_NAME, tmp_path / f"{DATABASE_NAME}-wal"
        assert stats.database_bytes == sum(f.stat().st_size for f in files if f.exists())
        assert stats.database_bytes > 0

    on_store(tmp_path, scenario)


# delete() and delete_matching()


def test_delete_matching_removes_every_match_with_its_text_and_deliveries(
    tmp_path: Path,
) -> None:
    async def scenario(store: SQLiteStore) -> None:
        kept = [await add(store, headed(f"keep {n}")) for n in range(3)]
        gone = [await add(store, headed(f"drop {n}"), relay_to=[BOB]) for n in range(4)]
        await store.delete(kept[0])
        assert await store.delete_matching("drop") == 4
        assert [m.id for m in await store.list()] == kept[:0:-1]
        assert await store.search("drop") == []
        assert await store.due(10e9) == []
        for message_id in gone:
            assert await store.raw(message_id) is None
            assert await store.deliveries(message_id) == []
        assert await store.delete_matching("drop") == 0

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 2


def test_delete_matching_goes_in_batches_and_spares_what_arrives_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_messages, "BATCH", 3)
    batches: list[int] = []  # appended by the writer thread, as each batch starts

    def counted(*args: Any) -> list[tuple[int, int]]:
        batches.append(len(batches))
        return read_seqs(*args)

    monkeypatch.setattr(_messages, "read_seqs", counted)

    async def scenario(store: SQLiteStore) -> None:
        await asyncio.gather(*(add(store, headed(f"old {n}")) for n in range(10)))
        before = store.commits
        deleting = asyncio.ensure_future(store.delete_matching(""))
        while not batches:  # the deletion has begun: what comes now is not chased
            await asyncio.sleep(0.001)
        arrived = await asyncio.gather(*(add(store, headed(f"new {n}")) for n in range(5)))
        assert await deleting == 10
        assert len(batches) >= 10 // 3
        assert store.commits - before >= 10 // 3
        assert sorted(m.id for m in await store.list()) == sorted(arrived)

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 5


def test_delete_matching_keeps_a_batch_within_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_messages, "BATCH_BYTES", 1_500_000)

    async def scenario(store: SQLiteStore) -> None:
        for n in range(4):
            await add(store, headed(f"big {n}") + b"x" * 1_000_000)  # spilled, large blobs
        before = store.commits
        assert await store.delete_matching("big") == 4
        assert store.commits - before >= 4  # one big message a batch

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 0


# prune(): retention, oldest first, never what the relay still owes.


def test_prune_keeps_the_newest_max_messages(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, headed(f"n{n}")) for n in range(10)]
        assert await store.prune(max_messages=None, max_age=None, now=0.0) == 0
        assert await store.prune(max_messages=4, max_age=None, now=0.0) == 6
        assert [m.id for m in await store.list()] == ids[:-5:-1]
        assert await store.prune(max_messages=4, max_age=None, now=0.0) == 0
        assert await store.search("n1") == []
        assert await store.prune(max_messages=0, max_age=None, now=0.0) == 4
        with pytest.raises(ValueError, match="max_messages must be 0 or more"):
            await store.prune(max_messages=-1, max_age=None, now=0.0)

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 0


def test_prune_never_removes_a_message_the_relay_still_owes(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        queued = await add(store, headed("queued"), relay_to=[BOB])
        deferred = await add(store, headed("deferred"), relay_to=[BOB, CAROL])
        done = await add(store, headed("done"), relay_to=[BOB])
        plain = [await add(store, headed(f"n{n}")) for n in range(3)]
        await store.record(
            deferred,
            [
                DeliveryUpdate(BOB, DeliveryStatus.DELIVERED, "250 ok"),
                DeliveryUpdate(CAROL, DeliveryStatus.DEFERRED, "451 later", next_attempt=1e10),
            ],
        )
        await store.record(done, [DeliveryUpdate(BOB, DeliveryStatus.FAILED, "550 no")])
        # Six messages, two owed: pruning to two keeps those two only.
        assert await store.prune(max_messages=2, max_age=None, now=0.0) == 4
        assert [m.id for m in await store.list()] == [deferred, queued]
        assert await store.prune(max_messages=0, max_age=None, now=0.0) == 0
        assert plain  # removed: oldest first, after the one delivered and failed

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 2


def test_prune_by_count_removes_the_oldest_first(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, headed(f"n{n}")) for n in range(6)]
        assert await store.prune(max_messages=5, max_age=None, now=0.0) == 1
        assert await store.get(ids[0]) is None
        assert await store.prune(max_messages=3, max_age=None, now=0.0) == 2
        assert [m.id for m in await store.list()] == ids[:2:-1]

    on_store(tmp_path, scenario)


def test_prune_by_age_removes_what_was_received_before_now_minus_max_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    monkeypatch.setattr(_sqlite, "datetime", Clock)
    # The third message came while the clock was set back a day.
    days = [0, 1, -1, 2, 3]
    Clock.times = [start + timedelta(days=day) for day in days]

    async def scenario(store: SQLiteStore) -> None:
        ids = [
            await add(store, headed(f"day {day}"), relay_to=[BOB] if day == 0 else ())
            for day in days
        ]
        now = (start + timedelta(days=3, hours=1)).timestamp()
        # Older than 1.5 days: days -1, 0 (owed to Bob: kept) and 1.
        assert await store.prune(max_messages=None, max_age=1.5 * 86400, now=now) == 2
        assert [m.id for m in await store.list()] == [ids[4], ids[3], ids[0]]
        # Both limits: the age first, then the count (the owed message counts too).
        assert await store.prune(max_messages=2, max_age=86400 / 2, now=now) == 1
        assert [m.id for m in await store.list()] == [ids[4], ids[0]]
        assert await store.prune(max_messages=1, max_age=86400 / 2, now=now) == 1
        assert [m.id for m in await store.list()] == [ids[0]]

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 1


def test_prune_goes_in_batches_and_receiving_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_messages, "BATCH", 4)

    async def scenario(store: SQLiteStore) -> None:
        await asyncio.gather(*(add(store, headed(f"old {n}")) for n in range(20)))
        before = store.commits
        pruning = asyncio.ensure_future(store.prune(max_messages=10, max_age=None, now=0.0))
        arrived = await asyncio.gather(*(add(store, headed(f"new {n}")) for n in range(5)))
        pruned = await pruning
        assert store.commits - before >= 3  # several commits, not one long one
        assert await store.count() == 10
        assert pruned == 15
        assert set(arrived) <= {m.id for m in await store.list()}

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 10


# Plans: every page is read in order, from the index that narrows it.


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("", "messages"),
        ("is:unread", "messages_unread"),
        ("inbox:team", "messages_inbox"),
        ("invoice", "VIRTUAL TABLE"),
        ("from:alice is:unread -has:attachment", "VIRTUAL TABLE"),
        ("-invoice larger:10k", "messages"),
        ("before:2024-01-01", "rowid<"),
        ("after:2024-01-01 is:read", "rowid>"),
        ("invoice after:2024-01-01", "VIRTUAL TABLE"),
    ],
)
def test_pages_are_read_in_order_without_sorting(tmp_path: Path, query: str, index: str) -> None:
    on_store(tmp_path, lambda store: add(store, SIMPLE))
    where = compile_query(parse_query(query))
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        for sql, parameters in (
            page_statement(where, 50, None),
            page_statement(where, 50, "01a0000000000000000"),
            since_statement(where, "01a0000000000000000", 50),
        ):
            plan = " | ".join(
                row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)
            )
            assert "TEMP B-TREE" not in plan, plan
            assert index in plan, plan
