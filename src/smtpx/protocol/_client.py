"""The client role: command events in, bytes out; the server's bytes in, replies out.

Theory of operation: every command sent is remembered in a FIFO of the replies
the client expects (RFC 2920 §3: replies come in the order of the commands).
Each reply that arrives answers the oldest entry and moves the state by
``_state.TRANSITIONS``. A second command may be sent before the first is
answered only when the server offered PIPELINING and every waiting command may
be pipelined (RFC 2920 §3.1); sequence is then checked against the state the
session will be in if every waiting command succeeds.

A reply nobody asked for is a RemoteProtocolError, except 421, which a server
may send at any time (RFC 5321 §3.8).
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ._commands import Context, write_command
from ._data import DotWriter
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    COMMANDS,
    NEED_DATA,
    PAUSED,
    AuthResponse,
    Bdat,
    Command,
    ConnectionClosed,
    EndOfMessage,
    Event,
    MailFrom,
    MessageData,
    Reply,
    Sentinel,
)
from ._extensions import Extensions
from ._limits import Limits
from ._receivebuffer import ReceiveBuffer
from ._replies import split_status
from ._state import ALLOWED, TRANSITIONS, State, after_reply

# RFC 2920 §3.1 (and RFC 3030 §4 for BDAT): these may be followed by more
# commands before their reply; message content ends a group like a command.
_PIPELINABLE = frozenset({"MAIL", "RCPT", "RSET", "BDAT", "BDAT LAST", "EOM"})
# The reply class that means "go on" for each step, used to foresee the state.
_GO_ON = {"DATA": 3, "AUTH": 3}
_NO_SENDING = frozenset({State.CLOSED, State.ERROR, State.STARTTLS})
_NOTHING: frozenset[str] = frozenset()
_SIDE_EFFECTS = frozenset({"EHLO", "HELO", "DATA", "AUTH", "AUTH RESPONSE", "STARTTLS"})
_CLOSED = State.CLOSED
# Replies are values, and servers repeat the same few lines ("250 2.1.5 Ok"):
# single-line replies already parsed are looked up, not parsed again. Bounded.
_SEEN: dict[bytes, Reply] = {}
_SEEN_MAX = 1024
_SEEN_LINE = 128
_CONTROL = re.compile(rb"[\r\n\0]")
_REPLY_LINE = re.compile(rb"([2-5][0-9][0-9])([ -]|\Z)")


class ClientEngine:
    """One SMTP session seen from the sender's side."""

    def __init__(self, limits: Limits) -> None:
        self.state = State.CONNECTED
        self.limits = limits
        self.tls = False
        self.authenticated = False
        self.discarded = b""
        # Our own size limit is a server matter: we check the server's SIZE.
        self._ctx = Context(replace(limits, message_size=None))
        self._buffer = ReceiveBuffer()
        self._eof = False
        self._pending: collections.deque[str] = collections.deque(["GREETING"])
        self._foreseen = State.CONNECTED
        self._lines: list[str] = []
        self._code = 0
        self._writer: DotWriter | None = None
        self._chunk = 0
        self._binarymime = False
        # Extensions lengthen MAIL/RCPT lines, RFC 4954 §4 AUTH lines (see Limits).
        self._line_limits = {
            "MAIL": limits.command_line + limits.parameters,
            "RCPT": limits.command_line + limits.parameters,
            "AUTH": limits.auth_line,
        }
        self._senders: dict[type[Event], Callable[[Any], bytes]] = {
            MessageData: self._content,
            EndOfMessage: self._end_of_message,
            AuthResponse: self._auth_response,
        }
        for command in COMMANDS:
            self._senders[command] = self._command

    @property
    def extensions(self) -> Extensions:
        return self._ctx.extensions

    # --- output ----------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        if self.state in _NO_SENDING:
            raise LocalProtocolError(f"cannot send in the {self.state.name} state")
        if self._chunk and type(event) is not MessageData:
            raise LocalProtocolError(f"{self._chunk} octets of the BDAT chunk are still due")
        sender = self._senders.get(type(event))
        if sender is None:
            raise LocalProtocolError(f"a client does not send {type(event).__name__}")
        return sender(event)

    def _end_of_message(self, event: EndOfMessage) -> bytes:
        if self._writer is None:
            raise LocalProtocolError("EndOfMessage only after a 354 reply to DATA")
        data, self._writer = self._writer.end(), None
        return self._expect("EOM", data)

    def _auth_response(self, event: AuthResponse) -> bytes:
        if self.state is not State.AUTH or self._pending:
            raise LocalProtocolError("AuthResponse only after a 334 reply")
        if "\r" in event.data or "\n" in event.data or "\0" in event.data:
            raise LocalProtocolError("CR, LF or NUL in an AUTH response")
        data = event.data.encode("utf-8", "replace") + b"\r\n"
        if len(data) > self.limits.auth_line:
            raise LocalProtocolError(f"AUTH response of {len(data)} octets is too long")
        return self._expect("AUTH RESPONSE", data)

    def _command(self, event: Command) -> bytes:
        verb = event.verb
        if self._pending:
            waiting = self._pending[-1]
            if waiting not in _PIPELINABLE or not self._ctx.extensions.pipelining:
                raise LocalProtocolError(f"wait for the reply to {waiting} before {verb}")
        if verb not in ALLOWED.get(self._foreseen, _NOTHING):
            raise LocalProtocolError(
                f"{verb} is out of sequence in the {self._foreseen.name} state"
            )
        if verb == "DATA" and self._binarymime:
            raise LocalProtocolError("BODY=BINARYMIME content must be sent with BDAT (RFC 3030)")
        try:
            data = write_command(event, self._ctx)
        except UnicodeEncodeError as error:
            raise LocalProtocolError(f"{verb} argument cannot be encoded: {error}") from None
        if len(data) > self._line_limits.get(verb, self.limits.command_line):
            # RFC 5321 §4.5.3.1.4: a sender MUST NOT send longer command lines.
            raise LocalProtocolError(f"{verb} line of {len(data)} octets is too long")
        step = verb
        if verb == "MAIL":
            assert isinstance(event, MailFrom)
            self._ctx.smtputf8 = event.smtputf8
            self._binarymime = event.body == "BINARYMIME"
        elif verb == "BDAT":
            assert isinstance(event, Bdat)
            if not self._ctx.extensions.chunking:
                raise LocalProtocolError("the server did not offer CHUNKING; use DATA")
            step = "BDAT LAST" if event.last else "BDAT"
            self._chunk = event.size
        return self._expect(step, data)

    def _expect(self, step: str, data: bytes) -> bytes:
        self._pending.append(step)
        self._foreseen = TRANSITIONS.get(
            (self._foreseen, step, _GO_ON.get(step, 2)), self._foreseen
        )
        return data

    def _content(self, event: MessageData) -> bytes:
        data = event.data
        if not data and self._pending and self._pending[-1] in ("BDAT", "BDAT LAST"):
            return b""  # after a BDAT 0: nothing to send, nothing wrong
        if self._chunk:
            if len(data) > self._chunk:
                raise LocalProtocolError(f"{len(data)} octets sent where {self._chunk} were due")
            self._chunk -= len(data)
            return data
        if self._writer is None:
            raise LocalProtocolError("MessageData only after a 354 reply to DATA or after BDAT")
        return self._writer.write(data)

    # --- input -----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.state is State.STARTTLS:
            self.discarded += data  # RFC 3207 §4.2: never read as plain text
        elif not data:
            self._eof = True
        elif self._eof:
            raise LocalProtocolError("data received after end of file")
        else:
            self._buffer.feed(data)

    def next_event(self) -> Event | Sentinel:
        if self.state is State.ERROR:
            raise LocalProtocolError("the connection is in the ERROR state")
        if self.state is State.CLOSED:
            return ConnectionClosed()
        if self.state is State.STARTTLS:
            return PAUSED
        try:
            return self._read_reply()
        except RemoteProtocolError:
            self.state = State.ERROR
            raise

    def _read_reply(self) -> Event | Sentinel:
        buffer = self._buffer
        while True:
            line = buffer.line()
            if line is None:
                if len(buffer) > self.limits.line_hard_cap:
                    raise RemoteProtocolError("reply line too long")
                if not self._eof:
                    return NEED_DATA
                if self._lines or buffer:
                    raise RemoteProtocolError("connection closed inside a reply")
                self.state = State.CLOSED
                return ConnectionClosed()
            if len(line) > self.limits.line_hard_cap:
                raise RemoteProtocolError("reply line too long")
            if not self._lines:
                known = _SEEN.get(line)
                if known is not None:
                    return self._answer(known)
            # RFC 5321 §4.2: Reply-code [ ("-" / SP) textstring ] CRLF
            match = _REPLY_LINE.match(line)
            if match is None:
                raise RemoteProtocolError(f"malformed reply line {line[:40]!r}")
            code = int(match.group(1))
            # RFC 5321 §4.2: the text is printable characters, spaces and tabs.
            if _CONTROL.search(line) is not None:
                raise RemoteProtocolError(f"CR, LF or NUL inside reply line {line[:40]!r}")
            # Text is for people: undecodable octets become U+FFFD, not errors.
            text = line[4:].decode("utf-8", "replace")
            if match.group(2) != b"-" and not self._lines:
                reply = split_status(code, [text])
                if len(line) <= _SEEN_LINE:
                    if len(_SEEN) >= _SEEN_MAX:
                        _SEEN.clear()  # the lines that recur come back at once
                    _SEEN[line] = reply
                return self._answer(reply)
            if self._lines and code != self._code:
                raise RemoteProtocolError(f"reply code changed from {self._code} to {code}")
            self._code = code
            self._lines.append(text)
            if len(self._lines) > self.limits.reply_lines:
                raise RemoteProtocolError("reply has too many lines")
            if match.group(2) != b"-":
                reply = split_status(code, self._lines)
                self._lines = []
                return self._answer(reply)

    def _answer(self, reply: Reply) -> Reply:
        code = reply.code
        if not self._pending:
            if code != 421:
                raise RemoteProtocolError(f"reply {code} when none was expected")
            self.state = State.CLOSED
            return reply
        step = self._pending.popleft()
        if reply.is_intermediate and (code, step) not in _INTERMEDIATE:
            raise RemoteProtocolError(f"reply {code} does not answer {step}")
        if step in _SIDE_EFFECTS:
            self._side_effect(step, reply)
        state = self.state = after_reply(self.state, step, code)
        if state is _CLOSED:
            self._pending.clear()
        if not self._pending:
            self._foreseen = state
        return reply

    def _side_effect(self, step: str, reply: Reply) -> None:
        """What a reply to EHLO, HELO, DATA, AUTH or STARTTLS changes besides the state."""
        positive = reply.is_positive
        if step == "EHLO" and positive:
            self._ctx.extensions = Extensions.parse(reply.lines[1:])
        elif step == "HELO" and positive:
            self._ctx.extensions = Extensions()
        elif step == "DATA" and reply.code == 354:
            self._writer = DotWriter()
        elif step in ("AUTH", "AUTH RESPONSE") and positive:
            self.authenticated = True
        elif step == "STARTTLS" and positive:
            self.discarded = self._buffer.clear()  # RFC 3207 §4.2

    def start_tls(self) -> bytes:
        """The TLS handshake is done: start over, EHLO again (RFC 3207 §4.2)."""
        if self.state is not State.STARTTLS:
            raise LocalProtocolError("start_tls() only after a 220 reply to STARTTLS")
        self.state = self._foreseen = State.GREETED
        self.tls = True
        self.authenticated = False
        self._ctx.extensions = Extensions()
        discarded, self.discarded = self.discarded, b""
        return discarded


# Which 3xx replies fit which step: 354 to DATA, 334 to AUTH (RFC 4954 §4).
_INTERMEDIATE = frozenset({(354, "DATA"), (334, "AUTH"), (334, "AUTH RESPONSE")})
