"""The relay's queue in SQLite: per-recipient delivery state, written and read.

Theory of operation: a message accepted for relaying gets one ``deliveries`` row
per recipient to relay to, inserted by the writer in the transaction that stores
the message, so the fsync before the 250 covers them. The relay then asks what
is due (``due``, ``next_due``), tries, and records the outcome (``record``): one
transaction for all of a message's recipients, through the writer like any other
change, so it shares group commits. A delivered or failed recipient is final:
recording anything over it is refused, so a recipient that got a remote 250 can
only be sent the message again if the process dies between that 250 and the
commit of ``record``.

The functions here run on a connection they are given: the ``write_*`` ones
inside the writer's transaction (a StoreError fails the job and undoes what it
wrote), the ``read_*`` ones on a reader connection. Neither knows SMTP: a reply
is text to keep, an address a string compared exactly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ._model import Delivery, DeliveryStatus, DeliveryUpdate, Envelope, StoredMessage, StoreError
from ._schema import COLUMNS, PENDING, message_from_row

__all__ = [
    "DELIVERY_COLUMNS",
    "Positions",
    "delivery_from_row",
    "read_deliveries",
    "read_due",
    "read_next_due",
    "read_queue",
    "relay_positions",
    "write_deliveries",
    "write_record",
    "write_retry",
]

# A Delivery is made of these (and the message id), in delivery_from_row()'s order.
DELIVERY_COLUMNS = "recipient, status, attempts, next_attempt, last_reply, remote, updated, warned"

# A recipient is a (position among the envelope's recipients, address) pair.
Positions = tuple[tuple[int, str], ...]


def relay_positions(envelope: Envelope, relay_to: Sequence[str]) -> Positions:
    """Where each address of ``relay_to`` is among the envelope's recipients, in
    envelope order, each address once. StoreError for one that is not there."""
    if not relay_to:
        return ()
    first: dict[str, int] = {}
    for position, recipient in enumerate(envelope.recipients):
        first.setdefault(recipient.address, position)
    positions: dict[str, int] = {}
    for address in relay_to:
        if address not in first:
            raise StoreError(
                f"cannot queue {address!r} for relaying: not a recipient of the message"
            )
        positions[address] = first[address]
    return tuple(sorted((position, address) for address, position in positions.items()))


# The writer's side: inside its transaction.


def write_deliveries(
    connection: sqlite3.Connection, seq: int, positions: Positions, now: float
) -> None:
    """Queue the new message ``seq`` for each recipient, due at ``now``."""
    connection.executemany(
        "INSERT INTO deliveries (seq, recipient, position, status, attempts, next_attempt,"
        " updated, warned) VALUES (?, ?, ?, 'queued', 0, ?, ?, 0)",
        [(seq, address, position, now, now) for position, address in positions],
    )


def write_record(
    connection: sqlite3.Connection,
    message_id: str,
    updates: Sequence[DeliveryUpdate],
    now: float,
) -> None:
    """Apply ``updates`` to the deliveries of ``message_id``, in order."""
    seq = _seq(connection, message_id)
    if seq is None:
        raise StoreError(f"no message {message_id} in the store")
    for update in updates:
        row = connection.execute(
            "SELECT status FROM deliveries WHERE seq = ? AND recipient = ?",
            (seq, update.recipient),
        ).fetchone()
        if row is None:
            raise StoreError(f"message {message_id} is not queued for {update.recipient!r}")
        if not DeliveryStatus(row[0]).pending:
            raise StoreError(
                f"the delivery of message {message_id} to {update.recipient!r} is already {row[0]}"
            )
        # A pending row always has a next attempt (set by add, kept or moved since):
        # None keeps it; a final status drops it.
        connection.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + ?,"
            " next_attempt = CASE WHEN ? THEN coalesce(?, next_attempt) END,"
            " last_reply = coalesce(?, last_reply), remote = coalesce(?, remote),"
            " warned = coalesce(?, warned), updated = ?"
            " WHERE seq = ? AND recipient = ?",
            (
                update.status.value,
                1 if update.attempted else 0,
                update.status.pending,
                update.next_attempt,
                update.reply,
                update.remote,
                update.warned,
                now,
                seq,
                update.recipient,
            ),
        )


def write_retry(connection: sqlite3.Connection, message_id: str | None, now: float) -> int:
    """Make the pending recipients of ``message_id`` (of every message: None) due at
    ``now``; how many there are."""
    sql = f"UPDATE deliveries SET next_attempt = ?, updated = ? WHERE {PENDING}"
    if message_id is None:
        return connection.execute(sql, (now, now)).rowcount
    seq = _seq(connection, message_id)
    if seq is None:
        return 0
    return connection.execute(f"{sql} AND seq = ?", (now, now, seq)).rowcount


# The readers' side.


def read_due(connection: sqlite3.Connection, now: float, limit: int) -> list[str]:
    """Ids of messages with a pending recipient due at ``now``, earliest first."""
    if limit <= 0:
        return []
    found: dict[str, None] = {}  # insertion-ordered set
    # The partial index yields due recipients in next_attempt order, so the first
    # row of each message carries its earliest next attempt: stop at ``limit``
    # messages instead of grouping every due row.
    cursor = connection.execute(
        "SELECT id FROM deliveries JOIN messages USING (seq)"
        f" WHERE {PENDING} AND next_attempt <= ? ORDER BY next_attempt",
        (now,),
    )
    try:
        for (message_id,) in cursor:
            found[message_id] = None
            if len(found) >= limit:
                break
    finally:
        cursor.close()
    return list(found)


def read_next_due(connection: sqlite3.Connection) -> float | None:
    """The earliest next attempt of any pending recipient."""
    (earliest,) = connection.execute(
        f"SELECT min(next_attempt) FROM deliveries WHERE {PENDING}"
    ).fetchone()
    return None if earliest is None else float(earliest)


def read_deliveries(connection: sqlite3.Connection, message_id: str) -> list[Delivery]:
    """The deliveries of ``message_id``, in envelope order."""
    rows = connection.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries"
        " WHERE seq = (SELECT seq FROM messages WHERE id = ?) ORDER BY position",
        (message_id,),
    )
    return [delivery_from_row(message_id, row) for row in rows]


def read_queue(
    connection: sqlite3.Connection, limit: int, offset: int
) -> list[tuple[StoredMessage, list[Delivery]]]:
    """Messages with deliveries: those with a pending recipient first, newest first."""
    # One statement, so the page and its deliveries come from one snapshot.
    rows = connection.execute(
        f"SELECT {COLUMNS}, {DELIVERY_COLUMNS} FROM ("
        f"  SELECT seq, max({PENDING}) AS pending, id AS page_id"
        "   FROM deliveries JOIN messages USING (seq)"
        "   GROUP BY seq ORDER BY pending DESC, page_id DESC LIMIT ? OFFSET ?"
        ") JOIN messages USING (seq) JOIN deliveries USING (seq)"
        " ORDER BY pending DESC, page_id DESC, position",
        (max(limit, 0), max(offset, 0)),
    )
    page: list[tuple[StoredMessage, list[Delivery]]] = []
    width = COLUMNS.count(",") + 1
    for row in rows:
        if not page or page[-1][0].id != row[0]:
            page.append((message_from_row(row[:width]), []))
        page[-1][1].append(delivery_from_row(row[0], row[width:]))
    return page


def delivery_from_row(message_id: str, row: Sequence[Any]) -> Delivery:
    """A ``SELECT {DELIVERY_COLUMNS}`` row as a Delivery."""
    recipient, status, attempts, next_attempt, last_reply, remote, updated, warned = row
    return Delivery(
        message_id=message_id,
        recipient=recipient,
        status=DeliveryStatus(status),
        attempts=attempts,
        next_attempt=None if next_attempt is None else float(next_attempt),
        last_reply=last_reply,
        remote=remote,
        updated=float(updated),
        warned=bool(warned),
    )


def _seq(connection: sqlite3.Connection, message_id: str) -> int | None:
    row = connection.execute("SELECT seq FROM messages WHERE id = ?", (message_id,)).fetchone()
    return None if row is None else int(row[0])
