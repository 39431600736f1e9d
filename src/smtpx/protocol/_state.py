"""The session's states and the two tables that drive them.

Theory of operation: both roles track the same session. The server moves when
it *sends* a reply, the client when it *receives* one; either way the move is
``TRANSITIONS[(state, step, reply class)]``, and no entry means "no change"
(RFC 5321 §4.1.4: a refused command leaves the state as it was). ``ALLOWED``
lists the commands that are in sequence in each state: the server answers any
other with 503, the client refuses to send it.

Steps are command verbs plus the steps that are not commands: GREETING (the
server's first reply), EOM (end of message data), BDAT LAST, AUTH RESPONSE.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    """Where the session is."""

    # Members are singletons: identity hashing is correct, and far cheaper than
    # Enum's own __hash__, which runs on every table lookup.
    __hash__ = object.__hash__

    CONNECTED = "CONNECTED"  # waiting for the greeting
    GREETED = "GREETED"  # greeting 220 given; waiting for EHLO/HELO
    NO_SERVICE = "NO_SERVICE"  # greeting 554: only QUIT (RFC 5321 §3.1)
    READY = "READY"  # EHLO/HELO done, no transaction
    MAIL = "MAIL"  # MAIL accepted, no recipient yet
    RCPT = "RCPT"  # at least one recipient accepted
    DATA = "DATA"  # 354 given: message content until CRLF.CRLF
    CHUNKING = "CHUNKING"  # BDAT chunks accepted, LAST not yet (RFC 3030)
    AUTH = "AUTH"  # 334 given: a response line is due (RFC 4954 §4)
    STARTTLS = "STARTTLS"  # 220 to STARTTLS given: waiting for the handshake
    CLOSED = "CLOSED"  # 221 or 421 given, or the peer went away
    ERROR = "ERROR"  # the dialogue broke; nothing more is possible


# RFC 5321 §4.1.4: NOOP, HELP, EXPN, VRFY and RSET may be used at any time;
# QUIT too (§4.1.1.10).
ANYTIME = frozenset({"NOOP", "HELP", "EXPN", "VRFY", "RSET", "QUIT"})
_HELLO = frozenset({"EHLO", "HELO"})

ALLOWED: dict[State, frozenset[str]] = {
    State.GREETED: ANYTIME | _HELLO,
    State.NO_SERVICE: frozenset({"QUIT"}),
    # RFC 3207 §4 and RFC 4954 §4: STARTTLS and AUTH only outside a transaction.
    State.READY: ANYTIME | _HELLO | {"MAIL", "STARTTLS", "AUTH"},
    State.MAIL: ANYTIME | _HELLO | {"RCPT"},
    State.RCPT: ANYTIME | _HELLO | {"RCPT", "DATA", "BDAT"},
    # RFC 3030 §2: once chunks flow, only more chunks (or an abort) make sense.
    State.CHUNKING: ANYTIME | _HELLO | {"BDAT"},
}

_SESSION = (State.READY, State.MAIL, State.RCPT, State.CHUNKING)


def _build() -> dict[tuple[State, str, int], State]:
    t: dict[tuple[State, str, int], State] = {
        (State.CONNECTED, "GREETING", 2): State.GREETED,
        (State.CONNECTED, "GREETING", 5): State.NO_SERVICE,
        (State.READY, "MAIL", 2): State.MAIL,
        (State.MAIL, "RCPT", 2): State.RCPT,
        (State.RCPT, "RCPT", 2): State.RCPT,
        (State.RCPT, "DATA", 3): State.DATA,
        # Only a client can see this: a server that says 354 with no recipient.
        (State.MAIL, "DATA", 3): State.DATA,
        (State.READY, "STARTTLS", 2): State.STARTTLS,
        (State.READY, "AUTH", 3): State.AUTH,
        (State.AUTH, "AUTH RESPONSE", 3): State.AUTH,
    }
    for state in (State.GREETED, *_SESSION):
        t[(state, "EHLO", 2)] = State.READY
        t[(state, "HELO", 2)] = State.READY
    for state in _SESSION:
        t[(state, "RSET", 2)] = State.READY
    for cls in (2, 4, 5):
        # RFC 5321 §4.1.1.4: whatever the final reply, the transaction is over.
        t[(State.DATA, "EOM", cls)] = State.READY
        t[(State.AUTH, "AUTH RESPONSE", cls)] = State.READY
        for state in (State.RCPT, State.CHUNKING):
            t[(state, "BDAT LAST", cls)] = State.READY
            # RFC 3030 §2: a refused chunk ends the transaction.
            t[(state, "BDAT", cls)] = State.CHUNKING if cls == 2 else State.READY
    for state in State:
        # RFC 5321 §4.1.1.10 (221) and §3.8 (421 at any time).
        t[(state, "QUIT", 2)] = State.CLOSED
    return t


TRANSITIONS = _build()


def after_reply(state: State, step: str, code: int) -> State:
    """The state after a reply with ``code`` to ``step``."""
    if code == 421:  # RFC 5321 §3.8: the server is closing, whatever was asked
        return State.CLOSED
    return TRANSITIONS.get((state, step, code // 100), state)
