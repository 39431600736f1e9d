"""Events: what one role sends and the other receives.

Theory of operation: a client calls ``send(MailFrom(...))`` and gets bytes; the
server feeds those bytes in and ``next_event()`` returns an equal
``MailFrom(...)``. Replies travel the other way as :class:`Reply` values.
Events are frozen values; they carry parsed, typed arguments, never raw lines.

Two events exist only on the receiving side: :class:`Rejected`, a recoverable
SMTP outcome (bad syntax, bad sequence, unknown parameter, a refused message)
whose reply the server must send; and :class:`ConnectionClosed`, the peer's EOF.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import ClassVar

from ._errors import LocalProtocolError

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "Auth",
    "AuthResponse",
    "Bdat",
    "Command",
    "ConnectionClosed",
    "Data",
    "Ehlo",
    "EndOfChunk",
    "EndOfMessage",
    "Event",
    "Expn",
    "Helo",
    "Help",
    "MailFrom",
    "MessageData",
    "Noop",
    "Quit",
    "RcptTo",
    "Rejected",
    "Reply",
    "Rset",
    "Sentinel",
    "StartTls",
    "Vrfy",
]


class Sentinel(enum.Enum):
    """What ``next_event()`` returns when it has no event to give."""

    # Feed more bytes with receive_data().
    NEED_DATA = "NEED_DATA"
    # Nothing more can happen until our side sends something: the reply the
    # server owes, or the client's next step after 354/334, or start_tls().
    PAUSED = "PAUSED"


NEED_DATA = Sentinel.NEED_DATA
PAUSED = Sentinel.PAUSED


class Event:
    """Base class of everything ``next_event()`` returns and ``send()`` takes."""

    __slots__ = ()


# RFC 3463 §2: class "." subject "." detail, class 2, 4 or 5, each 1-3 digits.
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})\Z")


@dataclass(frozen=True, slots=True)
class Reply(Event):
    """One SMTP reply: ``Reply(250, "2.1.0", "Sender OK")``.

    ``text`` holds the lines of a multi-line reply joined by ``"\\n"``.
    ``status`` is the RFC 3463 enhanced status code, or None.
    """

    code: int
    status: str | None = None
    text: str = ""
    # The wire form, made on first use: a server sends the same few replies
    # over and over, and should not format them each time.
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise LocalProtocolError(f"reply code {self.code} is not between 200 and 599")
        if self.status is not None:
            match = _ENHANCED.match(self.status)
            if match is None or match.group(1) != str(self.code)[0]:
                raise LocalProtocolError(
                    f"enhanced status {self.status!r} does not fit reply code {self.code}"
                )
        if "\r" in self.text or "\0" in self.text:
            raise LocalProtocolError("reply text must not contain CR or NUL")
        try:
            self.text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"reply text cannot be encoded: {self.text!r}") from None

    @property
    def lines(self) -> list[str]:
        """The text, one string per reply line."""
        return self.text.split("\n")

    @property
    def is_positive(self) -> bool:
        """2yz: the command was carried out (RFC 5321 §4.2.1)."""
        return self.code < 300

    @property
    def is_intermediate(self) -> bool:
        """3yz: the command was accepted, more information is needed."""
        return 300 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        """4yz: not done, but the same command may work later."""
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        """5yz: not done, and repeating the command will not help."""
        return self.code >= 500

    def __str__(self) -> str:
        head = f"{self.code} {self.status} " if self.status else f"{self.code} "
        return (head + self.text.replace("\n", " / ")).rstrip()


class Command(Event):
    """A command from the client; ``verb`` is its name on the wire."""

    __slots__ = ()
    verb: ClassVar[str]


@dataclass(frozen=True, slots=True)
class Ehlo(Command):
    """EHLO: open an extended session (RFC 5321 §4.1.1.1)."""

    verb: ClassVar[str] = "EHLO"
    domain: str


@dataclass(frozen=True, slots=True)
class Helo(Command):
    """HELO: open a plain session, no extensions (RFC 5321 §4.1.1.1)."""

    verb: ClassVar[str] = "HELO"
    domain: str


@dataclass(frozen=True, slots=True)
class MailFrom(Command):
    """MAIL FROM: start a transaction (RFC 5321 §4.1.1.2).

    ``reverse_path`` is the address without angle brackets, ``""`` for the null
    reverse-path ``<>``. The other fields are ESMTP parameters: SIZE (RFC 1870),
    BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461),
    AUTH (RFC 4954 §5, xtext-decoded; ``"<>"`` when the submitter is unknown).
    """

    verb: ClassVar[str] = "MAIL"
    reverse_path: str
    size: int | None = None
    body: str | None = None
    smtputf8: bool = False
    ret: str | None = None
    envid: str | None = None
    auth: str | None = None


@dataclass(frozen=True, slots=True)
class RcptTo(Command):
    """RCPT TO: add a recipient (RFC 5321 §4.1.1.3).

    ``notify`` and ``orcpt`` are the DSN parameters of RFC 3461 §4.1-4.2;
    ``orcpt`` is ``"addr-type;address"`` with the address xtext-decoded.
    """

    verb: ClassVar[str] = "RCPT"
    forward_path: str
    notify: tuple[str, ...] | None = None
    orcpt: str | None = None


@dataclass(frozen=True, slots=True)
class Data(Command):
    """DATA: the message follows after 354, ended by CRLF.CRLF (RFC 5321 §4.1.1.4)."""

    verb: ClassVar[str] = "DATA"


@dataclass(frozen=True, slots=True)
class Bdat(Command):
    """BDAT: exactly ``size`` octets of message follow the command (RFC 3030 §2)."""

    verb: ClassVar[str] = "BDAT"
    size: int
    last: bool = False


@dataclass(frozen=True, slots=True)
class Rset(Command):
    """RSET: abort the transaction (RFC 5321 §4.1.1.5)."""

    verb: ClassVar[str] = "RSET"


@dataclass(frozen=True, slots=True)
class Vrfy(Command):
    """VRFY: ask whether a user or mailbox exists (RFC 5321 §4.1.1.6)."""

    verb: ClassVar[str] = "VRFY"
    argument: str


@dataclass(frozen=True, slots=True)
class Expn(Command):
    """EXPN: ask for the members of a mailing list (RFC 5321 §4.1.1.7)."""

    verb: ClassVar[str] = "EXPN"
    argument: str


@dataclass(frozen=True, slots=True)
class Help(Command):
    """HELP, with an optional topic (RFC 5321 §4.1.1.8)."""

    verb: ClassVar[str] = "HELP"
    argument: str = ""


@dataclass(frozen=True, slots=True)
class Noop(Command):
    """NOOP, with an optional ignored argument (RFC 5321 §4.1.1.9)."""

    verb: ClassVar[str] = "NOOP"
    argument: str = ""


@dataclass(frozen=True, slots=True)
class Quit(Command):
    """QUIT: the server answers 221 and closes (RFC 5321 §4.1.1.10)."""

    verb: ClassVar[str] = "QUIT"


@dataclass(frozen=True, slots=True)
class StartTls(Command):
    """STARTTLS: upgrade to TLS after a 220 (RFC 3207 §4)."""

    verb: ClassVar[str] = "STARTTLS"


@dataclass(frozen=True, slots=True)
class Auth(Command):
    """AUTH mechanism [initial-response] (RFC 4954 §4).

    ``initial_response`` is the base64 text as sent; ``"="`` stands for an
    empty response, None for no initial response.
    """

    verb: ClassVar[str] = "AUTH"
    mechanism: str
    initial_response: str | None = None


@dataclass(frozen=True, slots=True)
class AuthResponse(Event):
    """A client line answering a 334 challenge: base64 text, or ``"*"`` to cancel."""

    data: str


@dataclass(frozen=True, slots=True)
class MessageData(Event):
    """A piece of message content.

    The client sends the message as written (any line endings; the engine
    normalizes to CRLF and dot-stuffs after DATA). The server receives it
    unstuffed, in chunks as they arrive; the engine never holds a whole message.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage(Event):
    """The message is complete: CRLF.CRLF after DATA, or the BDAT LAST chunk."""


@dataclass(frozen=True, slots=True)
class EndOfChunk(Event):
    """A BDAT chunk without LAST is complete; the server owes it a reply (RFC 3030 §2)."""


@dataclass(frozen=True, slots=True)
class Rejected(Event):
    """A command or message the engine refused on its own; send ``reply``.

    Bad syntax (500/501), bad sequence (503), an unknown or unadvertised
    parameter (555), too many recipients (452), an oversized message (552), or a
    message with bare CR/LF. The state is as before the command (RFC 5321
    §4.1.4), except that a refused message ends its transaction: then
    ``message`` is true, and the content received so far is to be dropped.
    """

    reply: Reply
    message: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """The session is over: the peer closed its side, or QUIT or 421 ended it."""


# Every command, in RFC order.
COMMANDS: tuple[type[Command], ...] = (
    Ehlo,
    Helo,
    MailFrom,
    RcptTo,
    Data,
    Bdat,
    Rset,
    Vrfy,
    Expn,
    Help,
    Noop,
    Quit,
    StartTls,
    Auth,
)
