"""SQLiteStore: the embedded store, one SQLite database in WAL mode in a data directory.

Theory of operation: three kinds of thread touch the database, each with its
own connections.

- The event loop never touches the disk. ``incoming()`` hands out an
  :class:`Incoming` (memory, then a spill file); ``add()``, ``delete()``,
  ``record()`` and ``retry()`` queue a job for the writer and await its future;
  reads go to the reader threads.
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

Crash safety: a message whose ``add()`` returned is committed. One that was being
received leaves nothing: its spill file was unlinked when it was created, and
leftover named spill files (where unlinking an open file fails) are swept when
the store opens.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import os
import queue
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TypeVar

from ._ids import MessageIds
from ._incoming import SPOOL_PREFIX, SPOOL_SUFFIX, Incoming
from ._model import Delivery, DeliveryUpdate, Envelope, Origin, StoredMessage, StoreError
from ._queue import read_deliveries, read_due, read_next_due, read_queue, relay_positions
from ._rawfile import open_blob
from ._schema import COLUMNS, message_from_row, migrate, search_pattern
from ._store import Store
from ._writer import AddJob, DeleteJob, RecordJob, RetryJob, Writer

__all__ = ["DATABASE_NAME", "SQLiteStore"]

DATABASE_NAME = "messages.sqlite3"
# Reader threads (and connections): reads are short; a few cover a busy viewer.
READERS = 4
# Keep a WAL file no larger than this once checkpointed (after a large message).
WAL_SIZE_LIMIT = 8 * 1024 * 1024
# How long a connection waits for another's lock (another process's writer).
BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


class SQLiteStore(Store):
    """The embedded store. Open it with ``await SQLiteStore.open(data_dir)``."""

    def __init__(self, data_dir: Path, writer: Writer) -> None:
        # Use open(): it creates the directory and database and starts the writer.
        self._data_dir = data_dir
        self._database = str(data_dir / DATABASE_NAME)
        self._writer = writer
        self._readers = _Readers(self._database)
        self._closed = False

    @classmethod
    async def open(cls, data_dir: str | os.PathLike[str]) -> SQLiteStore:
        """Open the store in ``data_dir``, creating the directory and database if needed.

        Raises StoreError (a one-line message) if the directory cannot be used.
        """
        path = Path(data_dir)
        writer = await asyncio.to_thread(_open_writer, path)
        return cls(path, writer)

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
        return await self.search("", limit, before)

    async def search(
        self, text: str, limit: int = 50, before: str | None = None
    ) -> builtins.list[StoredMessage]:
        terms = text.split()
        conditions = ["search LIKE ? ESCAPE '\\'"] * len(terms)
        parameters: builtins.list[object] = [search_pattern(term) for term in terms]
        if before is not None:
            conditions.append("id < ?")
            parameters.append(before)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT {COLUMNS} FROM messages {where} ORDER BY id DESC LIMIT ?"
        parameters.append(max(limit, 0))

        def query(connection: sqlite3.Connection) -> builtins.list[StoredMessage]:
            return [message_from_row(row) for row in connection.execute(sql, parameters)]

        return await self._read(query)

    async def delete(self, message_id: str) -> bool:
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._writer.submit(DeleteJob(loop, future, message_id))
        return await future

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

    async def count(self) -> int:
        def query(connection: sqlite3.Connection) -> int:
            (count,) = connection.execute("SELECT count(*) FROM messages").fetchone()
            return int(count)

        return await self._read(query)

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


class _Readers:
    """A few threads, each query on a pooled connection (one thread at a time each)."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._executor = ThreadPoolExecutor(READERS, thread_name_prefix="smtpx-store-reader")
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def run(self, query: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, query)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()

    def _call(self, query: Callable[[sqlite3.Connection], T]) -> T:
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = _connect(self._database)
            connection.execute("PRAGMA query_only = ON")
            with self._lock:
                self._all.append(connection)
        try:
            return query(connection)
        finally:
            self._idle.put(connection)


def _connect(database: str) -> sqlite3.Connection:
    # Autocommit (isolation_level=None): transactions are explicit; a lone SELECT
    # is its own read transaction. check_same_thread=False: a connection is made
    # in one thread and used in another, never by two at once.
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return connection


def _open_writer(data_dir: Path) -> Writer:
    """Prepare the data directory and database, and start the writer. Blocking."""
    _prepare_directory(data_dir)
    database = data_dir / DATABASE_NAME
    try:
        connection = _connect(str(database))
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {database}: {exc}") from None
    try:
        newest = _prepare_database(connection, database)
        # The database's directory entry, and the directory's own, are durable too.
        _fsync_directory(data_dir)
        _fsync_directory(data_dir.absolute().parent)
    except sqlite3.Error as exc:
        connection.close()
        raise StoreError(f"cannot use {database}: {exc}") from None
    except BaseException:
        connection.close()
        raise
    writer = Writer(connection, MessageIds(newest))
    writer.start()
    return writer


def _prepare_directory(data_dir: Path) -> None:
    """Create the directory, prove it writable, and sweep leftover spill files."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"data directory {data_dir} exists and is not a directory") from None
    except OSError as exc:
        raise StoreError(
            f"cannot create data directory {data_dir}: {exc.strerror or exc}"
        ) from None
    try:
        fd, probe = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX, dir=data_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StoreError(f"data directory {data_dir} is not writable: {exc.strerror}") from None
    with os.scandir(data_dir) as entries:
        for entry in entries:
            if entry.name.startswith(SPOOL_PREFIX) and entry.name.endswith(SPOOL_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _prepare_database(connection: sqlite3.Connection, database: Path) -> str | None:
    """Set the durability pragmas and the schema; the newest message id, if any."""
    try:
        (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{database} is not an smtpx store: {exc}") from None
    if str(mode).lower() != "wal":
        raise StoreError(f"{database}: SQLite cannot use WAL mode here (journal mode {mode})")
    connection.execute("PRAGMA synchronous = FULL")  # fsync the WAL at every commit
    connection.execute("PRAGMA fullfsync = ON")  # macOS: F_FULLFSYNC, a real flush
    connection.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    connection.execute("PRAGMA wal_autocheckpoint = 0")  # the writer checkpoints: _writer.py
    # 512 KiB of page cache (SQLite's default is 2 MiB): rows and indexes are
    # small, and message bytes stream through without needing cached pages.
    connection.execute("PRAGMA cache_size = -512")
    migrate(connection, str(database))
    (newest,) = connection.execute("SELECT max(id) FROM messages").fetchone()
    return str(newest) if newest is not None else None


def _fsync_directory(path: Path) -> None:
    if os.name != "posix":  # directories cannot be opened for fsync elsewhere
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: a file system that cannot sync directories
            raise StoreError(f"cannot sync data directory {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
