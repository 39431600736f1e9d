"""The SQLite schema, and the mapping between its rows and the store's values.

Theory of operation: two tables. ``messages`` holds one narrow row per message:
the id, when it was received, its size, the envelope, the origin, the summary,
whether it was seen and its inbox, so listing and searching never page through
message bytes. ``contents`` holds the raw bytes as one BLOB per message, keyed
by the same rowid (``seq``), so the writer can fill a large message through
SQLite's incremental BLOB I/O. Lists (recipients, parameters, header addresses)
are JSON text.

``seq`` and ``id`` grow together: the writer makes each id greater than the last
(``_ids.py``) in the transaction that inserts its row, and SQLite gives a new
row the largest ``seq`` plus one. So "newest first" is ``ORDER BY seq DESC``,
which walks the table itself (or the full-text index, whose rowid is ``seq``),
and an id cursor becomes a ``seq`` bound (``_search.py``).

``messages_text`` is the full-text index (FTS5), one row per message with rowid
``seq``: subject, From and envelope sender, To and envelope recipients, Cc,
Message-ID and the message's text (at most ``_summary.TEXT_LIMIT``), tokenized
by ``unicode61`` with ``remove_diacritics 2`` (case and accents ignored). It
keeps its own copy of what it indexes, which deleting a row needs; the body text
is kept nowhere else. Its rows are inserted and deleted in the transactions that
insert and delete the messages (``_messages.py``).

Indexes: ``messages_inbox`` (one inbox, newest first), ``messages_unread`` (the
unseen messages only, newest first; a query uses it only if its WHERE says
``seen = 0`` word for word), ``messages_received`` (date filters, and pruning by
age).

``deliveries`` is the relay's queue: one row per message and recipient to
relay to (status, attempts, next attempt, last reply), keyed by the message's
``seq`` and the recipient. Its partial index holds only the recipients still
pending, in next-attempt order, so finding what is due stays cheap however much
delivered history accumulates; a query uses it only if its WHERE repeats
``PENDING`` word for word (SQLite's rule for partial indexes).

``PRAGMA user_version`` records the schema version; a database made by a newer
smtpx is refused rather than misread, an older one is brought up to date when it
opens (``_migrate.py``): ``MIGRATIONS[n]`` takes a database from version n - 1
to n, all in the transaction that records the new version. Version 1 had only
the messages and their bytes; version 2 added the queue; version 3 the inbox:
seen, inbox, and the full-text index, which replaced the ``search`` column that
version 1 matched with LIKE (still there, empty).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ._model import Envelope, Origin, Recipient, StoredMessage, Summary

__all__ = [
    "COLUMNS",
    "INSERT",
    "INSERT_TEXT",
    "MIGRATIONS",
    "PENDING",
    "QUALIFIED_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "UNREAD",
    "message_from_row",
    "row_values",
    "text_values",
]

SCHEMA_VERSION = 3

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

# The messages not seen yet; a query using the partial index "messages_unread"
# must contain this text exactly.
UNREAD = "seen = 0"

# Version 3: the inbox. Migrating a version 2 database also fills messages_text
# from the messages already stored (_migrate.py). Version 1's ``search`` column is
# no longer read, and kept empty: dropping a column needs SQLite 3.35 (RHEL 9 has
# 3.34).
INBOX_SCHEMA = f"""
ALTER TABLE messages ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN inbox TEXT NOT NULL DEFAULT '';
UPDATE messages SET search = '';
CREATE VIRTUAL TABLE messages_text USING fts5 (
    subject, from_, to_, cc, message_id, body,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE INDEX messages_inbox ON messages (inbox);
CREATE INDEX messages_unread ON messages (seq) WHERE {UNREAD};
CREATE INDEX messages_received ON messages (received_at);
"""

# MIGRATIONS[n] takes a database from version n - 1 to version n; a new database
# (version 0) gets them all.
MIGRATIONS = {1: SCHEMA, 2: QUEUE_SCHEMA, 3: INBOX_SCHEMA}

# What a StoredMessage is made of, in the order message_from_row() takes them.
_NAMES = [
    "id", "received_at", "size", "sender", "recipients", "mail_params",
    "client_address", "client_port", "helo", "tls", "auth_user",
    "subject", "from_", "to_", "cc", "date", "message_id", "attachments",
    "seen", "inbox",
]  # fmt: skip
COLUMNS = ", ".join(_NAMES)
# The same, for a SELECT that joins messages_text (it has columns of the same names).
QUALIFIED_COLUMNS = ", ".join(f"messages.{name}" for name in _NAMES)
INSERT = f"INSERT INTO messages ({COLUMNS}, search) VALUES ({'?, ' * len(_NAMES)}'')"
INSERT_TEXT = (
    "INSERT INTO messages_text (rowid, subject, from_, to_, cc, message_id, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def row_values(message: StoredMessage) -> tuple[Any, ...]:
    """The values for ``INSERT``, in order."""
    envelope, origin, summary = message.envelope, message.origin, message.summary
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
        1 if message.seen else 0,
        message.inbox,
    )


def text_values(seq: int, envelope: Envelope, summary: Summary, text: str) -> tuple[Any, ...]:
    """The values for ``INSERT_TEXT``: what the full-text index finds a message by."""
    return (
        seq,
        summary.subject,
        "\n".join([summary.from_, envelope.sender]),
        "\n".join([*summary.to, *(recipient.address for recipient in envelope.recipients)]),
        "\n".join(summary.cc),
        summary.message_id or "",
        text,
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
        seen,
        inbox,
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
        seen=bool(seen),
        inbox=inbox,
    )


# One encoder for every row: json.dumps() with options makes a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json(value: object) -> str:
    if not value and isinstance(value, list | tuple):
        return "[]"  # no Cc, no attachments, no MAIL parameters: the common case
    return _ENCODER.encode(value)


def _params(pairs: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((keyword, value) for keyword, value in pairs)
