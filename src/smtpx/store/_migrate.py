"""Bringing a database up to the current schema, when the store opens.

Theory of operation: ``PRAGMA user_version`` holds the schema version. In one
``BEGIN IMMEDIATE`` transaction (so two processes opening an old store at once
migrate it once), each script of ``_schema.MIGRATIONS`` past that version runs,
then what a version needs beyond DDL (``FILLS``), then the new version is
recorded. Until COMMIT nothing is visible: a migration that fails leaves the
database as it was, for an older smtpx to keep using.

Version 3 fills the full-text index from the messages already stored: each
message's text is read again from its bytes (streamed from the BLOB, so a large
message costs no more memory than when it arrived), the other fields come from
its row. About 1,500 small messages a second: a store of 10,000 messages takes
6 to 7 seconds, once (bench/store_search.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from ._model import Envelope, Recipient, StoreError, Summary
from ._rawfile import read_blob
from ._schema import INSERT_TEXT, MIGRATIONS, SCHEMA_VERSION, text_values
from ._summary import message_text

__all__ = ["FILLS", "migrate"]


def migrate(connection: sqlite3.Connection, database: str) -> None:
    """Create the schema, or bring it up to date, in one transaction. StoreError if
    ``database`` was made by a newer smtpx."""
    connection.execute("BEGIN IMMEDIATE")  # one process at a time migrates
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version == 0 and connection.execute("SELECT 1 FROM sqlite_master").fetchone():
            # Someone else's database: never add our tables to it.
            raise StoreError(f"{database} is not an smtpx store (it holds other tables)")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{database} was made by a newer smtpx (schema {version}, this one knows "
                f"{SCHEMA_VERSION}): upgrade smtpx"
            )
        if version < 3:
            _require_fts5(connection)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            _execute_script(connection, MIGRATIONS[target])
            if target in FILLS:
                FILLS[target](connection)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _require_fts5(connection: sqlite3.Connection) -> None:
    """StoreError unless this SQLite has FTS5 and unicode61's remove_diacritics 2
    (3.27), which the full-text index needs."""
    try:
        connection.execute(
            "CREATE VIRTUAL TABLE temp.fts5_probe USING fts5"
            " (x, tokenize = 'unicode61 remove_diacritics 2')"
        )
        connection.execute("DROP TABLE temp.fts5_probe")
    except sqlite3.OperationalError as exc:
        raise StoreError(
            f"the store needs SQLite with FTS5 (3.27 or later); this Python has SQLite"
            f" {sqlite3.sqlite_version} ({exc}): use a Python built with a newer one"
        ) from None


def _execute_script(connection: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT first; run the statements one by one instead
    # (split at every ";": the scripts have none in comments or strings).
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


def _index_stored_texts(connection: sqlite3.Connection) -> None:
    """Version 3: a full-text row for every message already stored."""
    rows = connection.execute(
        "SELECT seq, sender, recipients, subject, from_, to_, cc, message_id FROM messages"
        " ORDER BY seq"
    ).fetchall()
    for seq, sender, recipients, subject, from_, to, cc, message_id in rows:
        text = ""
        if connection.execute("SELECT 1 FROM contents WHERE seq = ?", (seq,)).fetchone():
            with read_blob(connection, seq) as raw:
                text = message_text(raw)
        envelope = Envelope(sender, tuple(Recipient(r) for r, _ in json.loads(recipients)))
        summary = Summary(
            subject, from_, tuple(json.loads(to)), tuple(json.loads(cc)), None, message_id, ()
        )
        connection.execute(INSERT_TEXT, text_values(seq, envelope, summary, text))


# What a version needs besides its script, run after it in the same transaction.
FILLS: dict[int, Callable[[sqlite3.Connection], None]] = {3: _index_stored_texts}
