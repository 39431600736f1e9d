"""The writer: one thread, one SQLite connection, and group commit.

Theory of operation: every change to a store (a message added or deleted, the
outcome of a delivery recorded, a retry, messages marked seen, a batch of a
prune) is a *job* put on a queue by the event loop, with an asyncio future the
caller awaits. The writer thread takes the first job, then everything else
already queued (up to ``MAX_BATCH``), applies them all in ONE transaction and
commits. With ``PRAGMA synchronous=FULL`` in WAL mode the commit is the fsync of
the WAL, so the batch shares one disk flush; only then are the futures resolved,
all of a batch's in one ``loop.call_soon_threadsafe`` per loop. While a commit
is flushing, new jobs pile up in the queue and become the next batch: the
busier the server, the more messages per fsync. Nothing is delayed to wait for company.

Checkpoints (copying the WAL into the database, and its fsync) are the
writer's too, but only after a batch's futures are resolved, so no add() waits
for one: SQLite's automatic checkpoint is turned off, because it runs inside
the COMMIT that crosses its threshold.

Adding a message also reads it once (``_summary.py``): the summary of its
headers and the text for the full-text index, inserted with its row. That is the
writer's own time per message, off the event loop.

A large message (over ``LARGE_MESSAGE``) gets a transaction of its own, after
the batch's small ones have committed, so their replies do not wait while
megabytes are written and flushed; so does a long job (``CallJob.alone``: a
batch of a prune or of ``delete_matching``). Its bytes go from the spill file into a
``zeroblob`` through ``Connection.blobopen`` in ``COPY_CHUNK`` pieces: memory
stays flat whatever the size, and SQLite spills dirty pages into the WAL as the
transaction grows.

If a batch fails (disk full, I/O error), it is rolled back and each of its jobs
is retried alone, so one bad job cannot sink the others; a job that still fails
gets a StoreError. The ids of a failed transaction are not reused. A ``record``
the store refuses (its message was deleted meanwhile, an unknown recipient) is
expected in normal operation, so it is undone to a savepoint of its own and the
batch commits without it.

``stop()`` queues a sentinel: jobs queued before it are still applied, later
``submit()`` calls raise StoreError, and the connection is closed (SQLite then
checkpoints the WAL into the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Generic, TypeVar

from ._ids import MessageIds
from ._incoming import Incoming
from ._messages import delete_messages, write_message
from ._model import DeliveryUpdate, Envelope, Origin, StoredMessage, StoreError
from ._queue import Positions, write_deliveries, write_record, write_retry
from ._summary import summarize_with_text

__all__ = ["AddJob", "CallJob", "DeleteJob", "RecordJob", "RetryJob", "Writer"]

# Jobs per transaction, at most: bounds the latency a batch adds to its first job.
MAX_BATCH = 512
# Messages above this size commit alone (see above).
LARGE_MESSAGE = 4 * 1024 * 1024
# Spill file to BLOB copy size: memory per large message in flight.
COPY_CHUNK = 256 * 1024

# Automatic checkpoints are off (they would run inside COMMIT, on the caller's
# time): the writer checkpoints once about this much went into the WAL, as
# SQLite's default of 1000 pages would.
CHECKPOINT_BYTES = 4 * 1024 * 1024
# What a job adds to the WAL besides the message bytes: its pages of row and index.
PAGE_ESTIMATE = 4096

T = TypeVar("T")


@dataclass(slots=True, eq=False)
class _Job(Generic[T]):
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]


# How to settle a caller's future, on its loop: (settle, future, result or error).
_Settlement = tuple[Callable[[asyncio.Future[Any], Any], None], asyncio.Future[Any], object]


class _Replies:
    """The outcomes of a batch's jobs, handed to their callers' loops together:
    one ``call_soon_threadsafe`` (a wake-up of the loop, a system call) per loop
    and batch, not one per job."""

    __slots__ = ("_by_loop",)

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, list[_Settlement]] = {}

    def add(self, job: _Job[Any], result: object, error: BaseException | None) -> None:
        settlement: _Settlement = (
            (_set_exception, job.future, error)
            if error is not None
            else (_set_result, job.future, result)
        )
        self._by_loop.setdefault(job.loop, []).append(settlement)

    def send(self) -> None:
        for loop, settlements in self._by_loop.items():
            # RuntimeError: the event loop was closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, settlements)
        self._by_loop = {}


@dataclass(slots=True, eq=False)
class AddJob(_Job[str]):
    incoming: Incoming
    content: bytes | BinaryIO
    size: int
    envelope: Envelope
    origin: Origin
    received_at: datetime
    relay_to: Positions = ()  # recipients to queue for relaying, see _queue.py
    inbox: str = ""

    @property
    def large(self) -> bool:
        return self.size > LARGE_MESSAGE


@dataclass(slots=True, eq=False)
class DeleteJob(_Job[bool]):
    message_id: str


@dataclass(slots=True, eq=False)
class RecordJob(_Job[None]):
    message_id: str
    updates: tuple[DeliveryUpdate, ...]
    now: float


@dataclass(slots=True, eq=False)
class RetryJob(_Job[int]):
    message_id: str | None  # None: every message
    now: float


@dataclass(slots=True, eq=False)
class CallJob(_Job[T]):
    """Any other change: ``apply`` runs inside the transaction; its caller gets what
    it returns. ``weight`` estimates what it writes to the WAL (octets)."""

    apply: Callable[[sqlite3.Connection], T]
    weight: int = PAGE_ESTIMATE
    alone: bool = False  # a long job (a batch of a prune): committed apart, see above


Job = AddJob | DeleteJob | RecordJob | RetryJob | CallJob[Any]


@dataclass(frozen=True, slots=True)
class _Refused:
    """What a job that the store refused returns: undone alone, the batch goes on."""

    error: StoreError


class Writer:
    """Applies jobs on its own thread; see the module docstring."""

    def __init__(self, connection: sqlite3.Connection, ids: MessageIds) -> None:
        self._connection = connection  # autocommit mode: transactions are explicit
        self._ids = ids
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="smtpx-store-writer", daemon=True)
        # Transactions committed: tests use it to see group commit at work.
        self.commits = 0
        self.checkpoints = 0
        self._wal_bytes = 0  # an estimate of what the WAL gained since the last checkpoint

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._stopping:
                raise StoreError("the store is closed")
            self._queue.put(job)

    def stop(self) -> None:
        """Finish the queued jobs, close the connection. Blocks: call it from a thread."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                batch, more = self._take()
                self._apply_batch(batch)
                if not more:
                    return
        finally:
            self._abandon()
            self._connection.close()

    def _take(self) -> tuple[list[Job], bool]:
        """The next batch, and whether to go on after it (no sentinel seen)."""
        batch: list[Job] = []
        job = self._queue.get()
        while job is not None:
            batch.append(job)
            if len(batch) >= MAX_BATCH:
                return batch, True
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return batch, True
        return batch, False

    def _apply_batch(self, batch: list[Job]) -> None:
        small = [job for job in batch if not _alone(job)]
        groups = [small] if small else []
        groups += [[job] for job in batch if _alone(job)]
        for group in groups:
            self._commit(group)
            self._wal_bytes += sum(_weight(job) for job in group)
        if self._wal_bytes >= CHECKPOINT_BYTES:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database, after the batch's callers have their replies."""
        try:
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            return  # nothing is lost: the WAL keeps the data; try again after the next batch
        self._wal_bytes = 0
        self.checkpoints += 1

    def _commit(self, group: list[Job]) -> None:
        """Apply ``group`` in one transaction and settle its futures."""
        replies = _Replies()
        try:
            results = self._transaction(group)
        except Exception as exc:
            if len(group) > 1:  # find the job that failed: retry each alone
                for job in group:
                    self._commit([job])
                return
            self._finish(group[0], None, _store_error(exc), replies)
        else:
            for job, result in zip(group, results, strict=True):
                self._finish(job, result, None, replies)
        replies.send()

    def _transaction(self, group: list[Job]) -> list[object]:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            results = [self._apply(job) for job in group]
            connection.execute("COMMIT")  # synchronous=FULL: the WAL is fsynced here
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        self.commits += 1
        return results

    def _apply(self, job: Job) -> object:
        """Apply one job inside the transaction; what its caller gets."""
        if isinstance(job, AddJob):
            return self._add(job)
        if isinstance(job, DeleteJob):
            return self._delete(job.message_id)
        if isinstance(job, RecordJob):
            return self._record(job)
        if isinstance(job, CallJob):
            return job.apply(self._connection)
        return write_retry(self._connection, job.message_id, job.now)

    def _record(self, job: RecordJob) -> _Refused | None:
        connection = self._connection
        connection.execute("SAVEPOINT record")
        try:
            write_record(connection, job.message_id, job.updates, job.now)
        except StoreError as exc:
            connection.execute("ROLLBACK TO record")
            connection.execute("RELEASE record")
            return _Refused(exc)
        connection.execute("RELEASE record")
        return None

    def _add(self, job: AddJob) -> str:
        message_id = self._ids.next(int(job.received_at.timestamp() * 1000))
        content = job.content
        source: BinaryIO
        if isinstance(content, bytes):
            source = io.BytesIO(content)
        else:
            content.flush()
            content.seek(0)
            source = content
        summary, text = summarize_with_text(source)
        message = StoredMessage(
            message_id, job.received_at, job.size, job.envelope, job.origin, summary,
            inbox=job.inbox,
        )  # fmt: skip
        seq = write_message(self._connection, message, text)
        if job.relay_to:  # a message only received pays nothing for the queue
            write_deliveries(self._connection, seq, job.relay_to, job.received_at.timestamp())
        if isinstance(content, bytes):
            self._connection.execute(
                "INSERT INTO contents (seq, raw) VALUES (?, ?)", (seq, content)
            )
            return message_id
        self._connection.execute(
            "INSERT INTO contents (seq, raw) VALUES (?, zeroblob(?))", (seq, job.size)
        )
        content.seek(0)
        with self._connection.blobopen("contents", "raw", seq) as blob:
            copied = 0
            while chunk := content.read(min(COPY_CHUNK, job.size - copied)):
                blob.write(chunk)
                copied += len(chunk)
        if copied != job.size:
            raise StoreError(f"spill file holds {copied} octets, expected {job.size}")
        return message_id

    def _delete(self, message_id: str) -> bool:
        row = self._connection.execute(
            "SELECT seq FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            return False
        delete_messages(self._connection, [row[0]])
        return True

    def _finish(
        self, job: Job, result: object, error: BaseException | None, replies: _Replies
    ) -> None:
        if isinstance(job, AddJob):
            job.incoming._release()  # committed, or failed for good: the bytes are done with
            job.content = b""
        if isinstance(result, _Refused):
            error = result.error
        replies.add(job, result, error)

    def _abandon(self) -> None:
        """Fail whatever is still queued: the writer is gone (only after a bug)."""
        with self._lock:
            self._stopping = True
        replies = _Replies()
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._finish(job, None, StoreError("the store's writer stopped"), replies)
        replies.send()


def _alone(job: Job) -> bool:
    """Whether ``job`` commits apart from the small jobs of its batch, after them."""
    return (isinstance(job, AddJob) and job.large) or (isinstance(job, CallJob) and job.alone)


def _weight(job: Job) -> int:
    """What ``job`` adds to the WAL, about."""
    if isinstance(job, AddJob):
        return PAGE_ESTIMATE + job.size
    if isinstance(job, CallJob):
        return job.weight
    return PAGE_ESTIMATE


def _settle(settlements: list[_Settlement]) -> None:
    """On the caller's loop: give each waiting caller its result or error."""
    for settle, future, value in settlements:
        settle(future, value)


def _set_result(future: asyncio.Future[T], result: T) -> None:
    if not future.done():  # done: the caller was cancelled; the job happened all the same
        future.set_result(result)


def _set_exception(future: asyncio.Future[T], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _store_error(exc: Exception) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.Error | OSError):
        error = StoreError(f"cannot write to the store: {exc}")
    else:
        error = StoreError(f"cannot write to the store: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
