"""The sender's procedures, written once for both drivers, without I/O.

Theory of operation (after httpcore and the sans-IO idea): each procedure is a
generator that drives the protocol engine and *yields* what it needs done -
``Write(bytes)``, ``Read(timeout)``, ``UpgradeTls()`` - and is sent back the
bytes read (``b""`` for the others). The blocking ``Client`` runs it with
sockets, the ``AsyncClient`` with asyncio; the SMTP logic - EHLO with a HELO
fallback, STARTTLS that fails closed, AUTH, pipelined transactions, BDAT - is
in one place.
"""

from __future__ import annotations

import collections
from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

from ..protocol import (
    NEED_DATA,
    Auth,
    AuthResponse,
    Bdat,
    ConnectionClosed,
    Data,
    Ehlo,
    EndOfMessage,
    Event,
    Helo,
    LocalProtocolError,
    MailFrom,
    MessageData,
    RcptTo,
    RemoteProtocolError,
    Reply,
    Rset,
    StartTls,
    State,
)
from . import _auth
from ._errors import (
    AuthFailed,
    ConnectionFailed,
    NotSupported,
    PermanentFailure,
    ProtocolFailure,
    RecipientsDeferred,
    RecipientsRefused,
    SMTPError,
    TemporaryFailure,
    TLSFailure,
    failure,
)
from ._result import SendResult
from ._session import Session, TLSMode


@dataclass(frozen=True, slots=True)
class Write:
    data: bytes


@dataclass(frozen=True, slots=True)
class Read:
    timeout: float


@dataclass(frozen=True, slots=True)
class UpgradeTls:
    """Do the TLS handshake now, on the open connection (RFC 3207 §4)."""


IO = Write | Read | UpgradeTls
T = TypeVar("T")
Step = Generator[IO, bytes, T]

# Content goes out in pieces of this size, so a large message is never
# dot-stuffed into one second copy of itself.
PIECE = 1 << 20
# RFC 5321 §4.1.4: a server that does not know EHLO says 500 or 502.
_NO_EHLO = frozenset({500, 501, 502, 504})


@dataclass(frozen=True, slots=True)
class Transaction:
    """One message to send: the envelope, the content, and the ESMTP choices."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    body: str | None = None  # None, "8BITMIME" or "BINARYMIME"
    smtputf8: bool = False
    ret: str | None = None
    envid: str | None = None
    notify: tuple[str, ...] | None = None
    # RFC 3461 §4.2 ORCPT: recipient -> the address it was originally sent to.
    orcpt: tuple[tuple[str, str], ...] = ()


def read_reply(session: Session, timeout: float) -> Step[Reply]:
    """The next reply, reading as much as it takes."""
    connection = session.connection
    while True:
        try:
            event = connection.next_event()
        except RemoteProtocolError as error:
            raise ProtocolFailure(f"the server broke the protocol: {error}") from None
        if isinstance(event, Reply):
            session.transcript.received(event)
            if event.code == 421:
                # RFC 5321 §3.8: the server is closing the channel, whatever was asked.
                raise ConnectionFailed(f"the server is closing the connection: {event}", event)
            return event
        if isinstance(event, ConnectionClosed):
            raise ConnectionFailed("the server closed the connection")
        if event is not NEED_DATA:  # pragma: no cover - the engine only pauses at STARTTLS
            raise ProtocolFailure(f"unexpected {event!r}")
        data = yield Read(timeout)
        connection.receive_data(data)


def send(session: Session, *events: Event, secret: bool = False) -> Step[None]:
    """Write ``events`` in one go (a PIPELINING group when there are several)."""
    try:
        data = b"".join([session.connection.send(event) for event in events])
    except LocalProtocolError as error:
        if len(events) > 1:
            # Part of a pipelined group is already counted as sent: the engine
            # and the server would disagree from here on, so the session ends.
            raise ProtocolFailure(f"cannot send: {error}; closing the session") from None
        raise PermanentFailure(f"cannot send: {error}") from None
    session.transcript.sent(data, secret=secret)
    yield Write(data)


def command(session: Session, event: Event, timeout: float, *, secret: bool = False) -> Step[Reply]:
    yield from send(session, event, secret=secret)
    return (yield from read_reply(session, timeout))


def open_session(session: Session) -> Step[None]:
    """Greeting, EHLO (or HELO), STARTTLS as the TLS mode says, then AUTH."""
    options = session.options
    timeouts = options.timeouts
    greeting = yield from read_reply(session, timeouts.greeting)
    session.greeting = greeting
    if greeting.code != 220:
        raise failure("the server refused the session", greeting)
    yield from hello(session)
    if options.tls in (TLSMode.STARTTLS, TLSMode.AUTO):
        yield from start_tls(session)
    if options.credentials is not None:
        yield from authenticate(session)


def hello(session: Session) -> Step[None]:
    """EHLO, falling back to HELO for a server that does not know it."""
    timeout = session.options.timeouts.command
    name = session.options.local_hostname
    reply = yield from command(session, Ehlo(name), timeout)
    session.esmtp = reply.is_positive
    if reply.code in _NO_EHLO:
        reply = yield from command(session, Helo(name), timeout)
    if not reply.is_positive:
        raise failure("the server refused our greeting", reply)
    session.ehlo = reply


def start_tls(session: Session) -> Step[None]:
    """STARTTLS when asked or offered; in STARTTLS mode, never carry on in clear."""
    required = session.options.tls is TLSMode.STARTTLS
    if not session.connection.extensions.starttls:
        if required:
            raise TLSFailure("the server does not offer STARTTLS, and TLS is required")
        return
    reply = yield from command(session, StartTls(), session.options.timeouts.command)
    if reply.code != 220:
        if required:
            raise TLSFailure(f"the server refused STARTTLS: {reply}", reply)
        session.transcript.note("STARTTLS refused; going on without TLS")
        return
    yield UpgradeTls()
    # RFC 3207 §4.2: what came after the 220 was not protected; it is dropped.
    discarded = session.connection.start_tls()
    if discarded:
        session.transcript.note(f"discarded {len(discarded)} octets sent before TLS began")
    yield from hello(session)


def authenticate(session: Session) -> Step[None]:
    """AUTH with the chosen or the strongest mechanism (RFC 4954)."""
    options = session.options
    credentials = options.credentials
    assert credentials is not None
    connection = session.connection
    if not connection.tls and not options.allow_auth_without_tls:
        raise AuthFailed(
            "refusing to send credentials without TLS: use TLS, or allow it "
            "(allow_auth_without_tls=True; --auth-without-tls on the command line)"
        )
    offered = connection.extensions.auth
    if offered is None:
        raise AuthFailed("the server does not offer AUTH")
    wanted = credentials.mechanism.upper() if credentials.mechanism else None
    if wanted is not None and wanted not in _auth.MECHANISMS:
        known = ", ".join(_auth.MECHANISMS)
        raise AuthFailed(f"smtpx does not implement AUTH {wanted}; it knows {known}")
    name = _auth.choose(offered, wanted)
    if name is None:
        asked = wanted or " or ".join(_auth.PREFERENCE)
        raise AuthFailed(f"the server offers AUTH {' '.join(offered)}, not {asked}")
    exchange = _auth.MECHANISMS[name](credentials.username, credentials.password)
    timeout = options.timeouts.command
    reply = yield from command(session, Auth(name, next(exchange)), timeout, secret=True)
    while reply.code == 334:
        try:
            response = exchange.send(reply.text) or ""
        except StopIteration:
            response = "*"  # RFC 4954 §4: the client cancels the exchange
        yield from send(session, AuthResponse(response), secret=True)
        reply = yield from read_reply(session, timeout)
    if reply.is_transient:
        raise TemporaryFailure(f"authentication failed for now: {reply}", reply)
    if not reply.is_positive:
        raise AuthFailed(f"authentication failed: {reply}", reply)
    session.transcript.note(f"authenticated as {credentials.username} with {name}")


def simple(session: Session, event: Event) -> Step[Reply]:
    """NOOP, RSET, VRFY, EXPN, HELP, QUIT: one command, one reply."""
    return (yield from command(session, event, session.options.timeouts.command))


def transaction(session: Session, message: Transaction) -> Step[SendResult]:
    """MAIL, RCPT for each recipient, then DATA or BDAT; pipelined when offered.

    Recipients refused do not stop the message going to the others; the result
    says who got it. A transaction left open by an earlier failure is reset first.
    """
    connection = session.connection
    if connection.state is not State.READY:
        reply = yield from command(session, Rset(), session.options.timeouts.command)
        if not reply.is_positive:
            raise failure("the server refused RSET", reply)
    extensions = connection.extensions
    mail = _mail_from(session, message)
    rcpts = _rcpts(session, message)
    if extensions.pipelining:
        return (yield from _pipelined(session, message, mail, rcpts))
    return (yield from _one_by_one(session, message, mail, rcpts))


def _pipelined(
    session: Session, message: Transaction, mail: MailFrom, rcpts: list[RcptTo]
) -> Step[SendResult]:
    """RFC 2920: MAIL, every RCPT and DATA in one write, the replies read in order.

    With CHUNKING the content goes in the same write as one BDAT LAST (RFC 3030
    §4), so a whole message costs one round trip.
    """
    timeouts = session.options.timeouts
    chunking = session.connection.extensions.chunking
    last: Event = Bdat(len(message.data), last=True) if chunking else Data()
    yield from send(session, mail, *rcpts, last)
    if chunking:
        yield from _content(session, message.data)
    mail_reply = yield from read_reply(session, timeouts.mail)
    result = SendResult(message.sender)
    for rcpt in rcpts:
        reply = yield from read_reply(session, timeouts.rcpt)
        (result.accepted if reply.is_positive else result.refused)[rcpt.forward_path] = reply
    if chunking:
        final = yield from read_reply(session, timeouts.data_end)
        return _finish(result, mail_reply, final)
    go_ahead = yield from read_reply(session, timeouts.data)
    return (yield from _after_go_ahead(session, message, result, mail_reply, go_ahead))


def _one_by_one(
    session: Session, message: Transaction, mail: MailFrom, rcpts: list[RcptTo]
) -> Step[SendResult]:
    """Each command waits for its reply (RFC 5321 §3.3)."""
    timeouts = session.options.timeouts
    result = SendResult(message.sender)
    mail_reply = yield from command(session, mail, timeouts.mail)
    if not mail_reply.is_positive:
        return _finish(result, mail_reply, None)
    for rcpt in rcpts:
        reply = yield from command(session, rcpt, timeouts.rcpt)
        (result.accepted if reply.is_positive else result.refused)[rcpt.forward_path] = reply
    if not result.accepted:
        return _finish(result, mail_reply, None)
    if session.connection.extensions.chunking:
        yield from send(session, Bdat(len(message.data), last=True))
        yield from _content(session, message.data)
        final = yield from read_reply(session, timeouts.data_end)
        return _finish(result, mail_reply, final)
    go_ahead = yield from command(session, Data(), timeouts.data)
    return (yield from _after_go_ahead(session, message, result, mail_reply, go_ahead))


def _after_go_ahead(
    session: Session, message: Transaction, result: SendResult, mail: Reply, go_ahead: Reply
) -> Step[SendResult]:
    """After the reply to DATA: the content if it was 354, and the final reply."""
    if go_ahead.code != 354:
        return _finish(result, mail, go_ahead)
    # RFC 2920 §3.1: with nobody to deliver to, the content is left empty.
    yield from _content(session, message.data if result.accepted else b"", end=True)
    final = yield from read_reply(session, session.options.timeouts.data_end)
    return _finish(result, mail, final if result.accepted else None)


def batch(session: Session, messages: list[Transaction]) -> Step[list[SendResult | SMTPError]]:
    """Several messages, each one's outcome in order: a result, or the error.

    With PIPELINING the next message's MAIL, RCPT and DATA travel in the same
    write as this one's content and end of data (RFC 2920 §3.1 lets content
    open a group), so each message costs one round trip, not two. Refusals
    are outcomes; an error that ends the session is raised, carrying in
    ``outcomes`` what became of each message until then (None: not known).
    """
    outcomes: list[SendResult | SMTPError | None] = [None] * len(messages)
    try:
        yield from _batch(session, messages, outcomes)
    except SMTPError as error:
        error.outcomes = list(outcomes)
        raise
    return [outcome for outcome in outcomes if outcome is not None]


def _batch(
    session: Session, messages: list[Transaction], outcomes: list[SendResult | SMTPError | None]
) -> Step[None]:
    extensions = session.connection.extensions
    if not extensions.pipelining or extensions.chunking:
        # Without PIPELINING nothing can be saved; with CHUNKING a message is
        # already a single write.
        for index, message in enumerate(messages):
            outcomes[index] = yield from _outcome(transaction(session, message))
        return
    if session.connection.state is not State.READY:
        reply = yield from command(session, Rset(), session.options.timeouts.command)
        if not reply.is_positive:
            raise failure("the server refused RSET", reply)
    queue = collections.deque(enumerate(messages))
    timeouts = session.options.timeouts
    envelope = yield from _next_envelope(session, queue, outcomes, b"")
    while envelope is not None:
        index, message, rset, rcpts = envelope
        if rset:
            reply = yield from read_reply(session, timeouts.command)
            if not reply.is_positive:
                raise failure("the server refused RSET", reply)
        mail_reply = yield from read_reply(session, timeouts.mail)
        result = SendResult(message.sender)
        for rcpt in rcpts:
            reply = yield from read_reply(session, timeouts.rcpt)
            (result.accepted if reply.is_positive else result.refused)[rcpt.forward_path] = reply
        final: Reply | None = yield from read_reply(session, timeouts.data)
        if final is not None and final.code == 354:
            # RFC 2920 §3.1: with nobody to deliver to, the content is left empty.
            last = yield from _pieces(session, message.data if result.accepted else b"")
            last += session.connection.send(EndOfMessage())
            envelope = yield from _next_envelope(session, queue, outcomes, last)
            final = yield from read_reply(session, timeouts.data_end)
            final = final if result.accepted else None
        else:
            envelope = yield from _next_envelope(session, queue, outcomes, b"")
        try:
            outcomes[index] = _finish(result, mail_reply, final)
        except SMTPError as error:
            outcomes[index] = error


def _outcome(step: Step[SendResult]) -> Step[SendResult | SMTPError]:
    """The step's result, or the refusal it raised; errors that break the session pass."""
    try:
        return (yield from step)
    except (ConnectionFailed, ProtocolFailure):
        raise
    except SMTPError as error:
        return error


Envelope = tuple[int, Transaction, bool, list[RcptTo]]


def _next_envelope(
    session: Session,
    queue: collections.deque[tuple[int, Transaction]],
    outcomes: list[SendResult | SMTPError | None],
    head: bytes,
) -> Step[Envelope | None]:
    """Write ``head`` with the next sendable message's MAIL, RCPTs and DATA.

    A message the server cannot take (NotSupported) gets its error in
    ``outcomes`` and is passed over. An RSET goes first when a refused DATA
    left the previous transaction open.
    """
    connection = session.connection
    while queue:
        index, message = queue.popleft()
        try:
            mail = _mail_from(session, message)
        except NotSupported as error:
            outcomes[index] = error
            continue
        rset = not head and connection.state is not State.READY
        rcpts = _rcpts(session, message)
        events: list[Event] = [Rset()] if rset else []
        events += [mail, *rcpts, Data()]
        try:
            commands = b"".join([connection.send(event) for event in events])
        except LocalProtocolError as error:
            raise ProtocolFailure(f"cannot send: {error}; closing the session") from None
        if head:
            session.transcript.sent(b".\r\n")
        session.transcript.sent(commands)
        yield Write(head + commands)
        return index, message, rset, rcpts
    if head:
        session.transcript.sent(b".\r\n")
        yield Write(head)
    return None


def _rcpts(session: Session, message: Transaction) -> list[RcptTo]:
    """RCPT for each recipient, with the DSN parameters when the server offers DSN."""
    if not session.connection.extensions.dsn:
        return [RcptTo(recipient) for recipient in message.recipients]
    original = dict(message.orcpt)
    return [
        RcptTo(
            recipient,
            notify=message.notify,
            orcpt=f"rfc822;{original[recipient]}" if recipient in original else None,
        )
        for recipient in message.recipients
    ]


def _mail_from(session: Session, message: Transaction) -> MailFrom:
    """MAIL FROM with the parameters this message needs and this server takes."""
    extensions = session.connection.extensions
    size = len(message.data)
    if extensions.size and size > extensions.size:
        raise NotSupported(
            f"the message is {size} octets and the server takes at most {extensions.size}"
        )
    if message.smtputf8 and not extensions.smtputf8:
        raise NotSupported("the message needs SMTPUTF8 (UTF-8 addresses); the server lacks it")
    body = message.body
    if body == "8BITMIME" and not extensions.eightbitmime:
        raise NotSupported("the message has 8-bit content; the server does not offer 8BITMIME")
    if body == "BINARYMIME" and not (extensions.binarymime and extensions.chunking):
        raise NotSupported(
            "the message is binary (NUL, bare CR/LF or long lines); "
            "the server does not offer BINARYMIME with CHUNKING"
        )
    dsn = extensions.dsn
    if not dsn and (message.ret or message.envid or message.notify or message.orcpt):
        session.transcript.note("the server does not offer DSN; sending without DSN requests")
    return MailFrom(
        message.sender,
        size=size if extensions.size is not None else None,
        body=body,
        smtputf8=message.smtputf8,
        ret=message.ret if dsn else None,
        envid=message.envid if dsn else None,
    )


def _content(session: Session, data: bytes, *, end: bool = False) -> Step[None]:
    """The message, a piece at a time (dot-stuffed by the engine after DATA).

    With ``end`` the end of data goes in the last piece's write: one write for
    a small message, not two that Nagle's algorithm would hold apart.
    """
    connection = session.connection
    if data:
        session.transcript.content(len(data))
    starts = range(0, len(data), PIECE)
    for start in starts:
        try:
            piece = connection.send(MessageData(data[start : start + PIECE]))
            if end and start == starts[-1]:
                piece += connection.send(EndOfMessage())
                session.transcript.sent(b".\r\n")
        except LocalProtocolError as error:  # pragma: no cover - sizes are ours
            raise PermanentFailure(f"cannot send: {error}") from None
        yield Write(piece)
    if end and not data:
        yield from send(session, EndOfMessage())


def _pieces(session: Session, data: bytes) -> Step[bytes]:
    """Write all but the last piece of ``data``; return the last, dot-stuffed."""
    connection = session.connection
    if data:
        session.transcript.content(len(data))
    starts = range(0, len(data), PIECE)
    last = b""
    for start in starts:
        piece = connection.send(MessageData(data[start : start + PIECE]))
        if start == starts[-1]:
            last = piece
        else:
            yield Write(piece)
    return last


def _finish(result: SendResult, mail: Reply, final: Reply | None) -> SendResult:
    """The result, or the exception that says why the message did not go."""
    if not mail.is_positive:
        raise failure("the server refused the sender", mail)
    done = SendResult(result.sender, result.accepted, result.refused, final)
    if not result.accepted:
        refusals = list(result.refused.values())
        if all(reply.is_permanent for reply in refusals):
            raise RecipientsRefused("every recipient was refused", done)
        raise RecipientsDeferred("no recipient was accepted", done)
    if final is None:  # pragma: no cover - a final reply follows an accepted recipient
        raise ProtocolFailure("the transaction ended without a reply")
    if not final.is_positive:
        raise failure("the server refused the message", final)
    return done
