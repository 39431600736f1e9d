"""What the application decides: the hooks a server calls, and the two built in.

Theory of operation: the protocol engine decides what is *in sequence*; a
handler decides what is *wanted*. Each hook returns the Reply to send, or
None for the default. ``on_message`` gets the message's content as a store
``Incoming`` (written as it arrived) and must not return a 2yz reply before the
message is safe: ``StoringHandler`` awaits the store's fsync'd commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..protocol import Reply
from ..store import Envelope, Incoming, Origin, Recipient, Store


class Content(Protocol):
    """Where a message's bytes go as they arrive (a store's ``Incoming``)."""

    def write(self, chunk: bytes) -> None: ...

    def discard(self) -> None: ...

    @property
    def size(self) -> int: ...


ACCEPTED = Reply(250, "2.0.0", "OK")


@dataclass(slots=True)
class SessionInfo:
    """What the server knows about one client connection."""

    client_address: str
    client_port: int
    helo: str = ""
    esmtp: bool = False
    tls: str | None = None
    auth_user: str | None = None
    # The transaction in progress.
    sender: str | None = None
    sender_params: tuple[tuple[str, str], ...] = ()
    recipients: list[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=list)

    def origin(self) -> Origin:
        return Origin(self.client_address, self.client_port, self.helo, self.tls, self.auth_user)

    def envelope(self) -> Envelope:
        return Envelope(
            self.sender or "",
            tuple(Recipient(address, params) for address, params in self.recipients),
            self.sender_params,
        )


class Handler(Protocol):
    """Hooks a server calls; each returns the reply to send, None for the default.

    The synchronous hooks run inside the server's read callback, so they must
    be quick (a lookup, not I/O); ``on_message`` is awaited.
    """

    def on_connect(self, session: SessionInfo) -> Reply | None: ...

    def on_mail(self, session: SessionInfo, sender: str) -> Reply | None: ...

    def on_rcpt(self, session: SessionInfo, recipient: str) -> Reply | None: ...

    def incoming(self) -> Content: ...

    async def on_message(self, session: SessionInfo, content: Content) -> Reply: ...


class BaseHandler:
    """A handler that takes whatever is in sequence; subclasses override what they need."""

    def on_connect(self, session: SessionInfo) -> Reply | None:
        return None

    def on_mail(self, session: SessionInfo, sender: str) -> Reply | None:
        return None

    def on_rcpt(self, session: SessionInfo, recipient: str) -> Reply | None:
        return None

    def incoming(self) -> Content:
        return Discarded()

    async def on_message(self, session: SessionInfo, content: Content) -> Reply:
        return ACCEPTED


class StoringHandler(BaseHandler):
    """Keeps every message in a store; the 250 comes only after the commit.

    ``stored`` is told each new message's id once it is committed (the inbox's
    live view listens there).
    """

    def __init__(
        self,
        store: Store,
        stored: Callable[[str], None] | None = None,
        inbox: Callable[[SessionInfo], str] = lambda session: "",
    ) -> None:
        self.store = store
        self.stored = stored
        self.inbox = inbox  # the inbox a message is tagged with (the web inbox filters)

    def incoming(self) -> Content:
        return self.store.incoming()

    async def on_message(self, session: SessionInfo, content: Content) -> Reply:
        assert isinstance(content, Incoming)
        message_id = await self.store.add(
            content, session.envelope(), session.origin(), inbox=self.inbox(session)
        )
        if self.stored is not None:
            self.stored(message_id)
        return Reply(250, "2.0.0", f"OK: queued as {message_id}")


class Discarded:
    """Content that goes nowhere."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)

    def discard(self) -> None:
        pass


class SinkHandler(BaseHandler):
    """Accepts and discards every message: for load tests (``smtpx serve --sink``)."""
