"""Incoming: a message being received, written chunk by chunk.

Theory of operation: the server calls ``write()`` from its ``asyncio.Protocol``
callbacks as DATA/BDAT bytes arrive, so a write must be cheap and must not wait
on the disk. The first ``MEMORY_LIMIT`` octets stay in a ``bytearray``; past
that the content *spills*: the buffer and every later chunk go to a temporary
file in the store's data directory, with plain buffered writes (no fsync: until
the store commits the message, nobody has been promised anything).

The spill file is unlinked the moment it is created, so only its open file
descriptor keeps it alive: when the process dies, crash or not, the kernel frees
it, and no half-received message is ever left behind. Where an open file cannot
be unlinked (Windows), its name stays until ``discard()`` or the store's commit,
and the store sweeps leftovers (``SPOOL_PREFIX``) when it next opens.

Once handed to ``Store.add()``, an Incoming belongs to the store (it is
*sealed*): writes fail, and ``discard()`` does nothing, so a connection dropped
while the commit is in flight cannot pull the bytes away from the writer.
"""

from __future__ import annotations

import contextlib
import enum
import os
import tempfile
from typing import BinaryIO

from ._model import StoreError

__all__ = ["MEMORY_LIMIT", "SPOOL_PREFIX", "Incoming"]

# Up to this many octets a message stays in memory; most mail is far smaller, and
# a few hundred concurrent sessions at this size still fit in a modest process.
MEMORY_LIMIT = 256 * 1024
# Names of spill files, for the sweep at open (only where unlinking an open file
# fails, see above).
SPOOL_PREFIX = ".incoming-"
SPOOL_SUFFIX = ".tmp"


class _State(enum.Enum):
    OPEN = "open"  # being written
    SEALED = "sealed"  # handed to Store.add(); the store owns the content
    DISCARDED = "discarded"  # dropped, or released by the store


class Incoming:
    """A message being received: content written in chunks, not all held in memory."""

    __slots__ = ("_buffer", "_file", "_memory_limit", "_path", "_size", "_spool_dir", "_state")

    def __init__(self, spool_dir: str | os.PathLike[str], *, memory_limit: int = MEMORY_LIMIT):
        self._spool_dir = spool_dir  # used only if the message spills
        self._memory_limit = memory_limit
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self._path: str | None = None  # the spill file's name, while it still has one
        self._size = 0
        self._state = _State.OPEN

    @property
    def size(self) -> int:
        """Octets written so far."""
        return self._size

    @property
    def spilled(self) -> bool:
        """Whether the content went to a temporary file (it outgrew the memory limit)."""
        return self._file is not None

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raises StoreError if spilling to disk fails (disk full)."""
        if self._state is not _State.OPEN:
            raise ValueError(f"write() on an Incoming that was already {self._state.value}")
        if self._file is None:
            if len(self._buffer) + len(chunk) <= self._memory_limit:
                self._buffer += chunk
                self._size += len(chunk)
                return
            self._spill()
        assert self._file is not None
        try:
            self._file.write(chunk)
        except OSError as exc:
            raise StoreError(f"cannot write a spilled message: {exc.strerror or exc}") from None
        self._size += len(chunk)

    def discard(self) -> None:
        """Drop the content (the message was refused). Safe to call more than once;
        does nothing once the Incoming was handed to ``Store.add()``."""
        if self._state is _State.OPEN:
            self._release()

    # What a store uses (private to smtpx.store).

    def _seal(self) -> bytes | BinaryIO:
        """Hand the content over to a store: the bytes, or the spill file (not yet
        flushed: the store flushes and rewinds it in its own thread)."""
        if self._state is not _State.OPEN:
            raise ValueError(f"add() of an Incoming that was already {self._state.value}")
        self._state = _State.SEALED
        if self._file is not None:
            return self._file
        content = bytes(self._buffer)
        self._buffer = bytearray()
        return content

    def _release(self) -> None:
        """Free the content: close and remove the spill file. Idempotent."""
        self._state = _State.DISCARDED
        self._buffer = bytearray()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            _remove(self._path)
            self._path = None

    def _spill(self) -> None:
        try:
            fd, path = tempfile.mkstemp(
                prefix=SPOOL_PREFIX, suffix=SPOOL_SUFFIX, dir=self._spool_dir
            )
        except OSError as exc:
            raise StoreError(
                f"cannot spill a large message to {self._spool_dir}: {exc.strerror or exc}"
            ) from None
        try:
            os.unlink(path)
        except OSError:  # Windows: not while open; removed by _release() or the sweep
            self._path = path
        self._file = open(fd, "w+b")  # noqa: SIM115 (lives until _release())
        try:
            self._file.write(self._buffer)
        except OSError as exc:
            raise StoreError(f"cannot write a spilled message: {exc.strerror or exc}") from None
        self._buffer = bytearray()


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
