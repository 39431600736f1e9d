"""New messages, told to whoever waits for them: event streams and long polls.

Theory of operation. The server's handler calls :meth:`Hub.publish` with each
message's id once it is committed (a plain call on the event loop, no I/O).
Every listener has a small queue of its own; one that does not keep up loses
the oldest ids and is told so (``None``), so that a slow browser never holds
memory or the server up: it reloads its list instead.

A long poll ("the next message matching Q after cursor C") listens first and
looks at the store second, so a message that arrives in between is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

# Ids a listener may fall behind by before it is told to start over.
BACKLOG = 256


class Listener:
    """One subscriber's queue of new message ids (None: some were lost)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(BACKLOG)
        self.overflowed = False

    def put(self, message_id: str) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(message_id)
        except asyncio.QueueFull:
            self.overflowed = True
            self._queue.get_nowait()
            self._queue.put_nowait(None)

    def drain(self) -> None:
        """Forget the ids waiting (the caller reads what is new from the store);
        an overflow mark stays, to be seen by the next ``get``."""
        while not self._queue.empty():
            if self._queue.get_nowait() is None:
                self._queue.put_nowait(None)
                return

    async def get(self, timeout: float | None = None) -> str | None:
        """The next id; None after an overflow. TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):  # not wait_for: see relay/_runner.py
            item = await self._queue.get()
        if item is None:
            self.overflowed = False
        return item


class Hub:
    """Where committed messages are announced."""

    def __init__(self) -> None:
        self._listeners: set[Listener] = set()
        self.published = 0

    def publish(self, message_id: str) -> None:
        self.published += 1
        for listener in self._listeners:
            listener.put(message_id)

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[Listener]:
        listener = Listener()
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        return len(self._listeners)
