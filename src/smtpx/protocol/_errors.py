"""The engine's exceptions: one for our own mistakes, one for the peer's.

Recoverable SMTP outcomes (a 501 for bad syntax, a 503 for bad sequence) are
*not* exceptions: they come out of ``next_event()`` as :class:`~smtpx.protocol.Rejected`
events carrying the reply to send, and the state does not change (RFC 5321 §4.1.4).
Exceptions are for the two cases where the dialogue itself is broken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._events import Reply


class ProtocolError(Exception):
    """Base class of every error the protocol engine raises."""


class LocalProtocolError(ProtocolError):
    """Our side asked the engine to do something SMTP does not allow.

    Raised by ``send()`` (or by an event's constructor) before a single byte is
    produced: an argument with CR, LF or NUL in it, a command out of sequence, a
    parameter the server did not advertise. The connection state is unchanged.
    """


class RemoteProtocolError(ProtocolError):
    """The peer broke the framing of the dialogue; the connection is unusable.

    ``reply`` is what a server should say before it closes (for example
    ``500 5.5.2`` for a command line flood, ``421 4.7.0`` for too many errors).
    After this error the connection is in the ERROR state.
    """

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class Refused(Exception):
    """Internal: a recoverable refusal; the server answers ``reply`` and carries on.

    Readers raise it; the server engine turns it into a Rejected event and the
    client engine into a LocalProtocolError. It never leaves the package.
    """

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply
