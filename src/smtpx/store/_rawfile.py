"""RawFile: a message's bytes as a file, streamed from its BLOB.

Theory of operation: ``Store.open_raw`` must not read a 50 MB message into
memory, so it opens a connection of its own, starts a read transaction (in WAL
mode, a snapshot: the message stays readable even if it is deleted meanwhile, and
the writer is never blocked), and reads the BLOB through SQLite's incremental
BLOB I/O. ``io.BufferedReader`` on top gives ``read``, ``readline``, iteration
and ``seek``. Closing the file ends the transaction and closes the connection;
until then the WAL cannot be checkpointed past the snapshot, so close it soon.

``read_blob`` is the same file on a connection the caller keeps (the migration
that reads every stored message again).
"""

from __future__ import annotations

import io
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["open_blob", "read_blob"]

# Read size of the buffered file: large enough for few calls into SQLite.
BUFFER_SIZE = 64 * 1024


class _BlobIO(io.RawIOBase):
    def __init__(self, connection: sqlite3.Connection | None, blob: sqlite3.Blob) -> None:
        super().__init__()
        self._connection = connection  # closed with the file, if the file owns it
        self._blob = blob

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._blob.read(len(view))
        view[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._blob.seek(offset, whence)
        return self._blob.tell()

    def tell(self) -> int:
        return self._blob.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                self._blob.close()
            finally:
                if self._connection is not None:
                    self._connection.close()
        super().close()


def open_blob(database: str, message_id: str) -> io.BufferedReader | None:
    """A file reading the raw bytes of ``message_id``, or None if there is no such message.

    Blocking: call it from a thread. The file may then be read from any thread,
    one at a time.
    """
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("BEGIN")  # the snapshot the file reads, until it is closed
        row = connection.execute("SELECT seq FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            connection.close()
            return None
        blob = connection.blobopen("contents", "raw", row[0], readonly=True)
    except BaseException:
        connection.close()
        raise
    return io.BufferedReader(_BlobIO(connection, blob), BUFFER_SIZE)


def read_blob(connection: sqlite3.Connection, seq: int) -> io.BufferedReader:
    """A file reading the raw bytes of the message ``seq`` on ``connection``, in the
    connection's current transaction; closing it leaves the connection open."""
    blob = connection.blobopen("contents", "raw", seq, readonly=True)
    return io.BufferedReader(_BlobIO(None, blob), BUFFER_SIZE)
