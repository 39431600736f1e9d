"""smtpx.store: keep received messages durably, then list, search and read them.

    from smtpx.store import Envelope, Origin, Recipient, SQLiteStore

    store = await SQLiteStore.open("./smtpx-data")
    incoming = store.incoming()
    for chunk in (b"Subject: hello\\r\\n", b"\\r\\n", b"It works.\\r\\n"):
        incoming.write(chunk)  # as DATA arrives; large messages spill to disk
    envelope = Envelope("app@example.org", (Recipient("user@example.net"),))
    message_id = await store.add(incoming, envelope, Origin("192.0.2.1", 40000, "client"))
    # add() returned: the message is committed and fsynced, a 250 may follow.
    for message in await store.list(limit=10):
        print(message.id, message.summary.subject)
    await store.close()

The store knows envelopes and bytes, not SMTP: the server turns a transaction
into an :class:`Envelope` and an :class:`Origin`, and the store keeps them with
the exact bytes received and a :class:`Summary` of the headers. ``Store`` is the
interface; ``SQLiteStore`` the embedded implementation (one SQLite database in
WAL mode, group commit: concurrent messages share one fsync). Failures raise
:class:`StoreError`, with a one-line message.

It is what an inbox reads: a search language over a full-text index, seen and
unseen, inboxes, and retention::

    page = await store.search('from:alice "quarterly report" is:unread', limit=50)
    await store.mark_seen([message.id for message in page])
    newer = await store.since("to:bob@example.net", after=page[0].id)  # oldest first
    await store.prune(max_messages=5000, max_age=7 * 86400, now=time.time())

It is also the relay's durable queue: one :class:`Delivery` per recipient,
queued in the commit that keeps the message, updated as attempts are made::

    message_id = await store.add(incoming, envelope, origin, relay_to=["user@example.net"])
    for message_id in await store.due(time.time()):
        ...  # try each pending recipient, then, in one commit:
        delivered = DeliveryUpdate("user@example.net", DeliveryStatus.DELIVERED, "250 OK")
        await store.record(message_id, [delivered])
"""

from __future__ import annotations

from ._ids import is_message_id
from ._incoming import Incoming
from ._model import (
    Delivery,
    DeliveryStatus,
    DeliveryUpdate,
    Envelope,
    Origin,
    Recipient,
    StoredMessage,
    StoreError,
    StoreStats,
    Summary,
)
from ._query import Query, QueryError, parse_query
from ._sqlite import SQLiteStore
from ._store import Store
from ._summary import without_surrogates

__all__ = [
    "Delivery",
    "DeliveryStatus",
    "DeliveryUpdate",
    "Envelope",
    "Incoming",
    "Origin",
    "Query",
    "QueryError",
    "Recipient",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreStats",
    "StoredMessage",
    "Summary",
    "is_message_id",
    "parse_query",
    "without_surrogates",
]
