"""The SQLite schema, and the mapping between its rows and the store's values.

Theory of operation: two tables. ``messages`` holds one narrow row per message:
the id, when it was received, its size, the envelope, the origin and the
summary, so listing and searching never page through message bytes. ``contents``
holds the raw bytes as one BLOB per message, keyed by the same rowid (``seq``),
so the writer can fill a large message through SQLite's incremental BLOB I/O.

Lists (recipients, parameters, header addresses) are JSON text. ``search`` is
the casefolded text that ``Store.search`` matches with LIKE: subject, From, To,
Cc and the envelope's sender and recipients (a Bcc recipient is only there).

``deliveries`` is the relay's queue: one row per message and recipient to
relay to (status, attempts, next attempt, last reply), keyed by the message's
``seq`` and the recipient. Its partial index holds only the recipients still
pending, in next-attempt order, so finding what is due stays cheap however much
delivered history accumulates; a query uses it only if its WHERE repeats
``PENDING`` word for word (SQLite's rule for partial indexes).

``PRAGMA user_version`` records the schema version; a database made by a newer
smtpx is refused rather than misread, an older one is brought up to date when it
opens: ``MIGRATIONS[n]`` takes a database from version n - 1 to n, all in the
transaction that records the new version. Version 1 had only the messages and
their bytes; version 2 added the queue.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from ._model import Envelope, Origin, Recipient, StoredMessage, StoreError, Summary

__all__ = [
    "COLUMNS",
    "INSERT",
    "MIGRATIONS",
    "PENDING",
    "SCHEMA",
    "SCHEMA_VERSION",
    "message_from_row",
    "migrate",
    "row_values",
    "search_pattern",
]

SCHEMA_VERSION = 2

# Version 1: the messages and their bytes.
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,          -- time-ordered, see _ids.py
    received_at TEXT NOT NULL,        -- ISO 8601, UTC
    size INTEGER NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,         -- JSON [[address, [[KEYWORD, value], ...]], ...]
    mail_params TEXT NOT NULL,        -- JSON [[KEYWORD, value], ...]
    client_address TEXT NOT NULL,
    client_port INTEGER NOT NULL,
    helo TEXT NOT NULL,
    tls TEXT,
    auth_user TEXT,
    subject TEXT NOT NULL,
    from_ TEXT NOT NULL,
    to_ TEXT NOT NULL,                -- JSON [address, ...]
    cc TEXT NOT NULL,                 -- JSON [address, ...]
    date TEXT,
    message_id TEXT,
    attachments TEXT NOT NULL,        -- JSON [file name, ...]
    search TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contents (
    seq INTEGER PRIMARY KEY,          -- messages.seq
    raw BLOB NOT NULL
);
"""

# The recipients a delivery is still owed to; a query using the partial index
# "deliveries_due" must contain this text exactly.
PENDING = "status IN ('queued', 'deferred')"

# Version 2: the relay's queue. Rows go with their message: the writer deletes
# them in the transaction that deletes it (no FOREIGN KEY: SQLite enforces those
# only on connections that ask, and a reused seq must never inherit old rows).
QUEUE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER NOT NULL,             -- messages.seq
    recipient TEXT NOT NULL,          -- as in the envelope
    position INTEGER NOT NULL,        -- its index among the envelope's recipients
    status TEXT NOT NULL,             -- queued, deferred, delivered, failed
    attempts INTEGER NOT NULL,
    next_attempt REAL,                -- epoch seconds, NULL once delivered or failed
    last_reply TEXT,
    remote TEXT,                      -- the host that gave last_reply
    updated REAL NOT NULL,            -- epoch seconds
    warned INTEGER NOT NULL,          -- 1: a delay warning was sent
    PRIMARY KEY (seq, recipient)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt) WHERE {PENDING};
"""

# MIGRATIONS[n] takes a database from version n - 1 to version n; a new database
# (version 0) gets them all.
MIGRATIONS = {1: SCHEMA, 2: QUEUE_SCHEMA}


def migrate(connection: sqlite3.Connection, database: str) -> None:
    """Create the schema, or bring it up to date, in one transaction. StoreError if
    ``database`` was made by a newer smtpx."""
    connection.execute("BEGIN IMMEDIATE")  # one process at a time migrates
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{database} was made by a newer smtpx (schema {version}, this one knows "
                f"{SCHEMA_VERSION}): upgrade smtpx"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            _execute_script(connection, MIGRATIONS[target])
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _execute_script(connection: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT first; run the statements one by one instead
    # (split at every ";": the scripts have none in comments or strings).
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


# What a StoredMessage is made of, in the order message_from_row() takes them.
COLUMNS = ", ".join(
    [
        "id", "received_at", "size", "sender", "recipients", "mail_params",
        "client_address", "client_port", "helo", "tls", "auth_user",
        "subject", "from_", "to_", "cc", "date", "message_id", "attachments",
    ]
)  # fmt: skip
INSERT = f"INSERT INTO messages ({COLUMNS}, search) VALUES ({', '.join(['?'] * 19)})"


def row_values(message: StoredMessage) -> tuple[Any, ...]:
    """The values for ``INSERT``, in order."""
    envelope, origin, summary = message.envelope, message.origin, message.summary
    search = "\n".join(
        [
            summary.subject,
            summary.from_,
            *summary.to,
            *summary.cc,
            envelope.sender,
            *(recipient.address for recipient in envelope.recipients),
        ]
    ).casefold()
    return (
        message.id,
        message.received_at.isoformat(),
        message.size,
        envelope.sender,
        _json([[r.address, r.params] for r in envelope.recipients]),
        _json(envelope.params),
        origin.client_address,
        origin.client_port,
        origin.helo,
        origin.tls,
        origin.auth_user,
        summary.subject,
        summary.from_,
        _json(summary.to),
        _json(summary.cc),
        summary.date,
        summary.message_id,
        _json(summary.attachments),
        search,
    )


def message_from_row(row: tuple[Any, ...]) -> StoredMessage:
    """A ``SELECT {COLUMNS}`` row as a StoredMessage."""
    (
        message_id,
        received_at,
        size,
        sender,
        recipients,
        mail_params,
        client_address,
        client_port,
        helo,
        tls,
        auth_user,
        subject,
        from_,
        to,
        cc,
        date,
        header_message_id,
        attachments,
    ) = row
    envelope = Envelope(
        sender,
        tuple(Recipient(address, _params(params)) for address, params in json.loads(recipients)),
        _params(json.loads(mail_params)),
    )
    return StoredMessage(
        id=message_id,
        received_at=datetime.fromisoformat(received_at),
        size=size,
        envelope=envelope,
        origin=Origin(client_address, client_port, helo, tls, auth_user),
        summary=Summary(
            subject=subject,
            from_=from_,
            to=tuple(json.loads(to)),
            cc=tuple(json.loads(cc)),
            date=date,
            message_id=header_message_id,
            attachments=tuple(json.loads(attachments)),
        ),
    )


def search_pattern(term: str) -> str:
    r"""A LIKE pattern (``ESCAPE '\'``) matching ``term`` anywhere, ignoring case."""
    escaped = term.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _params(pairs: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((keyword, value) for keyword, value in pairs)
