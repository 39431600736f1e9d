"""Opening an SQLite store: the data directory, the database and its connections.

Theory of operation: ``open_writer`` prepares the data directory (created,
proved writable, leftover spill files swept), opens the database, sets the
durability pragmas (``_sqlite.py`` says why each), migrates the schema
(``_migrate.py``) and starts the writer on that connection. The database file
and its directory entry are fsynced, so a store survives a crash right after it
was created. ``Readers`` is the pool of reader threads, each query run on a
connection of its own (``PRAGMA query_only``), made on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import queue
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ._ids import MessageIds
from ._incoming import SPOOL_PREFIX, SPOOL_SUFFIX
from ._migrate import migrate
from ._model import StoreError
from ._writer import Writer

__all__ = ["DATABASE_NAME", "Readers", "open_writer"]

DATABASE_NAME = "messages.sqlite3"
# Reader threads (and connections): reads are short; a few cover a busy viewer.
READERS = 4
# Keep a WAL file no larger than this once checkpointed (after a large message).
WAL_SIZE_LIMIT = 8 * 1024 * 1024
# How long a connection waits for another's lock (another process's writer).
BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


class Readers:
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


def open_writer(data_dir: Path) -> Writer:
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
