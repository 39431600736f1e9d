"""The receiving side of the relay: keep the mail, queue what goes elsewhere.

Theory of operation. :class:`RelayHandler` is the server's handler under
``smtpx serve --relay``. A message is stored as by ``StoringHandler`` — one
commit, fsynced before the 250 — and in that same commit every recipient whose
domain is not local is queued for relaying (``Store.add(relay_to=...)``). So the
250 covers the queue entries too: mail acknowledged is never lost, whether it
is kept here or sent on. The queue runner is then woken.

Loops (RFC 5321 §6.3): while the content streams in, the Received headers at
its top are counted (:class:`HopCounter`); more than ``max_received`` and the
message is refused with 554 5.4.6, as Postfix does with hopcount_limit.
"""

from __future__ import annotations

from collections.abc import Callable

from ..protocol import Reply
from ..server import BaseHandler, Content, ServerConfig, SessionInfo
from ..store import Incoming, Store

TOO_MANY_HOPS = Reply(554, "5.4.6", "Too many hops (Received headers): a mail loop")
# Only the start of a header line is looked at: its name.
_NAME = len(b"received:")


class HopCounter:
    """Content that counts the Received header fields of the header section."""

    def __init__(self, incoming: Incoming) -> None:
        self.incoming = incoming
        self.received = 0
        self._in_header = True
        self._tail = b""  # the start of a header line not yet ended

    @property
    def size(self) -> int:
        return self.incoming.size

    def write(self, chunk: bytes) -> None:
        self.incoming.write(chunk)
        if self._in_header:
            self._scan(chunk)

    def discard(self) -> None:
        self.incoming.discard()

    def _scan(self, chunk: bytes) -> None:
        data = self._tail + chunk
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            line = data[start:end]
            if line in (b"", b"\r"):  # RFC 5322 §2.1: the header section ends
                self._in_header = False
                return
            if line[:_NAME].lower() == b"received:":
                self.received += 1
            start = end + 1
        # A long line's name is all that matters: keep its first octets only.
        self._tail = data[start : start + _NAME + 1]


class RelayHandler(BaseHandler):
    """Stores every message and queues its non-local recipients for relaying."""

    def __init__(
        self,
        store: Store,
        config: ServerConfig,
        *,
        max_received: int = 50,
        queued: Callable[[], None] = lambda: None,
        stored: Callable[[str], None] | None = None,
        inbox: Callable[[SessionInfo], str] = lambda session: "",
    ) -> None:
        self.store = store
        self.inbox = inbox
        self.stored = stored  # told each new message's id (the inbox's live view)
        self.config = config
        self.max_received = max_received
        self.queued = queued  # wakes the queue runner

    def incoming(self) -> Content:
        return HopCounter(self.store.incoming())

    def relays(self, address: str) -> bool:
        """Whether mail to ``address`` is sent on rather than kept here."""
        if "@" not in address:
            return False  # "Postmaster" (RFC 5321 §4.1.1.3) is always ours
        return not self.config.takes_mail_for(address.rpartition("@")[2])

    async def on_message(self, session: SessionInfo, content: Content) -> Reply:
        assert isinstance(content, HopCounter)
        # Our own Received header is not the sender's doing: not counted.
        if content.received - 1 > self.max_received:
            content.discard()
            return TOO_MANY_HOPS
        relay_to = [address for address, _ in session.recipients if self.relays(address)]
        message_id = await self.store.add(
            content.incoming,
            session.envelope(),
            session.origin(),
            relay_to=relay_to,
            inbox=self.inbox(session),
        )
        if relay_to:
            self.queued()
        if self.stored is not None:
            self.stored(message_id)
        return Reply(250, "2.0.0", f"OK: queued as {message_id}")
