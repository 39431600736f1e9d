"""What survives a process that dies: every message add() returned, and nothing else.

The children end with ``os._exit``: no close(), no atexit, no flush of anything
but what the store itself made durable before add() returned.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from tests.store.storage import ENVELOPE, ORIGIN, on_store, run_child

from smtpx.store import SQLiteStore
from smtpx.store._incoming import SPOOL_PREFIX, SPOOL_SUFFIX
from smtpx.store._sqlite import DATABASE_NAME

# 8-bit, NUL and a large part: spilled to a file before it is committed.
CRASH_MESSAGE = b"Subject: before the crash\r\n\r\n" + bytes(range(256)) * 4000

ADD_THEN_DIE = """
    import asyncio, os, sys
    from smtpx.store import Envelope, Origin, Recipient, SQLiteStore

    async def main():
        store = await SQLiteStore.open(sys.argv[1])
        incoming = store.incoming()
        incoming.write(b"Subject: before the crash\\r\\n\\r\\n")
        for _ in range(4000):
            incoming.write(bytes(range(256)))
        envelope = Envelope("a@example.org", (Recipient("b@example.net"),))
        message_id = await store.add(incoming, envelope, Origin("192.0.2.9", 2525, "crashy"))
        print(message_id, flush=True)
        os._exit(0)  # no close(): the process just ends

    asyncio.run(main())
"""


def test_a_message_add_returned_survives_the_process_ending_without_close(
    tmp_path: Path,
) -> None:
    message_id = run_child(ADD_THEN_DIE, str(tmp_path)).strip()

    async def scenario(store: SQLiteStore) -> None:
        assert await store.raw(message_id) == CRASH_MESSAGE
        stored = await store.get(message_id)
        assert stored is not None
        assert stored.summary.subject == "before the crash"
        assert stored.origin.helo == "crashy"
        assert await store.count() == 1

    on_store(tmp_path, scenario)


RECEIVE_THEN_DIE = """
    import asyncio, os, sys
    from smtpx.store import SQLiteStore

    async def main():
        store = await SQLiteStore.open(sys.argv[1])
        incoming = store.incoming()
        for _ in range(64):
            incoming.write(b"x" * 65536)  # 4 MiB: spilled to a temporary file
        assert incoming.spilled
        print(sorted(os.listdir(sys.argv[1])), flush=True)
        os._exit(0)  # dies mid-message: never added, never discarded

    asyncio.run(main())
"""


def test_a_message_being_received_leaves_nothing_after_a_crash(tmp_path: Path) -> None:
    listing = run_child(RECEIVE_THEN_DIE, str(tmp_path)).strip()
    # Even while it was being written, the spill file had no name in the directory.
    assert SPOOL_PREFIX not in listing

    async def scenario(store: SQLiteStore) -> None:
        assert await store.count() == 0

    on_store(tmp_path, scenario)
    assert sorted(os.listdir(tmp_path)) == [DATABASE_NAME]


def test_leftover_spill_files_are_removed_when_the_store_opens(tmp_path: Path) -> None:
    # Where an open file cannot be unlinked (Windows), a crash leaves a named spill file.
    leftover = tmp_path / f"{SPOOL_PREFIX}abc123{SPOOL_SUFFIX}"
    leftover.write_bytes(b"half a message")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("mine")

    on_store(tmp_path, SQLiteStore.count)
    assert not leftover.exists()
    assert unrelated.read_text() == "mine"


def test_database_is_in_wal_mode_and_commits_are_fsynced(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> tuple[str, int]:
        # The writer's own connection holds the per-connection setting.
        connection = store._writer._connection
        (synchronous,) = connection.execute("PRAGMA synchronous").fetchone()
        (autocheckpoint,) = connection.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert autocheckpoint == 0  # checkpoints run after the replies, not in COMMIT
        return str(synchronous), store.commits

    synchronous, _ = on_store(tmp_path, scenario)
    assert synchronous == "2"  # FULL: the WAL is fsynced at every commit
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


def test_pending_adds_finish_before_close_returns(tmp_path: Path) -> None:
    async def main() -> list[str]:
        store = await SQLiteStore.open(tmp_path)
        adds = []
        for n in range(20):
            incoming = store.incoming()
            incoming.write(f"Subject: {n}\r\n\r\n".encode())
            adds.append(asyncio.ensure_future(store.add(incoming, ENVELOPE, ORIGIN)))
        await asyncio.sleep(0)  # every add() has queued its job
        await store.close()
        return await asyncio.gather(*adds)

    ids = asyncio.run(main())
    assert len(set(ids)) == 20

    async def scenario(store: SQLiteStore) -> None:
        assert await store.count() == 20

    on_store(tmp_path, scenario)


def test_the_wal_is_checkpointed_as_it_grows(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> int:
        for _ in range(3):
            incoming = store.incoming()
            incoming.write(b"Subject: big\r\n\r\n" + b"y" * 3_000_000)
            await store.add(incoming, ENVELOPE, ORIGIN)
        return store._writer.checkpoints

    assert on_store(tmp_path, scenario) >= 1
