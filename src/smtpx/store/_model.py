"""The values a store keeps: envelopes, origins, summaries, stored messages, deliveries.

Theory of operation: these are plain frozen values, the vocabulary shared by the
server (which builds an :class:`Envelope` and an :class:`Origin` from a session)
and every store implementation (which persists them and hands back
:class:`StoredMessage` values). They know nothing of SMTP framing: an address is
a string, an ESMTP parameter a ``(KEYWORD, value)`` pair of strings, and the
message itself is bytes kept elsewhere (``Store.raw``/``Store.open_raw``).

A stored message may be marked *seen* (read in the inbox) and belongs to one
*inbox*, a name chosen by the receiver when it is added ("" by default).

A message accepted for relaying also has one :class:`Delivery` per recipient to
relay to: the relay's durable queue. A reply is kept as the text the remote host
sent; the store does not read it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "Delivery",
    "DeliveryStatus",
    "DeliveryUpdate",
    "Envelope",
    "Origin",
    "Recipient",
    "StoreError",
    "StoreStats",
    "StoredMessage",
    "Summary",
]

# An ESMTP parameter as the client sent it: ("NOTIFY", "SUCCESS"); a keyword with
# no value has "" (("SMTPUTF8", "")).
Params = tuple[tuple[str, str], ...]


class StoreError(Exception):
    """The store cannot do what was asked: the data directory is unusable, the disk
    is full, the store is closed. The message is one line a user can act on; a
    receiver answers a temporary failure (4yz), as nothing was kept."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """One forward-path with its RCPT parameters (DSN's NOTIFY/ORCPT...)."""

    address: str
    params: Params = ()


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a message is from and for, as the SMTP transaction said (not the headers)."""

    sender: str  # "" for the null reverse-path (bounces)
    recipients: tuple[Recipient, ...]
    params: Params = ()  # MAIL parameters: ("SIZE", "123"), ("BODY", "8BITMIME")...


@dataclass(frozen=True, slots=True)
class Origin:
    """The session a message came from."""

    client_address: str  # "192.0.2.1" or "::1"
    client_port: int
    helo: str
    tls: str | None = None  # "TLSv1.3 TLS_AES_256_GCM_SHA384"; None for plain text
    auth_user: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """Header fields for listing and search, read from the message when it was stored.

    Fields a message does not have, or has in a form that cannot be parsed, are ""
    (or empty, or None for ``date`` and ``message_id``): a malformed message is
    still stored. ``attachments`` holds the file name of each attachment, "" for an
    attachment without one.
    """

    subject: str
    from_: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: str | None
    message_id: str | None
    attachments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as a store keeps it; its bytes come from ``Store.raw(id)``."""

    id: str
    received_at: datetime  # UTC, timezone-aware
    size: int  # octets of the raw message
    envelope: Envelope
    origin: Origin
    summary: Summary
    seen: bool = False  # marked read (Store.mark_seen)
    inbox: str = ""  # the inbox it was filed in (Store.add); "" is the default one


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What a store holds, for metrics (Store.stats)."""

    messages: int
    unread: int  # messages not marked seen
    bytes: int  # the sizes of the messages, summed
    database_bytes: int  # what the store takes on disk (SQLite: the database and its WAL)


class DeliveryStatus(enum.StrEnum):
    """Where the delivery of a message to one recipient stands."""

    QUEUED = "queued"  # not tried yet
    DEFERRED = "deferred"  # tried, failed for now: tried again at next_attempt
    DELIVERED = "delivered"  # a remote host took it (final)
    FAILED = "failed"  # given up on (final)

    @property
    def pending(self) -> bool:
        """Whether the message is still to be sent to this recipient."""
        return self in (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


@dataclass(frozen=True, slots=True)
class Delivery:
    """The state of a message's delivery to one recipient, as the store keeps it."""

    message_id: str
    recipient: str
    status: DeliveryStatus
    attempts: int
    next_attempt: float | None  # epoch seconds; None once delivered or failed
    last_reply: str | None  # the last reply of a remote host, as it sent it
    remote: str | None  # the host that gave last_reply
    updated: float  # epoch seconds of the last change
    warned: bool  # a "delayed" warning was sent to the sender


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """A change to one recipient's delivery, for ``Store.record``.

    ``reply``, ``remote``, ``next_attempt`` and ``warned`` left at None keep what
    the store has, so a delay warning is ``DeliveryUpdate(r, DEFERRED,
    attempted=False, warned=True)``. A delivered or failed recipient has no next
    attempt (giving one is a ValueError); it is final, the store refuses any later
    update. ``attempted`` adds one to ``attempts``.
    """

    recipient: str
    status: DeliveryStatus
    reply: str | None = None
    remote: str | None = None
    next_attempt: float | None = None
    attempted: bool = True
    warned: bool | None = None

    def __post_init__(self) -> None:
        if self.next_attempt is not None and not self.status.pending:
            raise ValueError(f"a {self.status.value} recipient has no next attempt")
