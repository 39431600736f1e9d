"""What can go wrong when sending, sorted the way a sender must act on it.

RFC 5321 §4.2.1: a 4yz reply is a transient failure (try again later), a 5yz a
permanent one (do not repeat the same request). Every exception here is one or
the other, so a caller, or the relay's queue, decides with one ``except``:
``TemporaryFailure`` -> retry later, ``PermanentFailure`` -> give up and bounce.
Timeouts, dropped connections and TLS trouble are temporary: the next attempt
may find the server in better shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..protocol import Reply
    from ._result import SendResult


class SMTPError(Exception):
    """Base of every sending error; ``reply`` is the server's answer, if there was one."""

    # From send_messages, when the session ended part way: what became of each
    # message until then, in order (None: not known, it may have been taken).
    outcomes: list[SendResult | SMTPError | None] | None = None

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class TemporaryFailure(SMTPError):
    """Try again later: a 4yz reply, a timeout, a dropped connection."""


class PermanentFailure(SMTPError):
    """Do not try again as it is: a 5yz reply, or a request the server cannot take."""


class ConnectionFailed(TemporaryFailure):
    """The connection could not be made, or broke."""


class Timeout(ConnectionFailed):
    """The server did not answer within the time allowed (RFC 5321 §4.5.3.2)."""


class TLSFailure(TemporaryFailure):
    """TLS was required and could not be had: not offered, refused, or failed."""


class ProtocolFailure(TemporaryFailure):
    """The server broke the SMTP dialogue (a reply out of order, a malformed line)."""


class AuthFailed(PermanentFailure):
    """The server refused the credentials (535) or the mechanism."""


class NotSupported(PermanentFailure):
    """The message needs something the server does not offer (SMTPUTF8, 8BITMIME, size)."""


class RecipientsRefused(PermanentFailure):
    """Every recipient was refused, at least one of them permanently."""

    def __init__(self, message: str, result: SendResult) -> None:
        super().__init__(message, result.reply)
        self.result = result


class RecipientsDeferred(TemporaryFailure):
    """No recipient was accepted, and some only for now (4yz)."""

    def __init__(self, message: str, result: SendResult) -> None:
        super().__init__(message, result.reply)
        self.result = result


def failure(message: str, reply: Reply) -> SMTPError:
    """The exception for a refusal: temporary for 4yz, permanent for 5yz."""
    cls = TemporaryFailure if reply.is_transient else PermanentFailure
    return cls(f"{message}: {reply}", reply)
