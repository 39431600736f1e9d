"""SQLiteStore: the embedded store, one SQLite database in WAL mode in a data directory.

Theory of operation: three kinds of thread touch the database, each with its
own connections.

- The event loop never touches the disk. ``incoming()`` hands out an
  :class:`Incoming` (memory, then a spill file); every change (``add()``,
  ``delete()``, ``record()``, ``retry()``, ``mark_seen()``, each batch of
  ``delete_matching()`` and ``prune()``) queues a job for the writer and awaits
  its future; reads go to the reader threads. Parsing a search (``_query.py``)
  is the one thing done on the loop: it is pure and short.
- The writer thread (``_writer.py``) owns the only writing connection and does
  group commit: all jobs queued while the previous commit was flushing go into
  one transaction and one fsync.
- Reader threads (a small pool) run queries on connections of their own. WAL
  lets them read a consistent snapshot while the writer writes.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``, under which SQLite
fsyncs the WAL at every commit, so a committed transaction survives a crash or
a power loss. (``synchronous=NORMAL`` in WAL mode fsyncs only at checkpoints: a
commit could be lost, so it would break the promise behind the 250 reply.)
``fullfsync`` asks macOS for F_FULLFSYNC, where a plain fsync does not flush the
drive's cache. At open, the data directory is fsynced too, so the database file
itself survives a crash right after it was created.

Raw bytes live in the database as BLOBs, large ones written incrementally
(``_writer.py``), rather than as files beside it: the row and its bytes commit
atomically under the one fsync, deletes are transactional, and a store is one
database to back up; no directory of files to reconcile after a crash. The cost
is that a large message is written twice more (into the WAL, then into the
database at checkpoint). ``journal_size_limit`` truncates the WAL after a big
message has been checkpointed.

The relay's queue (``_queue.py``) lives in the same database: a message's
deliveries are inserted in its ``add()`` transaction, and each ``record()`` is a
writer job like any other, so the queue has the same durability rule.

The inbox reads through the search language: ``search``, ``since``, ``count``
and ``delete_matching`` take a query (text, or a parsed :class:`Query`),
compiled to SQL by ``_search.py``; the full-text index is kept in step by the
writer (``_messages.py``). Deleting many messages goes in batches, one writer
job each, so receiving never waits behind a whole prune.

Crash safety: a message whose ``add()`` returned is committed. One that was being
received leaves nothing: its spill file was unlinked when it was created, and
leftover named spill files (where unlinking an open file fails) are swept when
the store opens.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TypeVar

from ._incoming import Incoming
from ._messages import BATCH_WAL_BYTES, delete_matching_batch, prune_batch, write_seen
from ._model import (
    Delivery,
    DeliveryUpdate,
    Envelope,
    Origin,
    StoredMessage,
    StoreError,
    StoreStats,
)
from ._open import DATABASE_NAME, Readers, open_writer
from ._query import Query, parse_query
from ._queue import read_deliveries, read_due, read_next_due, read_queue, relay_positions
from ._rawfile import open_blob
from ._schema import COLUMNS, UNREAD, message_from_row
from ._search import Where, compile_query, read_count, read_page, read_since
from ._store import Store
from ._writer import PAGE_ESTIMATE, AddJob, CallJob, DeleteJob, RecordJob, RetryJob, Writer

__all__ = ["DATABASE_NAME", "SQLiteStore"]

T = TypeVar("T")
_EVERYTHING = Query()


class SQLiteStore(Store):
    """The embedded store. Open it with ``await SQLiteStore.open(data_dir)``."""

    def __init__(self, data_dir: Path, writer: Writer) -> None:
        # Use open(): it creates the directory and database and starts the writer.
        self._data_dir = data_dir
        self._database = str(data_dir / DATABASE_NAME)
        self._writer = writer
        self._readers = Readers(self._database)
        self._closed = False

    @classmethod
    async def open(cls, data_dir: str | os.PathLike[str]) -> SQLiteStore:
        """Open the store in ``data_dir``, creating the directory and database if needed.

        Raises StoreError (a one-line message) if the directory cannot be used.
        """
        path = Path(data_dir)
        writer = await asyncio.to_thread(open_writer, path)
        return cls(path, writer)

    @staticmethod
    def exists(data_dir: str | os.PathLike[str]) -> bool:
        """Whether ``data_dir`` holds a store (``open`` would make one where it does not;
        an empty database file is none yet). OSError if the directory cannot be read."""
        database = Path(data_dir) / DATABASE_NAME
        try:
            return database.stat().st_size > 0
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            return False

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def commits(self) -> int:
        """Transactions the writer committed since open (each one fsync): group commit
        shows as far fewer commits than messages."""
        return self._writer.commits

    def incoming(self) -> Incoming:
        self._check_open()
        return Incoming(self._data_dir)

    async def add(
        self,
        incoming: Incoming,
        envelope: Envelope,
        origin: Origin,
        *,
        relay_to: Sequence[str] = (),
        inbox: str = "",
    ) -> str:
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        size = incoming.size
        content = incoming._seal()
        try:
            positions = relay_positions(envelope, relay_to)
            received_at = datetime.now(UTC)
            job = AddJob(loop, future, incoming, content, size, envelope, origin, received_at)
            job.relay_to = positions
            job.inbox = inbox
            self._writer.submit(job)
        except StoreError:
            incoming._release()
            raise
        return await future

    async def get(self, message_id: str) -> StoredMessage | None:
        def query(connection: sqlite3.Connection) -> StoredMessage | None:
            row = connection.execute(
                f"SELECT {COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            return None if row is None else message_from_row(row)

        return await self._read(query)

    async def raw(self, message_id: str) -> bytes | None:
        def query(connection: sqlite3.Connection) -> bytes | None:
            row = connection.execute(
                "SELECT raw FROM contents JOIN messages USING (seq) WHERE id = ?", (message_id,)
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._read(query)

    async def open_raw(self, message_id: str) -> BinaryIO | None:
        self._check_open()
        try:
            return await asyncio.to_thread(open_blob, self._database, message_id)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store: {exc}") from exc

    async def list(
        self, limit: int = 50, before: str | None = None
    ) -> builtins.list[StoredMessage]:
        return await self.search(_EVERYTHING, limit, before)

    async def search(
        self, query: str | Query, limit: int = 50, before: str | None = None
    ) -> builtins.list[StoredMessage]:
        where = _compiled(query)
        return await self._read(lambda connection: read_page(connection, where, limit, before))

    async def since(
        self, query: str | Query, after: str | None, limit: int = 50
    ) -> builtins.list[StoredMessage]:
        where = _compiled(query)
        return await self._read(lambda connection: read_since(connection, where, after, limit))

    async def count(self, query: str | Query | None = None) -> int:
        where = _compiled(_EVERYTHING if query is None else query)
        return await self._read(lambda connection: read_count(connection, where))

    async def mark_seen(self, message_ids: Sequence[str], seen: bool = True) -> int:
        if isinstance(message_ids, str):  # one id would be marked as its characters
            raise TypeError("mark_seen() takes a sequence of ids, not one id")
        ids = tuple(message_ids)
        return await self._call(lambda connection: write_seen(connection, ids, seen))

    async def delete(self, message_id: str) -> bool:
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._writer.submit(DeleteJob(loop, future, message_id))
        return await future

    async def delete_matching(self, query: str | Query) -> int:
        where = _compiled(query)
        # What matches now: messages that arrive during a long deletion are not chased.
        upto = await self._read(_newest_id)
        if upto is None:
            return 0
        deleted, more = 0, True
        while more:
            apply = functools.partial(delete_matching_batch, where=where, upto=upto)
            batch, more = await self._call(apply, weight=BATCH_WAL_BYTES, alone=True)
            deleted += batch
        return deleted

    async def prune(self, *, max_messages: int | None, max_age: float | None, now: float) -> int:
        if max_messages is not None and max_messages < 0:
            raise ValueError(f"max_messages must be 0 or more, not {max_messages}")
        cutoff = None
        if max_age is not None:
            cutoff = datetime.fromtimestamp(now - max_age, UTC).isoformat()
        pruned = 0
        while batch := await self._call(
            lambda connection: prune_batch(connection, max_messages, cutoff),
            weight=BATCH_WAL_BYTES,
            alone=True,
        ):
            pruned += batch
        return pruned

    async def stats(self) -> StoreStats:
        def query(connection: sqlite3.Connection) -> StoreStats:
            messages, octets = connection.execute(
                "SELECT count(*), ifnull(sum(size), 0) FROM messages"
            ).fetchone()
            (unread,) = connection.execute(
                f"SELECT count(*) FROM messages WHERE {UNREAD}"
            ).fetchone()
            on_disk = sum(_file_size(self._database + suffix) for suffix in ("", "-wal"))
            return StoreStats(int(messages), int(unread), int(octets), on_disk)

        return await self._read(query)

    async def due(self, now: float, limit: int = 100) -> builtins.list[str]:
        return await self._read(lambda connection: read_due(connection, now, limit))

    async def next_due(self) -> float | None:
        return await self._read(read_next_due)

    async def deliveries(self, message_id: str) -> builtins.list[Delivery]:
        return await self._read(lambda connection: read_deliveries(connection, message_id))

    async def record(self, message_id: str, updates: Sequence[DeliveryUpdate]) -> None:
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._writer.submit(RecordJob(loop, future, message_id, tuple(updates), time.time()))
        await future

    async def queue(
        self, limit: int = 100, offset: int = 0
    ) -> builtins.list[tuple[StoredMessage, builtins.list[Delivery]]]:
        return await self._read(lambda connection: read_queue(connection, limit, offset))

    async def retry(self, message_id: str | None, now: float) -> int:
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._writer.submit(RetryJob(loop, future, message_id, now))
        return await future

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._writer.stop)
        await asyncio.to_thread(self._readers.close)

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        try:
            return await self._readers.run(query)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store: {exc}") from exc

    async def _call(
        self,
        apply: Callable[[sqlite3.Connection], T],
        *,
        weight: int = PAGE_ESTIMATE,
        alone: bool = False,
    ) -> T:
        """Run ``apply`` in a writer transaction (of its own: ``alone``); what it
        returns, once committed."""
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._writer.submit(CallJob(loop, future, apply, weight, alone))
        return await future


def _compiled(query: str | Query) -> Where:
    """``query`` as SQL; QueryError (a ValueError) if its text does not parse."""
    return compile_query(parse_query(query) if isinstance(query, str) else query)


def _newest_id(connection: sqlite3.Connection) -> str | None:
    (newest,) = connection.execute("SELECT max(id) FROM messages").fetchone()
    return None if newest is None else str(newest)


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
