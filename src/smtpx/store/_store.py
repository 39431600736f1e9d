"""Store: the interface a receiver writes to and a viewer reads from.

Theory of operation: the server knows only this protocol. It asks for an
:class:`Incoming`, writes the message into it as DATA arrives, and on the end of
data awaits ``add()``: the id comes back only once the message is on disk, so
the 250 reply can follow. Everything is async and narrow (no SQL, no paths), so
another store (PostgreSQL, for several machines) can replace the SQLite one
without the server noticing.

Every method may raise :class:`StoreError` (closed store, full disk...): a
receiver answers 4yz, the client tries again later.
"""

from __future__ import annotations

import builtins
from typing import BinaryIO, Protocol

from ._incoming import Incoming
from ._model import Envelope, Origin, StoredMessage

__all__ = ["Store"]


class Store(Protocol):
    """A durable message store."""

    def incoming(self) -> Incoming:
        """A new, empty message to write into."""
        ...

    async def add(self, incoming: Incoming, envelope: Envelope, origin: Origin) -> str:
        """Keep the message; returns its id once it is committed and on disk.

        The store takes ``incoming`` over: it must not be written to afterwards.
        """
        ...

    async def get(self, message_id: str) -> StoredMessage | None:
        """The message's envelope, origin and summary; None if there is none."""
        ...

    async def raw(self, message_id: str) -> bytes | None:
        """The message's exact bytes as received; None if there is no such message."""
        ...

    async def open_raw(self, message_id: str) -> BinaryIO | None:
        """The message's bytes as a file to stream from (close it); None if absent."""
        ...

    async def list(
        self, limit: int = 50, before: str | None = None
    ) -> builtins.list[StoredMessage]:
        """Up to ``limit`` messages, newest first; ``before`` (an id) pages on."""
        ...

    async def search(
        self, text: str, limit: int = 50, before: str | None = None
    ) -> builtins.list[StoredMessage]:
        """Messages whose subject, From, To, Cc, envelope sender or recipients
        contain every word of ``text`` (ignoring case), newest first."""
        ...

    async def delete(self, message_id: str) -> bool:
        """Remove a message; False if there was none."""
        ...

    async def count(self) -> int:
        """How many messages the store holds."""
        ...

    async def close(self) -> None:
        """Finish pending writes and release the store; later calls raise StoreError."""
        ...
