"""The writer's changes to stored messages: insert, delete, mark seen, prune.

Theory of operation: these functions run on the writer's connection, inside its
transaction (``_writer.py``), so a message's row, bytes, full-text row and
deliveries always change together. A message is inserted with its row in the
full-text index, and deleted with its bytes, its full-text row and its
deliveries.

Deleting many messages (``delete_matching``, ``prune``) is done in batches, each
a writer job committed on its own, after the messages queued with it (``alone``
in ``_writer.py``), so a message arriving meanwhile waits for one batch at most,
never for the whole deletion. A batch stops at ``BATCH`` messages,
``BATCH_BYTES`` octets (a message's deletion costs about its size: SQLite builds
with secure_delete overwrite freed pages) or ``BATCH_SECONDS`` of work,
whichever comes first. In a large store most of the time goes to FTS5, which
re-reads the text it removes and, as it writes its changes at COMMIT, merges
segments of its index: at 100,000 messages a batch of 200 took ~15 ms of work
and a commit of 10 to 25 ms, now and then 60 to 80 (bench/store_search.py). Each
``*_batch`` function deletes one batch and tells whether there may be more.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from ._model import StoredMessage
from ._schema import INSERT, INSERT_TEXT, PENDING, UNREAD, row_values, text_values
from ._search import Where, read_seqs

__all__ = [
    "BATCH",
    "BATCH_BYTES",
    "BATCH_WAL_BYTES",
    "IN_LIMIT",
    "delete_matching_batch",
    "delete_messages",
    "prune_batch",
    "write_message",
    "write_seen",
]

# Values in one "IN (?, ...)": SQLite before 3.32 allows 999 parameters a statement.
IN_LIMIT = 500
# Messages deleted per commit, at most (prune, delete_matching).
BATCH = 200
# Octets of messages deleted per commit, at most (at least one message is).
BATCH_BYTES = 8 * 1024 * 1024
# Seconds of deleting per commit, about: checked every STEP messages. What a
# message being received may wait for, besides the commit's own fsync.
BATCH_SECONDS = 0.025
STEP = 20
# What deleting a batch adds to the WAL, about (for the writer's checkpoints): ~9 KB
# a small message at 100,000 messages (its pages, zeroed as SQLite's secure_delete
# has it, and FTS5's new segments), measured.
BATCH_WAL_BYTES = BATCH * 10 * 1024
# The messages with a recipient the relay still owes them to: never pruned.
_OWED = f"SELECT seq FROM deliveries WHERE {PENDING}"


def write_message(connection: sqlite3.Connection, message: StoredMessage, text: str) -> int:
    """Insert ``message`` (not its bytes) and its full-text row; its seq."""
    seq = connection.execute(INSERT, row_values(message)).lastrowid
    assert seq is not None
    connection.execute(INSERT_TEXT, text_values(seq, message.envelope, message.summary, text))
    return seq


def delete_messages(connection: sqlite3.Connection, seqs: Sequence[int]) -> None:
    """Delete the messages ``seqs`` (at most ``IN_LIMIT``): rows, bytes, full-text
    rows, deliveries."""
    if not seqs:
        return
    for table in ("contents", "deliveries", "messages"):
        connection.execute(f"DELETE FROM {table} WHERE seq IN {_marks(len(seqs))}", seqs)
    # In rowid order: FTS5 gathers changes in memory only while rowids go up, and
    # writes a segment of its index at every step back (10x slower, measured); so
    # do successive calls in one transaction, in ascending order.
    connection.executemany(
        "DELETE FROM messages_text WHERE rowid = ?", [(seq,) for seq in sorted(seqs)]
    )


def write_seen(connection: sqlite3.Connection, message_ids: Sequence[str], seen: bool) -> int:
    """Mark the messages ``message_ids`` seen (or not); how many changed."""
    condition = UNREAD if seen else "seen = 1"
    changed = 0
    for start in range(0, len(message_ids), IN_LIMIT):
        chunk = message_ids[start : start + IN_LIMIT]
        changed += connection.execute(
            f"UPDATE messages SET seen = ? WHERE {condition} AND id IN {_marks(len(chunk))}",
            (1 if seen else 0, *chunk),
        ).rowcount
    return changed


def delete_matching_batch(
    connection: sqlite3.Connection, where: Where, upto: str
) -> tuple[int, bool]:
    """Delete a batch of the messages ``where`` matches with an id of at most
    ``upto`` (an id, not a seq: a seq freed by a deletion is given again); (how
    many, whether there may be more)."""
    found = read_seqs(connection, where, upto, BATCH)
    return _delete_batch(connection, found), len(found) > 0


def prune_batch(
    connection: sqlite3.Connection, max_messages: int | None, received_before: str | None
) -> int:
    """Delete the oldest batch of messages beyond ``max_messages`` or received before
    ``received_before`` (ISO 8601, as ``received_at``), except those the relay still
    owes to a recipient; how many (0: nothing left to prune)."""
    found: list[tuple[int, int]] = []
    if received_before is not None:
        found = connection.execute(
            "SELECT seq, size FROM messages INDEXED BY messages_received"
            f" WHERE received_at < ? AND seq NOT IN ({_OWED}) ORDER BY received_at LIMIT ?",
            (received_before, BATCH),
        ).fetchall()
    if not found and max_messages is not None:
        (count,) = connection.execute("SELECT count(*) FROM messages").fetchone()
        if count > max_messages:
            found = connection.execute(
                f"SELECT seq, size FROM messages WHERE seq NOT IN ({_OWED}) ORDER BY seq LIMIT ?",
                (min(count - max_messages, BATCH),),
            ).fetchall()
    return _delete_batch(connection, found)


def _marks(count: int) -> str:
    return "(" + ", ".join(["?"] * count) + ")"


def _delete_batch(connection: sqlite3.Connection, found: Sequence[tuple[int, int]]) -> int:
    """Delete the messages ``found`` (seq, size), in order, until BATCH_BYTES octets
    or BATCH_SECONDS have gone into it (at least one); how many were deleted."""
    seqs: list[int] = []
    total = 0
    for seq, size in found:
        total += size
        if seqs and total > BATCH_BYTES:
            break
        seqs.append(seq)
    seqs.sort()  # FTS5 writes a segment of its index at every step back (see above)
    deadline = time.monotonic() + BATCH_SECONDS
    for start in range(0, len(seqs), STEP):
        delete_messages(connection, seqs[start : start + STEP])
        if time.monotonic() >= deadline:
            return min(start + STEP, len(seqs))
    return len(seqs)
