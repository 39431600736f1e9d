"""Failures a user can meet get a StoreError with one line to act on; misuse fails loudly."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
from tests.store.storage import ENVELOPE, ORIGIN, SIMPLE, add, on_store

from smtpx.store import SQLiteStore, StoreError
from smtpx.store._schema import SCHEMA_VERSION
from smtpx.store._sqlite import DATABASE_NAME


def open_error(data_dir: Path) -> str:
    """The message of the StoreError that opening ``data_dir`` raises."""
    with pytest.raises(StoreError) as caught:
        asyncio.run(SQLiteStore.open(data_dir))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text("not a directory")
    assert open_error(path) == f"data directory {path} exists and is not a directory"


def test_a_data_dir_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    message = open_error(blocker / "data")
    assert message == f"cannot create data directory {blocker / 'data'}: Not a directory"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="permissions do not stop root (the cases above do not need them)",
)
def test_a_read_only_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o500)
    try:
        message = open_error(data_dir)
    finally:
        data_dir.chmod(0o700)
    assert message == f"data directory {data_dir} is not writable: Permission denied"


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not SQLite " * 100)
    message = open_error(tmp_path)
    assert message.startswith(f"{tmp_path / DATABASE_NAME} is not an smtpx store: ")


def test_a_database_from_a_newer_smtpx_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    message = open_error(tmp_path)
    assert "was made by a newer smtpx" in message
    assert message.endswith("upgrade smtpx")


def test_a_closed_store_refuses_every_call(tmp_path: Path) -> None:
    async def main() -> None:
        store = await SQLiteStore.open(tmp_path)
        incoming = store.incoming()
        incoming.write(SIMPLE)
        await store.close()
        await store.close()  # closing twice is fine
        with pytest.raises(StoreError, match=r"^the store is closed$"):
            store.incoming()
        with pytest.raises(StoreError, match=r"^the store is closed$"):
            await store.add(incoming, ENVELOPE, ORIGIN)
        for call in (store.get("x"), store.raw("x"), store.list(), store.count()):
            with pytest.raises(StoreError, match=r"^the store is closed$"):
                await call
        with pytest.raises(StoreError, match=r"^the store is closed$"):
            await store.delete("x")

    asyncio.run(main())


def test_an_incoming_cannot_be_written_or_added_again_once_added(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        incoming = store.incoming()
        incoming.write(SIMPLE)
        message_id = await store.add(incoming, ENVELOPE, ORIGIN)
        with pytest.raises(ValueError, match="already"):
            incoming.write(b"more")
        with pytest.raises(ValueError, match="already"):
            await store.add(incoming, ENVELOPE, ORIGIN)
        incoming.discard()  # harmless: the store owned it
        assert await store.raw(message_id) == SIMPLE
        assert await store.count() == 1

    on_store(tmp_path, scenario)


def test_a_discarded_incoming_cannot_be_added(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        incoming = store.incoming()
        incoming.write(SIMPLE)
        incoming.discard()
        with pytest.raises(ValueError, match="already discarded"):
            await store.add(incoming, ENVELOPE, ORIGIN)
        assert await store.count() == 0

    on_store(tmp_path, scenario)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00garbage without any header\r\n",
        b"Subject: =?bogus-charset?q?=FF=FE?=\r\nFrom: <<<@@@>>>\r\nTo: ,,,;;;:::\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary at all\r\n",
        b"Subject: \xc3\x28 invalid utf-8\r\nDate: yesterday-ish\r\n\r\n",
        b"\r\n\r\n\r\n",
        b":\r\n \r\n\t\r\n",
    ],
)
def test_a_malformed_message_is_still_stored(tmp_path: Path, raw: bytes) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, raw)
        assert await store.raw(message_id) == raw
        stored = await store.get(message_id)
        assert stored is not None
        assert isinstance(stored.summary.subject, str)

    on_store(tmp_path, scenario)


def test_one_failing_message_does_not_fail_the_others_of_its_commit(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        broken = store.incoming()
        broken.write(b"x" * 1_000_000)  # spilled...
        assert broken._file is not None
        broken._file.close()  # ...and its file lost behind the store's back
        results = await asyncio.gather(
            add(store, SIMPLE),
            store.add(broken, ENVELOPE, ORIGIN),
            add(store, SIMPLE),
            return_exceptions=True,
        )
        assert isinstance(results[1], StoreError)
        assert str(results[1]).startswith("cannot write to the store: ValueError: ")
        assert all(isinstance(result, str) for result in (results[0], results[2]))
        assert await store.count() == 2

    on_store(tmp_path, scenario)


def test_a_full_disk_fails_the_add_and_the_store_recovers(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await add(store, SIMPLE)
        # A database that may not grow is what a full disk looks like to SQLite. The
        # writer thread is idle (waiting for a job), so its connection is free to use.
        writer = store._writer._connection
        (pages,) = writer.execute("PRAGMA page_count").fetchone()
        writer.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError) as caught:
            await add(store, b"Subject: too big\r\n\r\n" + b"z" * 300_000)
        assert str(caught.value) == "cannot write to the store: database or disk is full"
        writer.execute("PRAGMA max_page_count = 1073741823")
        message_id = await add(store, SIMPLE)
        assert await store.raw(message_id) == SIMPLE
        assert await store.count() == 2

    on_store(tmp_path, scenario)
