"""The server role: bytes from the client in, command events out, replies in.

Theory of operation: the server owes exactly one reply at a time. After each
command, ``next_event()`` answers PAUSED until the application has sent the
reply; the reply moves the state (``_state.TRANSITIONS``). Commands that arrive
early (PIPELINING, RFC 2920) simply wait in the receive buffer, so the server
reads ahead and still answers in order. Recoverable mistakes come out as
``Rejected`` events; broken framing raises RemoteProtocolError.

Three readers take turns on the same buffer: command lines, DATA content up to
CRLF.CRLF (``_data.DotReader``), and BDAT chunks of a known size.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import _ascii
from ._commands import READERS, UNRECOGNIZED, Context, is_base64
from ._data import TOO_BIG, BareLineEndings, DotReader
from ._errors import LocalProtocolError, Refused, RemoteProtocolError
from ._events import (
    NEED_DATA,
    PAUSED,
    AuthResponse,
    Bdat,
    ConnectionClosed,
    EndOfChunk,
    EndOfMessage,
    Event,
    MailFrom,
    MessageData,
    Rejected,
    Reply,
    Sentinel,
)
from ._extensions import Extensions
from ._limits import Limits
from ._receivebuffer import ReceiveBuffer
from ._replies import format_reply
from ._state import ALLOWED, TRANSITIONS, State

BAD_SEQUENCE = Reply(503, "5.5.1", "Bad sequence of commands")
NO_SERVICE = Reply(503, "5.5.1", "No SMTP service here")
NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "No valid recipients")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long")
BAD_CHARACTERS = Reply(500, "5.5.2", "Bare CR, LF or NUL in command line")
NOT_UTF8 = Reply(500, "5.5.2", "Command line is not UTF-8")
TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors, closing connection")
# RFC 5321 §3.8: a server that closes on its own says 421 first. These end the
# session because the framing is lost: where the next command starts is unknown.
LINE_FLOOD = Reply(421, "4.5.2", "Line too long, closing connection")
BDAT_MALFORMED = Reply(421, "4.5.4", "Syntax: BDAT size [LAST]; closing connection")
AUTH_CANCELLED = Reply(501, "5.7.0", "Authentication cancelled")  # RFC 4954 §4
AUTH_NOT_BASE64 = Reply(501, "5.5.2", "Cannot decode response")  # RFC 4954 §4
BINARYMIME_NEEDS_BDAT = Reply(503, "5.5.1", "BODY=BINARYMIME requires BDAT")  # RFC 3030 §3
NOT_OFFERED = Reply(502, "5.5.1", "Command not implemented")
ALREADY_TLS = Reply(503, "5.5.1", "TLS already active")
ALREADY_AUTHENTICATED = Reply(503, "5.5.1", "Already authenticated")  # RFC 4954 §4

# Which replies fit which step; anything else is our application's mistake.
_FITTING: dict[str, frozenset[int]] = {
    "GREETING": frozenset({2, 5}),  # RFC 5321 §3.1: 220 or 554, checked in send
    "DATA": frozenset({3, 4, 5}),
    "AUTH": frozenset({2, 3, 4, 5}),
    "AUTH RESPONSE": frozenset({2, 3, 4, 5}),
    "REJECTED": frozenset({4, 5}),
}
_FINAL = frozenset({2, 4, 5})
# Commands that are in sequence but may still be refused: see _not_possible.
_CONDITIONAL = frozenset({"BDAT", "STARTTLS", "AUTH"})
_AUTH, _CLOSED, _ERROR, _STARTTLS = State.AUTH, State.CLOSED, State.ERROR, State.STARTTLS
_READY = State.READY
_STOPPED = frozenset({_ERROR, _CLOSED, _STARTTLS})
_NOTHING: frozenset[str] = frozenset()
_CONTROL = re.compile(rb"[\r\n\0]")
_END_OF_MESSAGE = EndOfMessage()
_END_OF_CHUNK = EndOfChunk()
_UNCONDITIONAL = {state: verbs - _CONDITIONAL for state, verbs in ALLOWED.items()}


class ServerEngine:
    """One SMTP session seen from the receiver's side."""

    def __init__(self, limits: Limits, bare_line_endings: BareLineEndings) -> None:
        self.state = State.CONNECTED
        # The commands that need no further check in this state.
        self._allowed_now = _NOTHING
        self._command_line = limits.command_line
        self.limits = limits
        self.policy = bare_line_endings
        self.tls = False
        self.authenticated = False
        self.discarded = b""
        self._ctx = Context(limits)
        self._buffer = ReceiveBuffer()
        self._eof = False
        self._owed: str | None = "GREETING"
        self._command: Event | None = None
        self._errors = 0
        self._skipped: int | None = None
        self._dot: DotReader | None = None
        self._ending: Event | None = None
        # BDAT: octets still to come, LAST, the refusal for a discarded chunk.
        self._chunk = 0
        self._chunk_last = False
        self._chunk_refusal: Reply | None = None
        self._chunking = False
        self._reset_transaction()
        self._effects: dict[str, Callable[[Reply], None]] = {
            "EHLO": self._after_ehlo,
            "HELO": self._after_helo,
            "MAIL": self._after_mail,
            "RCPT": self._after_rcpt,
            "DATA": self._after_data,
            "AUTH": self._after_auth,
            "AUTH RESPONSE": self._after_auth,
            "STARTTLS": self._after_starttls,
        }

    @property
    def extensions(self) -> Extensions:
        return self._ctx.extensions

    def _reset_transaction(self) -> None:
        self._accepted = 0
        self._refused = 0
        self._mail: MailFrom | None = None
        self._size = 0
        self._ctx.smtputf8 = False

    # --- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.state is State.STARTTLS:
            # RFC 3207 §4.2: nothing from before the handshake may be used.
            self.discarded += data
            return
        if not data:
            self._eof = True
        elif self._eof:
            raise LocalProtocolError("data received after end of file")
        else:
            self._buffer.feed(data)

    def next_event(self) -> Event | Sentinel:
        if self._ending is not None:
            event, self._ending = self._ending, None
            return event
        if self._owed is not None:
            return PAUSED
        state = self.state
        if state in _STOPPED:
            if state is _ERROR:
                raise LocalProtocolError("the connection is in the ERROR state")
            return ConnectionClosed() if state is _CLOSED else PAUSED
        try:
            if self._dot is not None:
                return self._read_dot(self._dot)
            if self._chunking:
                return self._read_chunk()
            return self._read_command()
        except RemoteProtocolError:
            self.state = State.ERROR
            raise

    def _reject(self, reply: Reply, step: str = "REJECTED", message: bool = False) -> Rejected:
        """A recoverable refusal; too many of them end the session (421)."""
        if reply.code >= 500:
            self._errors += 1
            if self._errors > self.limits.bad_commands:
                raise RemoteProtocolError("too many errors", TOO_MANY_ERRORS)
        self._owed = step
        return Rejected(reply, message)

    def _read_command(self) -> Event | Sentinel:
        if self._skipped is not None:
            return self._skip_long_line()
        line = self._buffer.line()
        if line is None:
            return self._no_line()
        # RFC 5321 §4.5.3.1.4: 512 octets including the CRLF.
        if len(line) + 2 > self._command_line and len(line) + 2 > self._line_limit(line):
            if len(line) > self.limits.line_hard_cap:
                raise RemoteProtocolError("line flood", LINE_FLOOD)
            return self._reject(LINE_TOO_LONG)
        if _CONTROL.search(line) is not None:
            return self._reject(BAD_CHARACTERS)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return self._reject(NOT_UTF8)
        if self.state is _AUTH:
            return self._auth_response(text)
        verb, _, argument = text.partition(" ")
        verb = _ascii.upper(verb)
        reader = READERS.get(verb)
        if reader is None:
            return self._reject(UNRECOGNIZED)
        refusal = self._out_of_sequence(verb) if verb not in self._allowed_now else None
        if refusal is not None and verb != "BDAT":
            return self._reject(refusal)
        try:
            event = reader(argument, self._ctx)
        except Refused as refused:
            if verb == "BDAT":
                # Without a size nobody knows where the chunk ends.
                raise RemoteProtocolError("malformed BDAT command", BDAT_MALFORMED) from None
            return self._reject(refused.reply)
        if verb == "BDAT":
            assert isinstance(event, Bdat)
            return self._start_chunk(event, refusal)
        self._command = event
        self._owed = verb
        return event

    def _no_line(self) -> Event | Sentinel:
        buffer = self._buffer
        if self._eof:
            self.state = State.CLOSED
            return ConnectionClosed()
        if len(buffer) > self._line_limit(buffer.data):
            self._skipped = 0
            return self._skip_long_line()
        return NEED_DATA

    def _line_limit(self, head: bytes | bytearray) -> int:
        """512 octets, more for MAIL/RCPT parameters and AUTH (see Limits)."""
        verb = head[:5].upper()
        if self.state is _AUTH or verb == b"AUTH ":
            return self.limits.auth_line
        if verb in (b"MAIL ", b"RCPT "):
            return self.limits.command_line + self.limits.parameters
        return self.limits.command_line

    def _out_of_sequence(self, verb: str) -> Reply | None:
        """The reply for a command that may not come now, or None."""
        state = self.state
        if verb in ALLOWED.get(state, _NOTHING):
            return self._not_possible(verb)
        if state is State.NO_SERVICE:
            return NO_SERVICE
        if verb in ("DATA", "BDAT") and state is State.MAIL and self._refused:
            return NO_VALID_RECIPIENTS  # RFC 5321 §3.3: all recipients refused
        return BAD_SEQUENCE

    def _not_possible(self, verb: str) -> Reply | None:
        """Commands in sequence that the session still cannot honour."""
        ext = self._ctx.extensions
        if verb == "RCPT" and self._accepted >= self.limits.recipients:
            return TOO_MANY_RECIPIENTS  # RFC 5321 §4.5.3.1.10
        if verb == "DATA" and self._mail is not None and self._mail.body == "BINARYMIME":
            return BINARYMIME_NEEDS_BDAT
        if verb == "BDAT" and not ext.chunking:
            return NOT_OFFERED
        if verb == "STARTTLS":
            return ALREADY_TLS if self.tls else (None if ext.starttls else NOT_OFFERED)
        if verb == "AUTH":
            if ext.auth is None:
                return NOT_OFFERED
            if self.authenticated:
                return ALREADY_AUTHENTICATED
        return None

    def _auth_response(self, text: str) -> Event:
        if text == "*":
            return self._reject(AUTH_CANCELLED, "AUTH RESPONSE")
        if not is_base64(text):
            return self._reject(AUTH_NOT_BASE64, "AUTH RESPONSE")
        self._owed = "AUTH RESPONSE"
        return AuthResponse(text)

    def _skip_long_line(self) -> Event | Sentinel:
        """Drop an over-long line up to its CRLF, then answer 500 5.5.2."""
        buffer = self._buffer
        assert self._skipped is not None
        data = buffer.data
        end = data.find(b"\r\n")
        if end >= 0:
            buffer.take(end + 2)
            self._skipped = None
            return self._reject(LINE_TOO_LONG)
        keep = 1 if data.endswith(b"\r") else 0
        self._skipped += len(buffer.take(len(data) - keep))
        if self._skipped > self.limits.line_hard_cap:
            raise RemoteProtocolError("unterminated line flood", LINE_FLOOD)
        if self._eof:
            self.state = State.CLOSED
            return ConnectionClosed()
        return NEED_DATA

    # --- message content -------------------------------------------------------

    def _read_dot(self, reader: DotReader) -> Event | Sentinel:
        while True:
            piece = reader.read(self._buffer)
            if piece is None:
                if self._eof:
                    raise RemoteProtocolError("connection closed inside DATA")
                return NEED_DATA
            content, ended = piece
            if ended:
                self._dot = None
                self._owed = "EOM"
                end: Event = _END_OF_MESSAGE
                if reader.refusal is not None:
                    end = Rejected(reader.refusal, message=True)
                if not content:
                    return end
                self._ending = end
            if content:
                return MessageData(content)

    def _start_chunk(self, event: Bdat, refusal: Reply | None) -> Event | Sentinel:
        """RFC 3030 §2: the chunk is read in full whatever the answer will be."""
        self._chunking = True
        self._chunk = event.size
        self._chunk_last = event.last
        self._chunk_refusal = refusal
        if refusal is not None:
            return self._read_chunk()  # discarded: nothing to show until its end
        self._size += event.size
        limit = self.limits.message_size
        if limit is not None and self._size > limit:
            self._chunk_refusal = TOO_BIG  # RFC 3030 §4: still read it all
        return event

    def _read_chunk(self) -> Event | Sentinel:
        while self._chunk:
            if not self._buffer:
                if self._eof:
                    raise RemoteProtocolError("connection closed inside a BDAT chunk")
                return NEED_DATA
            data = self._buffer.take(self._chunk)
            self._chunk -= len(data)
            if self._chunk_refusal is None:
                return MessageData(data)
        self._chunking = False
        step = "BDAT LAST" if self._chunk_last else "BDAT"
        if self._chunk_refusal is TOO_BIG:
            return self._reject(TOO_BIG, step, message=True)  # RFC 3030 §2: the transaction fails
        if self._chunk_refusal is not None:
            return self._reject(self._chunk_refusal)  # out of sequence: nothing changes
        self._owed = step
        return _END_OF_MESSAGE if self._chunk_last else _END_OF_CHUNK

    # --- output ----------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        step = self._owed
        if step is None or type(event) is not Reply:
            return self._send_unowed(event)
        code = event.code
        if code // 100 not in _FITTING.get(step, _FINAL) and code != 421:
            raise LocalProtocolError(f"{code} is not a reply to {step}")
        if step == "GREETING" and code not in (220, 554, 421):
            raise LocalProtocolError("the greeting is 220, 554 (RFC 5321 §3.1) or 421")
        data = format_reply(event)
        self._owed = None
        self._after(step, event)
        return data

    def _send_unowed(self, event: Event) -> bytes:
        if not isinstance(event, Reply):
            raise LocalProtocolError(f"a server sends replies, not {type(event).__name__}")
        if self.state is _CLOSED or self.state is _ERROR:
            raise LocalProtocolError(f"cannot send in the {self.state.name} state")
        if event.code != 421:  # RFC 5321 §3.8: 421 may be sent at any time
            raise LocalProtocolError(f"no reply is owed; cannot send {event.code}")
        data = format_reply(event)
        self.state = State.CLOSED
        return data

    def _after(self, step: str, reply: Reply) -> None:
        old = self.state
        code = reply.code
        state = TRANSITIONS.get((old, step, code // 100), old) if code != 421 else _CLOSED
        effect = self._effects.get(step)
        if effect is not None:
            effect(reply)
        if state is not old:
            if state is _READY:
                self._reset_transaction()
            self._enter(state)

    # What a reply changes besides the state, per step.

    def _after_ehlo(self, reply: Reply) -> None:
        if reply.is_positive:
            self._ctx.extensions = Extensions.parse(reply.lines[1:])

    def _after_helo(self, reply: Reply) -> None:
        if reply.is_positive:
            self._ctx.extensions = Extensions()

    def _after_mail(self, reply: Reply) -> None:
        if reply.is_positive and isinstance(self._command, MailFrom):
            self._mail = self._command
            self._ctx.smtputf8 = self._command.smtputf8

    def _after_rcpt(self, reply: Reply) -> None:
        if reply.is_positive:
            self._accepted += 1
            if self._accepted == self.limits.recipients:
                self._enter(self.state)
        else:
            self._refused += 1

    def _after_data(self, reply: Reply) -> None:
        if reply.code == 354:
            self._dot = DotReader(self.policy, self.limits.text_line, self.limits.message_size)

    def _after_auth(self, reply: Reply) -> None:
        if reply.is_positive:
            self.authenticated = True

    def _after_starttls(self, reply: Reply) -> None:
        if reply.is_positive:
            self.discarded = self._buffer.clear()  # RFC 3207 §4.2

    def _enter(self, state: State) -> None:
        self.state = state
        self._allowed_now = _UNCONDITIONAL.get(state, _NOTHING)
        if self._accepted >= self.limits.recipients or (
            self._mail is not None and self._mail.body == "BINARYMIME"
        ):
            # RCPT and DATA need a look at the transaction: see _not_possible.
            self._allowed_now = self._allowed_now - {"RCPT", "DATA"}

    def start_tls(self) -> bytes:
        """The TLS handshake is done: start over (RFC 3207 §4.2)."""
        if self.state is not State.STARTTLS:
            raise LocalProtocolError("start_tls() only after a 220 reply to STARTTLS")
        self._enter(State.GREETED)
        self.tls = True
        self.authenticated = False
        self._ctx.extensions = Extensions()
        self._reset_transaction()
        discarded, self.discarded = self.discarded, b""
        return discarded
