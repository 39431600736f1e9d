"""Stores made by an older smtpx open, and gain the inbox: seen, inbox, the full-text index.

The old databases are built by hand with the DDL those versions ran, so the
migration is tested against what really exists on disk, not against today's
scripts.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

import pytest
from tests.store.storage import SIMPLE, add, on_store
from tests.store.test_store_inbox import in_step
from tests.store.test_store_queue import VERSION_1

from smtpx.store import DeliveryStatus, SQLiteStore, StoreError
from smtpx.store._migrate import FILLS, _require_fts5
from smtpx.store._schema import SCHEMA_VERSION
from smtpx.store._sqlite import DATABASE_NAME

# The schema of smtpx 2 (the queue, before the inbox), as it created it.
VERSION_2 = """
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, received_at TEXT NOT NULL,
    size INTEGER NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL,
    mail_params TEXT NOT NULL, client_address TEXT NOT NULL, client_port INTEGER NOT NULL,
    helo TEXT NOT NULL, tls TEXT, auth_user TEXT, subject TEXT NOT NULL, from_ TEXT NOT NULL,
    to_ TEXT NOT NULL, cc TEXT NOT NULL, date TEXT, message_id TEXT,
    attachments TEXT NOT NULL, search TEXT NOT NULL
);
CREATE TABLE contents (seq INTEGER PRIMARY KEY, raw BLOB NOT NULL);
CREATE TABLE deliveries (
    seq INTEGER NOT NULL, recipient TEXT NOT NULL, position INTEGER NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt REAL, last_reply TEXT,
    remote TEXT, updated REAL NOT NULL, warned INTEGER NOT NULL,
    PRIMARY KEY (seq, recipient)
) WITHOUT ROWID;
CREATE INDEX deliveries_due ON deliveries (next_attempt)
    WHERE status IN ('queued', 'deferred');
"""
PLAIN_ID, HTML_ID, OWED_ID = "018d0000000000000001", "018d0000000000000002", "018d0000000000000003"
ROWS = [
    (
        1, PLAIN_ID, "2024-01-01T10:00:00+00:00", "alice@example.org",
        '[["bob@example.net",[]]]', "Lunch plans", "Alice <alice@example.org>",
        '["bob@example.net"]', "<lunch@example.org>",
        b"From: Alice <alice@example.org>\r\nSubject: Lunch plans\r\n\r\nPizza at noon?\r\n",
    ),
    (
        2, HTML_ID, "2024-01-02T10:00:00+00:00", "news@shop.example",
        '[["carol@example.net",[]]]', "Offers", "news@shop.example",
        '["carol@example.net"]', None,
        b"Subject: Offers\r\nContent-Type: text/html\r\n\r\n"
        b"<p>Cr&egrave;me <b>br&ucirc;l&eacute;e</b></p>\r\n",
    ),
    (
        3, OWED_ID, "2024-01-03T10:00:00+00:00", "relay@example.org",
        '[["dave@example.com",[]]]', "Relayed", "", "[]", None,
        b"Subject: Relayed\r\n\r\nOn its way.\r\n",
    ),
]  # fmt: skip


def make_version_2(data_dir: Path) -> None:
    with sqlite3.connect(data_dir / DATABASE_NAME) as connection:
        connection.executescript(VERSION_2)
        for seq, id_, at, sender, recipients, subject, from_, to, message_id, raw in ROWS:
            connection.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, '[]', '192.0.2.1', 25, 'old',"
                " NULL, NULL, ?, ?, ?, '[]', NULL, ?, '[]', ?)",
                (seq, id_, at, len(raw), sender, recipients, subject, from_, to, message_id,
                 subject.casefold()),
            )  # fmt: skip
            connection.execute("INSERT INTO contents VALUES (?, ?)", (seq, raw))
        connection.execute(
            "INSERT INTO deliveries VALUES (3, 'dave@example.com', 0, 'deferred', 2, 1e10,"
            " '451 later', 'mx.example.com', 1704276000.0, 0)"
        )
        connection.execute("PRAGMA user_version = 2")


def test_a_version_2_store_gains_the_inbox(tmp_path: Path) -> None:
    make_version_2(tmp_path)

    async def scenario(store: SQLiteStore) -> None:
        messages = await store.list()
        assert [m.id for m in messages] == [OWED_ID, HTML_ID, PLAIN_ID]
        assert all(not m.seen and m.inbox == "" for m in messages)
        # The full-text index was filled from the stored bytes and rows.
        assert [m.id for m in await store.search("pizza")] == [PLAIN_ID]
        assert [m.id for m in await store.search("creme brulee")] == [HTML_ID]  # HTML only
        assert [m.id for m in await store.search("from:alice subject:lunch")] == [PLAIN_ID]
        assert [m.id for m in await store.search("to:carol")] == [HTML_ID]
        assert [m.id for m in await store.search("message-id:lunch")] == [PLAIN_ID]
        assert [m.id for m in await store.search("after:2024-01-02")] == [OWED_ID, HTML_ID]
        # The queue is as it was, and still protects what it owes.
        [owed] = await store.deliveries(OWED_ID)
        assert (owed.status, owed.attempts) == (DeliveryStatus.DEFERRED, 2)
        assert await store.prune(max_messages=0, max_age=None, now=0.0) == 2
        # New messages go on after the old ones.
        new = await add(store, SIMPLE)
        assert new > OWED_ID
        assert [m.id for m in await store.search("bob")] == [new]

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 2
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        columns = {row[1] for row in connection.execute("PRAGMA table_info(messages)")}
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        searched = {row[0] for row in connection.execute("SELECT search FROM messages")}
    assert version == SCHEMA_VERSION == 3
    assert {"seen", "inbox"} <= columns
    assert searched == {""}  # the LIKE column the index replaced: kept, emptied
    assert {"messages_text", "messages_inbox", "messages_unread", "messages_received"} <= names


def test_a_version_1_store_gains_the_queue_and_the_inbox(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        connection.executescript(VERSION_1)

    async def scenario(store: SQLiteStore) -> None:
        assert [m.id for m in await store.search("from before")] == ["018c0000000000000001"]
        assert [m.id for m in await store.search("old")] == ["018c0000000000000001"]  # its text

    on_store(tmp_path, scenario)
    assert in_step(tmp_path) == 1


def test_a_failed_migration_leaves_the_old_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_version_2(tmp_path)

    def broken(connection: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(FILLS, 3, broken)
    with pytest.raises(Exception, match="disk I/O error"):
        on_store(tmp_path, SQLiteStore.count)
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        columns = {row[1] for row in connection.execute("PRAGMA table_info(messages)")}
        (searched,) = connection.execute("SELECT search FROM messages WHERE seq = 1").fetchone()
    assert version == 2
    assert "seen" not in columns
    assert searched == "lunch plans"


def test_a_sqlite_without_fts5_is_refused_with_a_message_to_act_on() -> None:
    class NoFts5:
        def execute(self, sql: str) -> None:
            raise sqlite3.OperationalError("no such module: fts5")

    with pytest.raises(StoreError) as caught:
        _require_fts5(cast("sqlite3.Connection", NoFts5()))
    message = str(caught.value)
    assert message.startswith("the store needs SQLite with FTS5 (3.27 or later); this Python")
    assert message.endswith("(no such module: fts5): use a Python built with a newer one")
