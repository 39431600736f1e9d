"""Two engines back to back: the dialogue harness of the protocol tests.

Theory of operation (after h11's and h2's test suites): a *script* plays the
client's side of a dialogue through a :class:`Dialogue`. It sends events, several
in one write when it pipelines, and gets back the replies the client engine read.
Each write goes to a server engine driven by a scripted *application*: a table
from event type to the reply to send (:class:`Application`), with per-test
overrides. Nothing else is modelled: no sockets, no TLS, no clock.

:func:`run_dialogue` plays one script twice, once with every write delivered
whole and once one byte at a time, and checks that both runs saw the same events
on each side (MessageData chunks joined, since their cut depends on the feed), put
the same bytes on the wire, and ended in the same states.

The raw helpers at the end (:func:`exchange`, :func:`server_after`,
:func:`client_after`) drive one engine alone with hand-written bytes, for the
rules a well-behaved peer engine would never break.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from smtpx.protocol import (
    CLIENT,
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
    Extensions,
    Helo,
    Help,
    Limits,
    MailFrom,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Rejected,
    Reply,
    Rset,
    StartTls,
    State,
    Vrfy,
    format_reply,
)

# --- the scripted server application --------------------------------------------------

Answer = Reply | Callable[[Event, Connection], Reply]
"""A fixed reply, or one computed from the event and the server's connection."""
Answers = Mapping[type[Event], Answer]

GREETING = Reply(220, None, "mx.example ESMTP smtpx")
# Everything the engine knows, so that no test is refused for want of an offer.
EXTENSIONS = Extensions(
    size=10_485_760,
    eightbitmime=True,
    pipelining=True,
    smtputf8=True,
    enhancedstatuscodes=True,
    starttls=True,
    auth=("PLAIN", "LOGIN", "CRAM-MD5"),
    chunking=True,
    binarymime=True,
    dsn=True,
)
EHLO_REPLY = EXTENSIONS.ehlo_reply("mx.example")
HELO_REPLY = Reply(250, None, "mx.example")
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
NO_SUCH_USER = Reply(550, "5.1.1", "No such user")
GO_AHEAD = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
QUEUED = Reply(250, "2.0.0", "Queued as 1234")
CHUNK_OK = Reply(250, "2.0.0", "Chunk accepted")
RESET = Reply(250, "2.0.0", "Reset state")
OK = Reply(250, "2.0.0", "OK")
BYE = Reply(221, "2.0.0", "Bye")
CANNOT_VRFY = Reply(252, "2.0.0", "Cannot VRFY user, but will accept message")
NO_EXPN = Reply(502, "5.5.1", "EXPN not implemented")
HELP_TEXT = Reply(
    214, "2.0.0", "Commands:\nEHLO HELO MAIL RCPT DATA BDAT\nRSET NOOP QUIT VRFY HELP"
)
TLS_GO_AHEAD = Reply(220, "2.0.0", "Ready to start TLS")
AUTH_CHALLENGE = Reply(334, None, "")
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")


def _auth(event: Event, server: Connection) -> Reply:
    # RFC 4954 §4: with an initial response there may be nothing left to ask.
    assert isinstance(event, Auth)
    return AUTH_OK if event.initial_response is not None else AUTH_CHALLENGE


DEFAULT_ANSWERS: dict[type[Event], Answer] = {
    Ehlo: EHLO_REPLY,
    Helo: HELO_REPLY,
    MailFrom: SENDER_OK,
    RcptTo: RECIPIENT_OK,
    Data: GO_AHEAD,
    EndOfMessage: QUEUED,
    EndOfChunk: CHUNK_OK,
    Rset: RESET,
    Noop: OK,
    Quit: BYE,
    Vrfy: CANNOT_VRFY,
    Expn: NO_EXPN,
    Help: HELP_TEXT,
    StartTls: TLS_GO_AHEAD,
    Auth: _auth,
    AuthResponse: AUTH_OK,
}
# Events that owe no reply of their own: the chunk's end does.
_SILENT = (Bdat, MessageData)


class Application:
    """The server application of a test: one reply per event type."""

    def __init__(self, answers: Answers | None = None) -> None:
        self._answers: dict[type[Event], Answer] = {**DEFAULT_ANSWERS, **(answers or {})}

    def reply_to(self, event: Event, server: Connection) -> Reply | None:
        """The reply ``event`` calls for, or None when it calls for none."""
        if isinstance(event, Rejected):
            return event.reply  # the engine decided; the application must say it
        if isinstance(event, _SILENT):
            return None
        answer = self._answers[type(event)]
        return answer if isinstance(answer, Reply) else answer(event, server)


# --- feeding --------------------------------------------------------------------------


class Feed(enum.Enum):
    """How bytes travel from one engine to the other."""

    WHOLE = "whole"  # each write arrives in one piece
    BYTEWISE = "bytewise"  # each write arrives one byte at a time

    def pieces(self, data: bytes) -> list[bytes]:
        if self is Feed.WHOLE:
            return [data] if data else []
        return [data[i : i + 1] for i in range(len(data))]


def joined(events: Iterable[Event]) -> list[Event]:
    """``events`` with each run of MessageData joined into one."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, MessageData) and out and isinstance(out[-1], MessageData):
            out[-1] = MessageData(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def codes(replies: Iterable[Reply]) -> list[int]:
    return [reply.code for reply in replies]


def rejections(events: Iterable[Event]) -> list[tuple[int, str | None]]:
    """(code, enhanced status) of each Rejected event, in order."""
    return [(e.reply.code, e.reply.status) for e in events if isinstance(e, Rejected)]


# --- two engines back to back ---------------------------------------------------------


@dataclass(frozen=True)
class Transcript:
    """What one run of a dialogue did, for comparing two runs."""

    client_events: list[Event]
    server_events: list[Event]
    client_wire: bytes
    server_wire: bytes
    client_state: State
    server_state: State
    client_extensions: Extensions
    server_extensions: Extensions
    tls: tuple[bool, bool]
    authenticated: tuple[bool, bool]


class Dialogue:
    """A client engine and a server engine wired back to back."""

    def __init__(
        self,
        feed: Feed,
        application: Application,
        *,
        greeting: Reply = GREETING,
        client_limits: Limits | None = None,
        server_limits: Limits | None = None,
    ) -> None:
        self.feed = feed
        self.application = application
        self.client = Connection(CLIENT, client_limits)
        self.server = Connection(SERVER, server_limits)
        self.client_events: list[Event] = []
        # Every event the server engine gave, MessageData as it was cut.
        self.server_events_as_given: list[Event] = []
        self.server_replies: list[Reply] = []
        self.client_wire = bytearray()
        self.server_wire = bytearray()
        self.greeting = self._to_client(self._server_sends(greeting))

    @property
    def states(self) -> tuple[State, State]:
        """(client state, server state)."""
        return self.client.state, self.server.state

    @property
    def server_events(self) -> list[Event]:
        """Every event the server engine gave, MessageData runs joined."""
        return joined(self.server_events_as_given)

    # --- the script's moves ----------------------------------------------------

    def send(self, *events: Event) -> list[Reply]:
        """The client sends ``events`` in one write; the replies it then read."""
        data = b"".join([self.client.send(event) for event in events])
        self.client_wire += data
        return self._to_client(self._to_server(data))

    def send_raw(self, data: bytes) -> bytes:
        """Bytes from outside the client engine; the server's answer, not delivered."""
        return self._to_server(data)

    def start_tls(self) -> tuple[bytes, bytes]:
        """Both handshakes done; the plain text each side discarded (client, server)."""
        return self.client.start_tls(), self.server.start_tls()

    def client_closes(self) -> list[Reply]:
        """The client shuts its side: EOF reaches the server."""
        self.server.receive_data(b"")
        return self._to_client(self._serve())

    def server_closes(self) -> list[Reply]:
        """The server shuts its side: EOF reaches the client."""
        self.client.receive_data(b"")
        return self._read_replies()

    def transcript(self) -> Transcript:
        return Transcript(
            client_events=list(self.client_events),
            server_events=self.server_events,
            client_wire=bytes(self.client_wire),
            server_wire=bytes(self.server_wire),
            client_state=self.client.state,
            server_state=self.server.state,
            client_extensions=self.client.extensions,
            server_extensions=self.server.extensions,
            tls=(self.client.tls, self.server.tls),
            authenticated=(self.client.authenticated, self.server.authenticated),
        )

    # --- plumbing --------------------------------------------------------------

    def _server_sends(self, reply: Reply) -> bytes:
        data = self.server.send(reply)
        self.server_replies.append(reply)
        self.server_wire += data
        return data

    def _to_server(self, data: bytes) -> bytes:
        out = bytearray()
        for piece in self.feed.pieces(data):
            self.server.receive_data(piece)
            out += self._serve()
        if not data:
            out += self._serve()
        return bytes(out)

    def _serve(self) -> bytes:
        """Take the server's events and answer each, until it needs bytes or a handshake."""
        out = bytearray()
        while True:
            event = self.server.next_event()
            if event is NEED_DATA or event is PAUSED:
                return bytes(out)
            assert isinstance(event, Event)
            if isinstance(event, ConnectionClosed):
                # A closed engine says so on every call: record it once.
                if not self.server_events_as_given or self.server_events_as_given[-1] != event:
                    self.server_events_as_given.append(event)
                return bytes(out)
            self.server_events_as_given.append(event)
            reply = self.application.reply_to(event, self.server)
            if reply is not None:
                out += self._server_sends(reply)

    def _to_client(self, data: bytes) -> list[Reply]:
        replies: list[Reply] = []
        for piece in self.feed.pieces(data):
            self.client.receive_data(piece)
            replies += self._read_replies()
        return replies

    def _read_replies(self) -> list[Reply]:
        replies: list[Reply] = []
        while True:
            event = self.client.next_event()
            if event is NEED_DATA or event is PAUSED:
                return replies
            assert isinstance(event, Event)
            if isinstance(event, ConnectionClosed):
                if not self.client_events or self.client_events[-1] != event:
                    self.client_events.append(event)
                return replies
            assert isinstance(event, Reply), f"a client engine gave {event!r}"
            self.client_events.append(event)
            replies.append(event)


Script = Callable[[Dialogue], None]


def run_dialogue(
    script: Script,
    *,
    answers: Answers | None = None,
    greeting: Reply = GREETING,
    client_limits: Limits | None = None,
    server_limits: Limits | None = None,
) -> Dialogue:
    """Play ``script`` fed whole and fed byte by byte; both runs must agree.

    Returns the run fed whole, for the test's own assertions.
    """
    runs = [
        Dialogue(
            feed,
            Application(answers),
            greeting=greeting,
            client_limits=client_limits,
            server_limits=server_limits,
        )
        for feed in Feed
    ]
    for dialogue in runs:
        script(dialogue)
    whole, bytewise = runs
    assert whole.transcript() == bytewise.transcript(), "fed whole and byte by byte differ"
    return whole


def state(connection: Connection) -> State:
    """``connection.state``, read through a call.

    mypy narrows ``assert c.state is State.READY`` to that one member and would
    then call every later check of another state unreachable; a call is not narrowed.
    """
    return connection.state


# --- one engine alone, with hand-written bytes ----------------------------------------


def exchange(
    server: Connection,
    data: bytes,
    feed: Feed = Feed.WHOLE,
    application: Application | None = None,
) -> list[Event]:
    """Feed ``data`` to a server engine and answer every event; the events given.

    An event calling for a reply is answered by ``application`` (the defaults when
    None): a Rejected one with its own reply. MessageData runs are joined.
    """
    application = application or Application()
    events: list[Event] = []

    def serve() -> None:
        while True:
            event = server.next_event()
            if event is NEED_DATA or event is PAUSED:
                return
            assert isinstance(event, Event)
            events.append(event)
            if isinstance(event, ConnectionClosed):
                return
            reply = application.reply_to(event, server)
            if reply is not None:
                server.send(reply)

    for piece in feed.pieces(data):
        server.receive_data(piece)
        serve()
    if not data:
        serve()
    return joined(events)


def server_after(
    *lines: bytes,
    answers: Answers | None = None,
    limits: Limits | None = None,
    greeting: Reply = GREETING,
) -> Connection:
    """A server engine that greeted and then answered ``lines`` with the defaults."""
    server = Connection(SERVER, limits)
    server.send(greeting)
    application = Application(answers)
    for line in lines:
        exchange(server, line, Feed.WHOLE, application)
    return server


def read_replies(client: Connection, data: bytes, feed: Feed = Feed.WHOLE) -> list[Event]:
    """Feed ``data`` to a client engine; the events it gave (ConnectionClosed once)."""
    events: list[Event] = []

    def read() -> None:
        while True:
            event = client.next_event()
            if event is NEED_DATA or event is PAUSED:
                return
            assert isinstance(event, Event)
            events.append(event)
            if isinstance(event, ConnectionClosed):
                return

    for piece in feed.pieces(data):
        client.receive_data(piece)
        read()
    if not data:
        read()
    return events


def client_after(
    extensions: Extensions | None = EXTENSIONS,
    *,
    limits: Limits | None = None,
) -> Connection:
    """A client engine that got the greeting and then the EHLO reply for ``extensions``.

    ``None`` says HELO instead: a session with no extensions.
    """
    client = Connection(CLIENT, limits)
    _answer(client, GREETING)
    if extensions is None:
        client.send(Helo("client.example"))
        _answer(client, HELO_REPLY)
    else:
        client.send(Ehlo("client.example"))
        _answer(client, extensions.ehlo_reply("mx.example"))
    assert state(client) is State.READY
    return client


def _answer(client: Connection, reply: Reply) -> None:
    client.receive_data(format_reply(reply))
    assert client.next_event() == reply
