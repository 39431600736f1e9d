"""One SMTP connection: an ``asyncio.Protocol`` driving the engine.

Theory of operation: ``data_received`` feeds the engine and answers every
event it can at once, collecting the replies and writing them in one batch
(PIPELINING costs one write, not one per command). No task is made per
command: the handler's quick hooks are called in place. Two things wait: the
handler's ``on_message`` (the store's fsync'd commit, so a 250 is never sent
for mail that is not safe), and the STARTTLS handshake; meanwhile the engine
holds whatever else arrived, and processing resumes when they finish.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from ..protocol import (
    NEED_DATA,
    PAUSED,
    SERVER,
    Auth,
    AuthResponse,
    Bdat,
    Connection,
    ConnectionClosed,
    Data,
    Ehlo,
    EndOfChunk,
    EndOfMessage,
    Event,
    Expn,
    Helo,
    Help,
    MailFrom,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Rejected,
    RemoteProtocolError,
    Reply,
    Rset,
    StartTls,
    State,
    Vrfy,
    format_reply,
)
from . import _auth
from ._faults import Fault
from ._handler import Content, SessionInfo
from ._trace import received

if TYPE_CHECKING:
    from ._server import Server

log = logging.getLogger("smtpx.server")

SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
GO_AHEAD = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
CHUNK_OK = Reply(250, "2.0.0", "Chunk OK")
RESET = Reply(250, "2.0.0", "Reset")
NOOP = Reply(250, "2.0.0", "OK")
BYE = Reply(221, "2.0.0", "Bye")
# RFC 5321 §3.5.3: VRFY may answer 252 without checking anything.
CANNOT_VRFY = Reply(252, "2.0.0", "Cannot VRFY user, but will accept message")
NO_EXPN = Reply(502, "5.5.1", "EXPN not available")
READY_FOR_TLS = Reply(220, "2.0.0", "Ready to start TLS")
HELP = Reply(
    214,
    "2.0.0",
    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN HELP STARTTLS AUTH\n"
    "End of HELP",
)
NO_MAILBOX = Reply(550, "5.1.1", "No such mailbox")  # RFC 3463 §3.2
# RFC 4954 §6.
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_TOO_WEAK = Reply(534, "5.7.9", "Authentication mechanism is too weak for this user")
AUTH_NEEDS_TLS = Reply(538, "5.7.11", "Encryption required for requested authentication mechanism")
AUTH_UNKNOWN = Reply(504, "5.5.4", "Unrecognized authentication type")
AUTH_MALFORMED = Reply(501, "5.5.2", "Cannot decode the response")
AUTH_TOO_MANY = Reply(421, "4.7.0", "Too many authentication failures, closing connection")
_VERDICTS = {
    _auth.Verdict.ACCEPTED: AUTH_OK,
    _auth.Verdict.REFUSED: AUTH_FAILED,
    _auth.Verdict.TOO_WEAK: AUTH_TOO_WEAK,
}
RELAY_DENIED = Reply(550, "5.7.1", "Relaying denied")
LOCAL_ERROR = Reply(451, "4.3.0", "Local error: message not kept, try again later")
TIMEOUT = Reply(421, "4.4.2", "Timeout, closing connection")
BUSY = Reply(421, "4.7.0", "Too many connections, try again later")
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down")
# States in which the client sends message content rather than commands.
_CONTENT = frozenset({State.DATA, State.CHUNKING})
# Replies written at once at most; beyond it the batch is flushed.
_BATCH = 65536


def _mail_params(event: MailFrom) -> tuple[tuple[str, str], ...]:
    params = [
        ("SIZE", str(event.size) if event.size is not None else None),
        ("BODY", event.body),
        ("SMTPUTF8", "" if event.smtputf8 else None),
        ("RET", event.ret),
        ("ENVID", event.envid),
        ("AUTH", event.auth),
    ]
    return tuple((key, value) for key, value in params if value is not None)


def _rcpt_params(event: RcptTo) -> tuple[tuple[str, str], ...]:
    params = [("NOTIFY", ",".join(event.notify) if event.notify else None), ("ORCPT", event.orcpt)]
    return tuple((key, value) for key, value in params if value is not None)


class SMTPProtocol(asyncio.Protocol):
    """The server side of one connection."""

    def __init__(self, server: Server) -> None:
        self.server = server
        config = server.config
        self.connection = Connection(SERVER, config.limits)
        self.transport: asyncio.Transport | None = None
        self.session = SessionInfo("", 0)
        self.content: Content | None = None
        self.busy = False  # waiting for on_message or a TLS handshake
        self.closing = False
        self.lost = False
        self.last_activity = time.monotonic()
        # When the last reply went out: the next command is due within the command timeout.
        self.waiting_since = self.last_activity
        self.idle_timer: asyncio.TimerHandle | None = None
        # What to do once the batch of replies is written (close, or start TLS).
        self.then: Callable[[], None] | None = None
        # During the TLS handshake: what arrived through TLS before it was noted.
        self.handshaking: bytearray | None = None
        # The client is not reading our replies: stop reading its commands too.
        self.write_paused = False
        # AUTH in progress (RFC 4954), and the failed attempts so far.
        self.sasl: _auth.Exchange | None = None
        self.auth_failures = 0

    # --- connection events ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they are ones.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        self.session = SessionInfo(str(peer[0]), int(peer[1]))
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # an implicit-TLS listener: TLS before the greeting
            self.session.tls = _tls_description(ssl_object)
        stats = self.server.stats
        if not self.server.admit(self):
            stats.refused_connections += 1
            transport.write(format_reply(BUSY))
            transport.close()
            return
        stats.connections += 1
        greeting = self.server.handler.on_connect(self.session) or Reply(
            220, None, f"{self.server.config.hostname} ESMTP smtpx"
        )
        transport.write(self.connection.send(greeting))
        log.info("connect from %s port %d", self.session.client_address, self.session.client_port)
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost:
            return
        self.lost = True
        self.closing = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.content is not None and not self.busy:
            self.content.discard()
            self.content = None
        self.server.forget(self)
        log.info("disconnect from %s", self.session.client_address)

    def pause_writing(self) -> None:
        """Our replies pile up unread: read no more commands until they drain."""
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()
            if not self.busy:
                self._process()

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if self.handshaking is not None:
            # Decrypted bytes that beat our handshake coroutine to it: kept
            # for the engine, which is not yet told that TLS is up.
            self.handshaking += data
            return
        self.connection.receive_data(data)
        if not self.busy:
            self._process()

    def eof_received(self) -> bool | None:
        self.connection.receive_data(b"")
        if not self.busy:
            self._process()
        return None

    # --- the engine's events -----------------------------------------------------------

    def _process(self) -> None:
        """Answer every event the engine has; write the replies in one batch."""
        out: list[bytes] = []
        size = 0
        connection = self.connection
        try:
            while not self.closing and not self.write_paused:
                if size > _BATCH and self.transport is not None:
                    # A long pipeline: write what is ready, so that a client
                    # that does not read is noticed (pause_writing) early.
                    self.transport.write(b"".join(out))
                    out, size = [], 0
                    continue
                event = connection.next_event()
                if event is NEED_DATA or event is PAUSED:
                    break
                assert isinstance(event, Event)
                if isinstance(event, MessageData):
                    if self.content is not None:
                        self.content.write(event.data)
                    continue
                if isinstance(event, Bdat):
                    # RFC 3030: the chunk's data follows at once; its reply comes after.
                    if self.content is None:
                        self.content = self._new_content()
                    continue
                reply = self._answer(event)
                if reply is None:  # on_message, STARTTLS or the end: wait
                    break
                if reply.code >= 400:
                    self.server.stats.refused(reply.code, reply.status)
                data = connection.send(reply)
                out.append(data)
                size += len(data)
        except RemoteProtocolError as error:
            if error.reply is not None:
                out.append(format_reply(error.reply))
            log.info("closing %s: %s", self.session.client_address, error)
            self._close(out)
            return
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
            self.waiting_since = time.monotonic()
        # After the batch, so that every earlier reply goes out first.
        if self.then is not None:
            then, self.then = self.then, None
            then()

    def _answer(self, event: Event) -> Reply | None:
        session = self.session
        config = self.server.config
        handler = self.server.handler
        if isinstance(event, RcptTo):
            return self._rcpt(event)
        if isinstance(event, MailFrom):
            fault = config.faults.check("MAIL", [event.reverse_path])
            if fault is not None:
                return self._inject(fault)
            reply = handler.on_mail(session, event.reverse_path) or SENDER_OK
            if reply.is_positive:
                self._new_transaction()
                session.sender = event.reverse_path
                session.sender_params = _mail_params(event)
            return reply
        if isinstance(event, Data):
            self.content = self._new_content()
            return GO_AHEAD
        if isinstance(event, EndOfChunk):
            return CHUNK_OK
        if isinstance(event, EndOfMessage):
            recipients = [address for address, _ in session.recipients]
            fault = config.faults.check("DATA", recipients)
            if fault is not None:
                self._end_message(Reply(554, None, "fault injected"))
                return self._inject(fault)
            self._deliver()
            return None
        if isinstance(event, Rejected):
            if event.message:
                self._end_message(event.reply)
            return event.reply
        if isinstance(event, Ehlo | Helo):
            self._new_transaction()
            session.helo = event.domain
            session.esmtp = isinstance(event, Ehlo)
            if isinstance(event, Helo):
                return Reply(250, None, f"{config.hostname} Hello {event.domain}")
            before, after = self.server.ehlo_replies
            return after if session.tls else before
        if isinstance(event, Rset):
            self._new_transaction()
            return RESET
        if isinstance(event, Noop):
            return NOOP
        if isinstance(event, Quit):
            self.then = lambda: self._close([])
            return BYE
        if isinstance(event, Vrfy):
            return self._vrfy(event.argument)
        if isinstance(event, Expn):
            return NO_EXPN
        if isinstance(event, Help):
            return HELP
        if isinstance(event, StartTls):
            self.then = self._start_tls
            return READY_FOR_TLS
        if isinstance(event, Auth):
            return self._begin_auth(event)
        if isinstance(event, AuthResponse):
            return self._auth_step(event.data)
        if isinstance(event, ConnectionClosed):
            # After QUIT's 221, or the client's EOF: close once the batch is out.
            self.then = self.then or (lambda: self._close([]))
            return None
        return Reply(502, "5.5.1", "Command not implemented")  # pragma: no cover - every event

    def _new_content(self) -> Content:
        """Where the message goes, starting with our Received header (RFC 5321 §4.4)."""
        content = self.server.handler.incoming()
        content.write(received(self.session, self.server.config.hostname))
        return content

    def _rcpt(self, event: RcptTo) -> Reply | None:
        session = self.session
        config = self.server.config
        domain = event.forward_path.rpartition("@")[2]
        local = (
            not event.forward_path or "@" not in event.forward_path or config.takes_mail_for(domain)
        )
        # RFC 5321 §3.6.1: relaying is for clients we trust, never for anyone.
        fault = config.faults.check("RCPT", [event.forward_path])
        if fault is not None:
            return self._inject(fault)
        allowed = local or session.auth_user or config.relays_for(domain)
        if not allowed and not config.trusts(session.client_address):
            return RELAY_DENIED
        # RFC 5321 §4.5.1: postmaster is always taken.
        postmaster = event.forward_path.partition("@")[0].lower() == "postmaster"
        mailbox = local and "@" in event.forward_path and not postmaster
        if mailbox and not config.has_mailbox(event.forward_path):
            return NO_MAILBOX
        reply = self.server.handler.on_rcpt(session, event.forward_path) or RECIPIENT_OK
        if reply.is_positive:
            session.recipients.append((event.forward_path, _rcpt_params(event)))
        return reply

    def _vrfy(self, argument: str) -> Reply:
        """RFC 5321 §3.5.1-3: 250 with the mailbox, 550 unknown, 553 ambiguous."""
        mailboxes = self.server.config.mailboxes
        if mailboxes is None:
            return CANNOT_VRFY
        wanted = argument.strip()
        if "<" in wanted:
            wanted = wanted[wanted.index("<") + 1 :].partition(">")[0]
        wanted = wanted.lower()
        if "@" in wanted:
            found = [wanted] if wanted in mailboxes else []
        else:
            found = sorted(box for box in mailboxes if box.partition("@")[0] == wanted)
        if not found:
            return NO_MAILBOX
        if len(found) > 1:
            return Reply(553, "5.1.4", "User ambiguous")
        return Reply(250, "2.1.5", f"<{found[0]}>")

    # --- AUTH (RFC 4954) ---------------------------------------------------------------

    def _begin_auth(self, event: Auth) -> Reply | None:
        config = self.server.config
        assert config.users is not None  # the engine refuses AUTH that was not offered
        if not self.session.tls and not config.allow_insecure_auth:
            return AUTH_NEEDS_TLS  # RFC 4954 §4, §6: PLAIN and LOGIN send the password
        mechanism = event.mechanism.upper()
        if mechanism not in config.users.mechanisms:
            return AUTH_UNKNOWN
        self.sasl = _auth.start(mechanism, event.initial_response, config.hostname)
        return self._auth_next(None)

    def _auth_step(self, response: str) -> Reply | None:
        if self.sasl is None:  # pragma: no cover - the engine owes this line to an exchange
            return AUTH_MALFORMED
        return self._auth_next(response)

    def _auth_next(self, response: str | None) -> Reply | None:
        """The next 334 challenge, or (the exchange done) check the claim off the loop."""
        assert self.sasl is not None
        try:
            challenge = next(self.sasl) if response is None else self.sasl.send(response)
        except StopIteration as done:
            self.sasl = None
            fault = self.server.config.faults.check("AUTH", [done.value.user])
            if fault is not None:
                return self._inject(fault)
            self._wait_for(self._check(done.value))
            return None
        except _auth.SaslError:
            self.sasl = None
            return AUTH_MALFORMED
        return Reply(334, None, challenge)

    async def _check(self, claim: _auth.Claim) -> Reply:
        config = self.server.config
        assert config.users is not None
        loop = asyncio.get_running_loop()
        verdict = await loop.run_in_executor(None, config.users.check, claim)
        reply = _VERDICTS[verdict]
        if verdict is _auth.Verdict.ACCEPTED:
            self.session.auth_user = claim.user
            log.info("%s authenticated as %s", self.session.client_address, claim.user)
        if verdict is not _auth.Verdict.REFUSED:
            return reply
        self.auth_failures += 1
        log.info("AUTH failed for %s from %s", claim.user, self.session.client_address)
        await asyncio.sleep(config.auth_failure_delay)
        if self.auth_failures >= config.auth_failures:
            self.then = lambda: self._close([])
            return AUTH_TOO_MANY
        return reply

    def _inject(self, fault: Fault) -> Reply | None:
        """A fault's reply now, or after its delay; or the connection dropped."""
        log.info("fault for %s: %s", self.session.client_address, fault)
        if fault.delay > 0:
            self._wait_for(self._delayed(fault))
            return None
        if fault.reply is None:
            self.then = lambda: self._close([])
        return fault.reply

    async def _delayed(self, fault: Fault) -> Reply | None:
        await asyncio.sleep(fault.delay)
        return fault.reply

    # --- waiting: the message's commit, AUTH's check, the TLS handshake --------------

    def _wait_for(self, reply: Awaitable[Reply | None]) -> None:
        """Hold the session until ``reply`` is ready, then send it and go on
        (None: close the connection without a reply)."""
        self.busy = True
        assert self.server.loop is not None  # connections come after start()
        task = self.server.loop.create_task(self._resume(reply))
        self.server.track(task)

    async def _resume(self, pending: Awaitable[Reply | None]) -> None:
        try:
            reply = await pending
        except Exception:  # a bug must not leave the session waiting forever
            log.exception("answering %s failed", self.session.client_address)
            reply = LOCAL_ERROR
        self.busy = False
        if self.closing or self.transport is None:
            return
        if reply is None:
            self._close([])
            return
        if reply.code >= 400:
            self.server.stats.refused(reply.code, reply.status)
        self.transport.write(self.connection.send(reply))
        self.waiting_since = time.monotonic()
        self._process()

    def _deliver(self) -> None:
        content, self.content = self.content, None
        assert content is not None
        self._wait_for(self._on_message(content))

    async def _on_message(self, content: Content) -> Reply:
        session = self.session
        try:
            reply = await self.server.handler.on_message(session, content)
        except Exception:
            log.exception("message from %s not kept", session.client_address)
            content.discard()
            reply = LOCAL_ERROR
        if reply.is_positive:
            self.server.stats.messages += 1
            self.server.stats.message_bytes += content.size
        recipients = ",".join(address for address, _ in session.recipients)
        log.info(
            "message from=<%s> to=%s size=%d: %s", session.sender, recipients, content.size, reply
        )
        self._new_transaction()
        return reply

    def _end_message(self, reply: Reply) -> None:
        log.info("message from=<%s> refused: %s", self.session.sender, reply)
        self._new_transaction()

    def _start_tls(self) -> None:
        transport = self.transport
        context = self.server.config.tls
        assert transport is not None
        assert context is not None  # the engine refuses STARTTLS that was not offered
        # The client's TLS hello may come at once: not a byte of it may reach
        # the engine, so reading stops here and start_tls() resumes it.
        transport.pause_reading()
        self.handshaking = bytearray()
        self.busy = True
        task = asyncio.get_running_loop().create_task(self._handshake(transport, context))
        self.server.track(task)

    async def _handshake(self, transport: asyncio.Transport, context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        try:
            tls_transport = await loop.start_tls(
                transport,
                self,
                context,
                server_side=True,
                # A client silent after STARTTLS is idle like any other.
                ssl_handshake_timeout=min(self.server.config.idle_timeout, 60.0),
            )
        except Exception as error:
            log.info("TLS with %s failed: %r", self.session.client_address, error)
            self.handshaking = None
            self.busy = False
            transport.abort()
            # asyncio may not call connection_lost for a failed handshake.
            self.connection_lost(None)
            return
        if tls_transport is None:  # pragma: no cover - the transport closed meanwhile
            return
        self.transport = tls_transport
        discarded = self.connection.start_tls()
        if discarded:
            log.info("discarded %d octets sent before TLS", len(discarded))
        early, self.handshaking = bytes(self.handshaking or b""), None
        if early:
            self.connection.receive_data(early)
        ssl_object = tls_transport.get_extra_info("ssl_object")
        self.session.tls = _tls_description(ssl_object) if ssl_object is not None else "TLS"
        self.session.helo = ""
        self.session.auth_user = None  # RFC 4954 §4: TLS starts the session over
        self.busy = False
        self.waiting_since = time.monotonic()
        self._process()

    # --- helpers ---------------------------------------------------------------------------

    def _new_transaction(self) -> None:
        if self.content is not None and not self.busy:
            self.content.discard()
        self.content = None
        self.session.sender = None
        self.session.sender_params = ()
        self.session.recipients = []

    def _close(self, out: list[bytes]) -> None:
        self.closing = True
        if self.transport is not None:
            if out:
                self.transport.write(b"".join(out))
            self.transport.close()

    def _arm_idle_timer(self) -> None:
        loop = asyncio.get_running_loop()
        config = self.server.config
        first = min(config.idle_timeout, config.command_timeout)
        self.idle_timer = loop.call_later(first, self._idle_check)

    def _idle_check(self) -> None:
        """421 4.4.2 after the idle timeout (no byte at all), or the command
        timeout (a command line not complete, however its bytes trickle in;
        message content is exempt: there, bytes flowing are progress)."""
        if self.closing:
            return
        config = self.server.config
        now = time.monotonic()
        left = config.idle_timeout - (now - self.last_activity)
        if self.connection.state not in _CONTENT:
            left = min(left, config.command_timeout - (now - self.waiting_since))
        if left <= 0 and not self.busy:
            log.info("timeout for %s", self.session.client_address)
            self._close([format_reply(TIMEOUT)])
            return
        loop = asyncio.get_running_loop()
        self.idle_timer = loop.call_later(max(left, 0.05), self._idle_check)

    def shut_down(self) -> None:
        """Graceful shutdown: answer 421 unless a message is being committed."""
        if not self.busy and not self.closing:
            self._close([format_reply(SHUTTING_DOWN)])


def _tls_description(ssl_object: ssl.SSLObject) -> str:
    cipher = ssl_object.cipher()
    return f"{ssl_object.version()} {cipher[0]}" if cipher else "TLS"
