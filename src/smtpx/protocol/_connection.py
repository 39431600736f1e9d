"""``Connection``: one SMTP session, in either role, with no I/O.

Theory of operation (after h11): feed the bytes you read to
``receive_data()`` (``b""`` at end of file), take events from ``next_event()``
until it says NEED_DATA or PAUSED, and write whatever ``send()`` returns.
A server gets commands and message content and sends Replies; a client sends
commands and content and gets Replies. Sync points pause the engine: the
server owes one reply at a time; STARTTLS waits for ``start_tls()``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from ._client import ClientEngine
from ._data import BareLineEndings
from ._events import Event, Sentinel
from ._extensions import Extensions
from ._limits import Limits
from ._server import ServerEngine
from ._state import State


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


CLIENT = Role.CLIENT
SERVER = Role.SERVER


class Connection:
    """An SMTP session as a state machine.

    >>> server = Connection(SERVER)
    >>> server.send(Reply(220, None, "mx.example ESMTP"))
    b'220 mx.example ESMTP\\r\\n'
    >>> server.receive_data(b"EHLO client.example\\r\\n")
    >>> server.next_event()
    Ehlo(domain='client.example')
    """

    __slots__ = ("_engine", "next_event", "receive_data", "role", "send", "start_tls")

    # The engine's own bound methods, so that each call costs one frame, not two.
    receive_data: Callable[[bytes], None]
    """Bytes read from the peer; ``b""`` when the peer closed its side."""
    next_event: Callable[[], Event | Sentinel]
    """The next event, or NEED_DATA (feed more bytes) or PAUSED (send first)."""
    send: Callable[[Event], bytes]
    """The bytes to write for ``event``; LocalProtocolError if it is not allowed now."""
    start_tls: Callable[[], bytes]
    """Call after the TLS handshake that followed a 220 to STARTTLS.

    The session starts over (EHLO again, extensions forgotten, RFC 3207 §4.2).
    Returns the plain-text bytes that arrived after the STARTTLS command
    (server) or its 220 reply (client): they were discarded, never read.
    """

    def __init__(
        self,
        role: Role,
        limits: Limits | None = None,
        *,
        bare_line_endings: BareLineEndings = BareLineEndings.REJECT,
    ) -> None:
        self.role = role
        limits = limits or Limits()
        engine: ClientEngine | ServerEngine
        if role is Role.SERVER:
            engine = ServerEngine(limits, bare_line_endings)
        else:
            engine = ClientEngine(limits)
        self._engine = engine
        self.receive_data = engine.receive_data
        self.next_event = engine.next_event
        self.send = engine.send
        self.start_tls = engine.start_tls

    @property
    def state(self) -> State:
        return self._engine.state

    @property
    def extensions(self) -> Extensions:
        """What the server advertised in its reply to EHLO (nothing after HELO)."""
        return self._engine.extensions

    @property
    def tls(self) -> bool:
        """True once start_tls() was called."""
        return self._engine.tls

    @property
    def authenticated(self) -> bool:
        """True once AUTH succeeded (235)."""
        return self._engine.authenticated

    @property
    def limits(self) -> Limits:
        return self._engine.limits
