"""The relay's queue: per-recipient delivery state, committed like the messages.

Every test runs on a real SQLite store in ``tmp_path``. Times are epoch seconds;
the store's own clock only sets ``updated`` and the first ``next_attempt``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest
from tests.store.storage import ENVELOPE, ORIGIN, SIMPLE, add, headed, on_store

from smtpx.store import (
    Delivery,
    DeliveryStatus,
    DeliveryUpdate,
    Envelope,
    Recipient,
    SQLiteStore,
    StoreError,
)
from smtpx.store._schema import MIGRATIONS, PENDING, SCHEMA_VERSION
from smtpx.store._sqlite import DATABASE_NAME

QUEUED, DEFERRED = DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED
DELIVERED, FAILED = DeliveryStatus.DELIVERED, DeliveryStatus.FAILED
BOB, CAROL = "bob@example.net", "carol@example.net"  # ENVELOPE's recipients, in order
BOTH = (BOB, CAROL)
LATER = 10_000_000_000.0  # an epoch time far in the future: never due in these tests


def deferred(recipient: str, next_attempt: float) -> DeliveryUpdate:
    return DeliveryUpdate(recipient, DEFERRED, "451 4.3.0 later", "mx.example.net", next_attempt)


def delivered(recipient: str) -> DeliveryUpdate:
    return DeliveryUpdate(recipient, DELIVERED, "250 2.0.0 ok", "mx.example.net")


def failed(recipient: str) -> DeliveryUpdate:
    return DeliveryUpdate(recipient, FAILED, "550 5.1.1 no such user", "mx.example.net")


# add(relay_to=...): the queue entries commit with the message.


def test_relay_to_queues_each_recipient_in_envelope_order_due_at_once(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        before = time.time()
        message_id = await add(store, SIMPLE, relay_to=[CAROL, BOB])
        after = time.time()
        bob, carol = await store.deliveries(message_id)
        assert (bob.recipient, carol.recipient) == BOTH
        for delivery in (bob, carol):
            assert delivery.message_id == message_id
            assert delivery.status is QUEUED
            assert delivery.attempts == 0
            assert delivery.last_reply is None
            assert delivery.remote is None
            assert delivery.warned is False
            assert delivery.next_attempt is not None
            assert before - 0.001 <= delivery.next_attempt <= after
            assert delivery.updated == delivery.next_attempt
        stored = await store.get(message_id)
        assert stored is not None
        assert bob.next_attempt == stored.received_at.timestamp()
        assert await store.due(after) == [message_id]

    on_store(tmp_path, scenario)


def test_only_the_recipients_in_relay_to_are_queued_each_once(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=[CAROL, CAROL])
        assert [d.recipient for d in await store.deliveries(message_id)] == [CAROL]

    on_store(tmp_path, scenario)


def test_a_message_added_without_relay_to_is_not_queued(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE)
        assert await store.deliveries(message_id) == []
        assert await store.due(LATER) == []
        assert await store.next_due() is None
        assert await store.queue() == []

    on_store(tmp_path, scenario)


def test_relay_to_a_non_recipient_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        incoming = store.incoming()
        incoming.write(SIMPLE + b"x" * 1_000_000)  # spilled to a file
        before = store.commits
        with pytest.raises(StoreError) as caught:
            await store.add(incoming, ENVELOPE, ORIGIN, relay_to=[BOB, "eve@example.org"])
        assert str(caught.value) == (
            "cannot queue 'eve@example.org' for relaying: not a recipient of the message"
        )
        assert store.commits == before
        assert await store.count() == 0
        assert incoming._file is None  # the store let go of the spilled bytes
        with pytest.raises(ValueError, match="already discarded"):
            incoming.write(b"more")

    on_store(tmp_path, scenario)


def test_a_message_and_its_queue_entries_share_one_commit(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        before = store.commits
        await add(store, SIMPLE, relay_to=BOTH)
        assert store.commits - before == 1

    on_store(tmp_path, scenario)


def test_concurrent_relayed_adds_share_far_fewer_commits(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> int:
        before = store.commits
        ids = await asyncio.gather(
            *(add(store, headed(f"n{n}"), relay_to=BOTH) for n in range(200))
        )
        assert len(await store.due(LATER, limit=500)) == len(set(ids)) == 200
        return store.commits - before

    assert on_store(tmp_path, scenario) <= 20


# due() and next_due(): what the queue runner tries, and when it wakes up.


def test_due_lists_messages_by_their_earliest_pending_next_attempt(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        first, second, third, done = [await add(store, SIMPLE, relay_to=BOTH) for _ in range(4)]
        await store.record(first, [deferred(BOB, 3000.0), deferred(CAROL, 1500.0)])
        await store.record(second, [deferred(BOB, 1000.0), deferred(CAROL, LATER)])
        # A delivered recipient no longer counts: only Carol's attempt does.
        await store.record(third, [delivered(BOB), deferred(CAROL, 2000.0)])
        await store.record(done, [delivered(BOB), failed(CAROL)])

        assert await store.due(999.0) == []
        assert await store.due(1000.0) == [second]  # next_attempt <= now
        assert await store.due(1500.0) == [second, first]
        assert await store.due(5000.0) == [second, first, third]
        assert await store.due(5000.0, limit=2) == [second, first]
        assert await store.due(5000.0, limit=0) == []
        assert await store.due(LATER) == [second, first, third]  # each message once
        assert await store.next_due() == 1000.0

    on_store(tmp_path, scenario)


def test_next_due_is_none_once_every_recipient_is_done(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=BOTH)
        stored = await store.get(message_id)
        assert stored is not None
        assert await store.next_due() == stored.received_at.timestamp()
        await store.record(message_id, [delivered(BOB), failed(CAROL)])
        assert await store.next_due() is None
        assert await store.due(LATER) == []

    on_store(tmp_path, scenario)


def test_due_and_next_due_read_the_partial_index_of_pending_recipients(tmp_path: Path) -> None:
    # A query uses a partial index only if its WHERE repeats the index's own.
    async def scenario(store: SQLiteStore) -> None:
        await add(store, SIMPLE, relay_to=BOTH)

    on_store(tmp_path, scenario)
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        for sql in (
            "SELECT id FROM deliveries JOIN messages USING (seq)"
            f" WHERE {PENDING} AND next_attempt <= 1 ORDER BY next_attempt",
            f"SELECT min(next_attempt) FROM deliveries WHERE {PENDING}",
        ):
            plan = " ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "deliveries_due" in plan
            assert "TEMP B-TREE" not in plan


# record(): the outcome of attempts, one commit for all of a message's recipients.


def test_record_applies_every_update_in_one_commit(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=BOTH)
        before_commits, before = store.commits, time.time()
        await store.record(
            message_id,
            [
                DeliveryUpdate(BOB, DELIVERED, "250 2.0.0 queued as X1", "mx1.example.net"),
                DeliveryUpdate(CAROL, DEFERRED, "451 4.7.1 greylisted", "mx2.example.net", 5000.0),
            ],
        )
        assert store.commits - before_commits == 1
        bob, carol = await store.deliveries(message_id)
        assert before <= bob.updated == carol.updated <= time.time()
        reply, remote = "250 2.0.0 queued as X1", "mx1.example.net"
        assert bob == Delivery(
            message_id, BOB, DELIVERED, 1, None, reply, remote, bob.updated, False
        )
        reply, remote = "451 4.7.1 greylisted", "mx2.example.net"
        assert carol == Delivery(
            message_id, CAROL, DEFERRED, 1, 5000.0, reply, remote, carol.updated, False
        )

    on_store(tmp_path, scenario)


def test_attempts_count_up_and_what_an_update_leaves_out_is_kept(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=[BOB])
        await store.record(message_id, [DeliveryUpdate(BOB, DEFERRED, "421 busy", "mx", 100.0)])
        await store.record(message_id, [DeliveryUpdate(BOB, DEFERRED, "452 full", "mx2", 200.0)])
        [bob] = await store.deliveries(message_id)
        assert (bob.attempts, bob.remote, bob.warned) == (2, "mx2", False)
        assert (bob.last_reply, bob.next_attempt) == ("452 full", 200.0)
        # The delay warning went out: no attempt, the rest unchanged.
        warning = DeliveryUpdate(BOB, DEFERRED, attempted=False, warned=True)
        await store.record(message_id, [warning])
        [warned] = await store.deliveries(message_id)
        assert warned == replace(bob, warned=True, updated=warned.updated)
        await store.record(message_id, [DeliveryUpdate(BOB, DELIVERED, "250 ok", "mx3")])
        [done] = await store.deliveries(message_id)
        assert done == replace(
            warned, status=DELIVERED, attempts=3, next_attempt=None, last_reply="250 ok",
            remote="mx3", updated=done.updated,
        )  # fmt: skip

    on_store(tmp_path, scenario)


def test_failed_has_no_next_attempt(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=[BOB])
        await store.record(message_id, [DeliveryUpdate(BOB, FAILED, "550 5.1.1 no such user")])
        [bob] = await store.deliveries(message_id)
        assert (bob.status, bob.next_attempt, bob.attempts) == (FAILED, None, 1)

    on_store(tmp_path, scenario)


def test_an_update_for_a_final_status_with_a_next_attempt_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="a delivered recipient has no next attempt"):
        DeliveryUpdate(BOB, DELIVERED, "250 ok", next_attempt=1.0)


def test_record_of_an_unknown_message_or_recipient_is_refused(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=[BOB])
        unqueued = await add(store, SIMPLE)
        with pytest.raises(StoreError, match=r"^no message 0{20} in the store$"):
            await store.record("0" * 20, [delivered(BOB)])
        with pytest.raises(StoreError, match=rf"^message {unqueued} is not queued for 'bob@"):
            await store.record(unqueued, [delivered(BOB)])
        # Carol is a recipient, but not one to relay to; Bob's update is undone with hers.
        with pytest.raises(StoreError, match=rf"^message {message_id} is not queued for 'carol@"):
            await store.record(
                message_id,
                [delivered(BOB), DeliveryUpdate(CAROL, DELIVERED)],
            )
        [bob] = await store.deliveries(message_id)
        assert (bob.status, bob.attempts, bob.last_reply) == (QUEUED, 0, None)

    on_store(tmp_path, scenario)


def test_a_delivered_recipient_is_final(tmp_path: Path) -> None:
    # A recipient that got a remote 250 is never sent the message again.
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=BOTH)
        await store.record(message_id, [delivered(BOB)])
        with pytest.raises(StoreError, match=r"to 'bob@example.net' is already delivered$"):
            await store.record(message_id, [deferred(BOB, 1.0)])
        assert await store.retry(message_id, 1.0) == 1  # Carol only
        assert await store.due(1.0) == [message_id]
        bob, carol = await store.deliveries(message_id)
        assert (bob.status, bob.next_attempt, carol.next_attempt) == (DELIVERED, None, 1.0)

    on_store(tmp_path, scenario)


def test_a_refused_record_does_not_sink_the_rest_of_its_commit(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=BOTH)
        before = store.commits
        results = await asyncio.gather(
            *(add(store, headed(f"n{n}"), relay_to=[BOB]) for n in range(100)),
            store.record("0" * 20, [delivered(BOB)]),
            store.record(message_id, [delivered(BOB)]),
            *(add(store, headed(f"m{n}")) for n in range(100)),
            return_exceptions=True,
        )
        assert isinstance(results[100], StoreError)
        assert results[101] is None
        assert all(isinstance(result, str) for result in results[:100] + results[102:])
        # Undone to its savepoint, not by redoing every job of its batch alone.
        assert store.commits - before <= 20
        assert (await store.deliveries(message_id))[0].status is DELIVERED
        assert await store.count() == 201

    on_store(tmp_path, scenario)


# Restarts, crashes, old databases.


def test_queue_state_survives_close_and_reopen(tmp_path: Path) -> None:
    async def first(store: SQLiteStore) -> tuple[str, list[Delivery]]:
        message_id = await add(store, SIMPLE, relay_to=BOTH)
        await store.record(
            message_id,
            [
                DeliveryUpdate(BOB, DELIVERED, "250 ok", "mx"),
                DeliveryUpdate(CAROL, DEFERRED, "451 later", "mx", 1234.5, warned=True),
            ],
        )
        return message_id, await store.deliveries(message_id)

    message_id, before = on_store(tmp_path, first)

    async def second(store: SQLiteStore) -> None:
        assert await store.deliveries(message_id) == before
        assert await store.next_due() == 1234.5
        assert await store.due(2000.0) == [message_id]  # the restart resumes it

    on_store(tmp_path, second)


KILLED_AFTER_RECORD = """
    import asyncio, sys, time
    from smtpx.store import (
        DeliveryStatus, DeliveryUpdate, Envelope, Origin, Recipient, SQLiteStore,
    )

    async def main():
        store = await SQLiteStore.open(sys.argv[1])
        recipients = ("b@example.net", "c@example.net")
        envelope = Envelope("a@example.org", tuple(map(Recipient, recipients)))
        n = 0
        while True:  # until the parent kills this process
            incoming = store.incoming()
            incoming.write(b"Subject: %d\\r\\n\\r\\nbody\\r\\n" % n)
            message_id = await store.add(
                incoming, envelope, Origin("192.0.2.9", 2525, "relay"),
                relay_to=recipients,
            )
            await store.record(message_id, [
                DeliveryUpdate("b@example.net", DeliveryStatus.DELIVERED, "250 taken", "mx"),
                DeliveryUpdate("c@example.net", DeliveryStatus.DEFERRED, "451 later", "mx",
                               next_attempt=time.time() + 3600, warned=True),
            ])
            print(message_id, flush=True)  # record() returned
            n += 1

    asyncio.run(main())
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this platform")
def test_an_update_record_returned_survives_sigkill(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_AFTER_RECORD), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    recorded: list[str] = []
    try:
        assert child.stdout is not None
        while len(recorded) < 20:
            line = child.stdout.readline()
            assert line, f"child ended early:\n{child.communicate(timeout=10)[1]}"
            recorded.append(line.strip())
        child.send_signal(signal.SIGKILL)  # while it goes on adding and recording
    finally:
        child.kill()
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL

    async def scenario(store: SQLiteStore) -> None:
        for message_id in recorded:
            bob, carol = await store.deliveries(message_id)
            assert (bob.status, bob.last_reply, bob.next_attempt) == (DELIVERED, "250 taken", None)
            assert (carol.status, carol.attempts, carol.warned) == (DEFERRED, 1, True)
        # What was added but not yet recorded when the kill came is still queued.
        assert set(recorded) <= {message.id for message, _ in await store.queue(limit=10_000)}

    on_store(tmp_path, scenario)


# The schema of smtpx before the queue (version 1), as it created it.
VERSION_1 = """
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, received_at TEXT NOT NULL,
    size INTEGER NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL,
    mail_params TEXT NOT NULL, client_address TEXT NOT NULL, client_port INTEGER NOT NULL,
    helo TEXT NOT NULL, tls TEXT, auth_user TEXT, subject TEXT NOT NULL, from_ TEXT NOT NULL,
    to_ TEXT NOT NULL, cc TEXT NOT NULL, date TEXT, message_id TEXT,
    attachments TEXT NOT NULL, search TEXT NOT NULL
);
CREATE TABLE contents (seq INTEGER PRIMARY KEY, raw BLOB NOT NULL);
INSERT INTO messages VALUES (
    1, '018c0000000000000001', '2024-01-01T10:00:00+00:00', 4, 'old@example.org',
    '[["bob@example.net",[]]]', '[]', '192.0.2.1', 25, 'old', NULL, NULL, 'from before',
    '', '[]', '[]', NULL, NULL, '[]', 'from before'
);
INSERT INTO contents VALUES (1, X'6F6C640A');
PRAGMA user_version = 1;
"""


def test_a_database_made_before_the_queue_opens_and_gains_it(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        connection.executescript(VERSION_1)
    old_id = "018c0000000000000001"

    async def scenario(store: SQLiteStore) -> None:
        stored = await store.get(old_id)
        assert stored is not None
        assert stored.summary.subject == "from before"
        assert await store.raw(old_id) == b"old\n"
        assert await store.deliveries(old_id) == []
        message_id = await add(store, SIMPLE, relay_to=[BOB])
        assert message_id > old_id
        assert await store.due(LATER) == [message_id]

    on_store(tmp_path, scenario)
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert version == SCHEMA_VERSION
    assert {"deliveries", "deliveries_due"} <= names


@pytest.mark.parametrize("version", sorted(MIGRATIONS))
def test_every_migration_splits_into_whole_statements(version: int) -> None:
    # The scripts are run statement by statement, split at ";".
    pieces = [piece for piece in MIGRATIONS[version].split(";") if piece.strip()]
    assert pieces
    assert all(sqlite3.complete_statement(piece + ";") for piece in pieces)
    comments = [line.partition("--")[2] for line in MIGRATIONS[version].splitlines()]
    assert not any(";" in comment for comment in comments)


# queue(), retry(), delete(): what `smtpx queue` is built on.


def test_queue_lists_pending_messages_first_then_newest(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        done = await add(store, headed("done"), relay_to=BOTH)
        waiting = await add(store, headed("waiting"), relay_to=BOTH)
        bounced = await add(store, headed("bounced"), relay_to=[CAROL])
        await add(store, headed("kept, not relayed"))
        fresh = await add(store, headed("fresh"), relay_to=[BOB])
        await store.record(done, [delivered(BOB), failed(CAROL)])
        await store.record(waiting, [delivered(BOB)])
        await store.record(bounced, [failed(CAROL)])

        listed = await store.queue()
        assert [message.id for message, _ in listed] == [fresh, waiting, bounced, done]
        assert [message.summary.subject for message, _ in listed][:2] == ["fresh", "waiting"]
        assert [[(d.recipient, d.status) for d in deliveries] for _, deliveries in listed] == [
            [(BOB, QUEUED)],
            [(BOB, DELIVERED), (CAROL, QUEUED)],
            [(CAROL, FAILED)],
            [(BOB, DELIVERED), (CAROL, FAILED)],
        ]
        assert listed[1][1] == await store.deliveries(waiting)
        assert [m.id for m, _ in await store.queue(limit=2, offset=1)] == [waiting, bounced]
        assert [m.id for m, _ in await store.queue(limit=2, offset=4)] == []
        assert await store.queue(limit=0) == []

    on_store(tmp_path, scenario)


def test_retry_makes_pending_recipients_due_now(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        first = await add(store, SIMPLE, relay_to=BOTH)
        second = await add(store, SIMPLE, relay_to=BOTH)
        await store.record(first, [deferred(BOB, LATER), delivered(CAROL)])
        await store.record(second, [deferred(BOB, LATER), deferred(CAROL, LATER)])
        now = time.time()
        assert await store.due(now) == []

        assert await store.retry(first, now) == 1
        assert await store.due(now) == [first]
        assert await store.retry("0" * 20, now) == 0
        assert await store.retry(None, now + 1) == 3  # every pending recipient
        assert await store.next_due() == now + 1
        assert await store.due(now + 1) == [first, second]
        bob, carol = await store.deliveries(first)
        assert (bob.status, bob.attempts, bob.updated) == (DEFERRED, 1, now + 1)
        assert (carol.status, carol.next_attempt) == (DELIVERED, None)  # untouched

    on_store(tmp_path, scenario)


def test_delete_removes_the_message_from_the_queue(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        gone = await add(store, SIMPLE, relay_to=BOTH)
        kept = await add(store, SIMPLE, relay_to=[BOB])
        before = store.commits
        assert await store.delete(gone) is True
        assert store.commits - before == 1
        assert await store.deliveries(gone) == []
        assert await store.due(LATER) == [kept]
        assert [message.id for message, _ in await store.queue()] == [kept]
        with pytest.raises(StoreError, match=r"^no message"):
            await store.record(gone, [delivered(BOB)])

    on_store(tmp_path, scenario)
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM deliveries").fetchone()
    assert rows == 1


def test_a_closed_store_refuses_the_queue_calls(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SQLiteStore.open(tmp_path)
        await store.close()
        calls = [store.due(0.0), store.next_due(), store.deliveries("x"), store.queue()]
        calls += [store.record("x", []), store.retry(None, 0.0)]
        for call in calls:
            with pytest.raises(StoreError, match=r"^the store is closed$"):
                await call

    asyncio.run(main())


def test_an_envelope_with_a_repeated_recipient_queues_it_at_its_first_place(
    tmp_path: Path,
) -> None:
    envelope = Envelope("a@example.org", (Recipient(CAROL), Recipient(BOB), Recipient(CAROL)))

    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, envelope, relay_to=[BOB, CAROL])
        assert [d.recipient for d in await store.deliveries(message_id)] == [CAROL, BOB]

    on_store(tmp_path, scenario)
