"""Store: the interface a receiver writes to and a viewer reads from.

Theory of operation: the server knows only this protocol. It asks for an
:class:`Incoming`, writes the message into it as DATA arrives, and on the end of
data awaits ``add()``: the id comes back only once the message is on disk, so
the 250 reply can follow. Everything is async and narrow (no SQL, no paths), so
another store (PostgreSQL, for several machines) can replace the SQLite one
without the server noticing.

A message accepted for relaying is added with ``relay_to``, the recipients to
relay it to: the store queues one :class:`Delivery` per recipient in the same
commit, so the fsync before the 250 covers the queue too. The relay then asks
what is ``due()``, tries, and records the outcomes (``record()``), each committed
and on disk before it returns; ``queue()`` and ``retry()`` serve ``smtpx queue``.
Times are epoch seconds (``time.time()``), chosen by the caller where they decide
what is due.

The inbox (a web UI and its JSON API) reads through the search language of
``_query.py`` (``search``, ``since``, ``count``, ``delete_matching``: the text of
a search box, or a parsed :class:`Query`; a QueryError, a ValueError, for text
that does not parse), marks messages seen, and keeps the store bounded with
``prune``. A message is filed in one inbox when it is added (``inbox=``).

Every method may raise :class:`StoreError` (closed store, full disk...): a
receiver answers 4yz, the client tries again later.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import BinaryIO, Protocol

from ._incoming import Incoming
from ._model import Delivery, DeliveryUpdate, Envelope, Origin, StoredMessage, StoreStats
from ._query import Query

__all__ = ["Store"]


class Store(Protocol):
    """A durable message store."""

    def incoming(self) -> Incoming:
        """A new, empty message to write into."""
        ...

    async def add(
        self,
        incoming: Incoming,
        envelope: Envelope,
        origin: Origin,
        *,
        relay_to: Sequence[str] = (),
        inbox: str = "",
    ) -> str:
        """Keep the message; returns its id once it is committed and on disk.

        The store takes ``incoming`` over: it must not be written to afterwards.
        Each address of ``relay_to`` (one of the envelope's recipients, else
        StoreError and nothing is kept) gets a queued delivery, due now, in the
        same commit. The message is filed in ``inbox`` ("" the default one), unseen.
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
        self, query: str | Query, limit: int = 50, before: str | None = None
    ) -> builtins.list[StoredMessage]:
        """Up to ``limit`` messages matching ``query`` (the search language, see
        ``parse_query``), newest first; ``before`` (an id) pages on. QueryError if
        the text does not parse."""
        ...

    async def since(
        self, query: str | Query, after: str | None, limit: int = 50
    ) -> builtins.list[StoredMessage]:
        """Up to ``limit`` messages matching ``query`` that are newer than the id
        ``after`` (None: from the oldest), oldest first: what arrived since."""
        ...

    async def count(self, query: str | Query | None = None) -> int:
        """How many messages match ``query``; None: how many the store holds."""
        ...

    async def mark_seen(self, message_ids: Sequence[str], seen: bool = True) -> int:
        """Mark the messages seen (read), or not, in one commit; how many changed
        (unknown ids and messages already so are not counted)."""
        ...

    async def delete(self, message_id: str) -> bool:
        """Remove a message and its deliveries; False if there was none."""
        ...

    async def delete_matching(self, query: str | Query) -> int:
        """Remove every message matching ``query`` when called, with its
        deliveries, a batch per commit; how many."""
        ...

    async def prune(self, *, max_messages: int | None, max_age: float | None, now: float) -> int:
        """Remove the oldest messages beyond ``max_messages`` and those received
        more than ``max_age`` seconds before ``now`` (None: no such limit), a batch
        per commit so receiving is never held up for long; never one the relay
        still owes to a recipient (queued or deferred). How many were removed."""
        ...

    async def stats(self) -> StoreStats:
        """Messages, unread messages, their total size, and the store's size on disk."""
        ...

    async def due(self, now: float, limit: int = 100) -> builtins.list[str]:
        """Ids of up to ``limit`` messages with a queued or deferred recipient whose
        next attempt is at or before ``now``, the earliest next attempt first."""
        ...

    async def next_due(self) -> float | None:
        """The earliest next attempt of any queued or deferred recipient; None if
        nothing is pending."""
        ...

    async def deliveries(self, message_id: str) -> builtins.list[Delivery]:
        """The message's deliveries in envelope order; empty if it has none."""
        ...

    async def record(self, message_id: str, updates: Sequence[DeliveryUpdate]) -> None:
        """Apply ``updates`` in one commit, on disk when this returns. StoreError,
        and nothing changed, for an unknown message or recipient, or a recipient
        already delivered or failed (those are final)."""
        ...

    async def queue(
        self, limit: int = 100, offset: int = 0
    ) -> builtins.list[tuple[StoredMessage, builtins.list[Delivery]]]:
        """Messages that have deliveries, with them: those with a recipient still
        queued or deferred first, then newest first."""
        ...

    async def retry(self, message_id: str | None, now: float) -> int:
        """Make every queued or deferred recipient of ``message_id`` (of every
        message: None) due at ``now``; how many recipients that is."""
        ...

    async def close(self) -> None:
        """Finish pending writes and release the store; later calls raise StoreError."""
        ...
