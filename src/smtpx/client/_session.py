"""One client session: the engine, the options, the timeouts and the transcript.

Both drivers, blocking and asyncio, hold a ``Session``; the procedures in
``_steps`` read and change it, and tell the driver what I/O to do.
"""

from __future__ import annotations

import collections
import enum
import logging
import socket
from dataclasses import dataclass, field

from ..protocol import CLIENT, Connection, Limits, Reply

log = logging.getLogger("smtpx.client")


class TLSMode(enum.Enum):
    """How the connection is protected."""

    AUTO = "auto"  # STARTTLS when the server offers it, plain text otherwise
    STARTTLS = "starttls"  # STARTTLS or fail (RFC 3207): never mail in clear
    IMPLICIT = "implicit"  # TLS from the first byte (RFC 8314, port 465)
    NONE = "none"  # plain text, even if STARTTLS is offered


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait, per step: RFC 5321 §4.5.3.2's defaults, plus connect."""

    connect: float = 30.0
    greeting: float = 300.0  # §4.5.3.2.1
    mail: float = 300.0  # §4.5.3.2.2
    rcpt: float = 300.0  # §4.5.3.2.3
    data: float = 120.0  # §4.5.3.2.4: the 354
    data_block: float = 180.0  # §4.5.3.2.5: each write of content
    data_end: float = 600.0  # §4.5.3.2.6: the reply after the content
    command: float = 300.0  # EHLO, NOOP, RSET, VRFY, ...: not in the RFC

    @classmethod
    def all(cls, seconds: float) -> Timeouts:
        """One limit for every step, as a command line's ``--timeout`` wants."""
        return cls(*([seconds] * 8))


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    mechanism: str | None = None  # None: the strongest offered


class Transcript:
    """The dialogue as the user would read it: ``->`` sent, ``<-`` received, ``**`` notes.

    AUTH secrets are masked. What is recorded stays raw (bytes sent, replies
    received) and is turned into lines only when someone reads ``lines`` or
    DEBUG logging on ``smtpx.client`` is on, so a long bulk session pays
    little for it; only the last ``keep`` entries are kept.
    """

    __slots__ = ("_entries",)

    def __init__(self, keep: int = 10_000) -> None:
        self._entries: collections.deque[tuple[str, object]] = collections.deque(maxlen=keep)

    @property
    def lines(self) -> list[str]:
        return [line for entry in self._entries for line in _render(entry)]

    def sent(self, data: bytes, *, secret: bool = False) -> None:
        self._record("secret" if secret else "sent", data)

    def content(self, size: int) -> None:
        self._record("content", size)

    def received(self, reply: Reply) -> None:
        self._record("received", reply)

    def note(self, text: str) -> None:
        self._record("note", text)

    def _record(self, kind: str, payload: object) -> None:
        entry = (kind, payload)
        self._entries.append(entry)
        if log.isEnabledFor(logging.DEBUG):
            for line in _render(entry):
                log.debug("%s", line)


def _render(entry: tuple[str, object]) -> list[str]:
    kind, payload = entry
    if kind == "received":
        assert isinstance(payload, Reply)
        status = f"{payload.status} " if payload.status else ""
        lines = payload.lines
        last = len(lines) - 1
        return [
            f"<- {payload.code}{'-' if i < last else ' '}{status}{text}".rstrip()
            for i, text in enumerate(lines)
        ]
    if kind == "content":
        return [f"-> ({payload} octets of message content)"]
    if kind == "note":
        return [f"** {payload}"]
    assert isinstance(payload, bytes)
    sent = payload.decode("utf-8", "replace").split("\r\n")[:-1]
    return [f"-> {_masked(line) if kind == 'secret' else line}" for line in sent]


@dataclass(slots=True)
class Options:
    """Everything a client was asked to do, fixed when it is made."""

    host: str
    port: int
    tls: TLSMode = TLSMode.AUTO
    timeouts: Timeouts = field(default_factory=Timeouts)
    local_hostname: str = field(default_factory=socket.getfqdn)
    source_address: tuple[str, int] | None = None
    credentials: Credentials | None = None
    # RFC 4954 §4 leaves it to us: credentials go only inside TLS unless asked.
    allow_auth_without_tls: bool = False


@dataclass(slots=True)
class Session:
    options: Options
    connection: Connection = field(default_factory=lambda: Connection(CLIENT, Limits()))
    transcript: Transcript = field(default_factory=Transcript)
    greeting: Reply | None = None
    ehlo: Reply | None = None
    esmtp: bool = True


def _masked(line: str) -> str:
    """``AUTH PLAIN AGFsaWNl...`` -> ``AUTH PLAIN ****``; a response line -> ``****``."""
    verb, _, rest = line.partition(" ")
    if verb.upper() == "AUTH":
        mechanism, _, secret = rest.partition(" ")
        return f"AUTH {mechanism} ****" if secret else f"AUTH {mechanism}"
    return "****"
