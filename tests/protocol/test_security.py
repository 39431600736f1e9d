"""The engine's security rules, one test per rule.

SMTP smuggling, STARTTLS buffer clearing, command injection in outgoing
arguments, and every size limit a peer could use to exhaust memory or to slip a
command past the parser. Each test drives one engine with hand-written bytes (a
well-behaved peer engine would never send them) and asserts the exact reply
code, enhanced status and state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from tests.protocol.dialogue import EXTENSIONS

from smtpx.protocol import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    SERVER,
    Auth,
    AuthResponse,
    BareLineEndings,
    Bdat,
    Command,
    Connection,
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
    LocalProtocolError,
    MailFrom,
    MessageData,
    Noop,
    RcptTo,
    Rejected,
    RemoteProtocolError,
    Reply,
    Rset,
    Sentinel,
    StartTls,
    State,
    Vrfy,
)
from smtpx.protocol._replies import format_reply

# Every extension smtpx knows, with one more AUTH mechanism for these tests.
EVERYTHING = replace(EXTENSIONS, auth=("PLAIN", "LOGIN", "EXTERNAL"))
EHLO_REPLY = EVERYTHING.ehlo_reply("mx.example")
REJECT, NORMALIZE = BareLineEndings.REJECT, BareLineEndings.NORMALIZE


# --- helpers ------------------------------------------------------------------------


def drain(connection: Connection) -> list[Event | Sentinel]:
    """Every event until NEED_DATA or PAUSED, that sentinel included."""
    out: list[Event | Sentinel] = []
    for _ in range(10_000):
        event = connection.next_event()
        out.append(event)
        if isinstance(event, Sentinel):
            return out
    raise AssertionError("next_event() never stopped")


def feed(connection: Connection, data: bytes, *, bytewise: bool = False) -> list[Event | Sentinel]:
    """Feed ``data`` whole or one byte at a time; the events it gave, sentinels dropped,
    then the last sentinel; MessageData pieces joined into one."""
    events: list[Event | Sentinel] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    last: Sentinel = NEED_DATA
    for piece in pieces:
        connection.receive_data(piece)
        for event in drain(connection):
            if isinstance(event, Sentinel):
                last = event
            elif isinstance(event, MessageData) and events and isinstance(events[-1], MessageData):
                events[-1] = MessageData(events[-1].data + event.data)
            else:
                events.append(event)
    return [*events, last]


def state(connection: Connection) -> State:
    """The connection's state (a call, so that mypy does not narrow it between steps)."""
    return connection.state


def rejected(reply: Reply | Event | Sentinel) -> tuple[int, str | None]:
    """The code and enhanced status of a Rejected event (its text is the application's)."""
    assert isinstance(reply, Rejected), reply
    return reply.reply.code, reply.reply.status


def server_ready(limits: Limits | None = None, policy: BareLineEndings = REJECT) -> Connection:
    server = Connection(SERVER, limits, bare_line_endings=policy)
    server.send(Reply(220, None, "mx.example ESMTP"))
    assert feed(server, b"EHLO client.example\r\n") == [Ehlo("client.example"), PAUSED]
    server.send(EHLO_REPLY)
    assert state(server) is State.READY
    return server


def server_with_recipient(
    limits: Limits | None = None, policy: BareLineEndings = REJECT
) -> Connection:
    server = server_ready(limits, policy)
    assert feed(server, b"MAIL FROM:<a@example.com>\r\n") == [MailFrom("a@example.com"), PAUSED]
    server.send(Reply(250, "2.1.0", "OK"))
    assert feed(server, b"RCPT TO:<b@example.com>\r\n") == [RcptTo("b@example.com"), PAUSED]
    server.send(Reply(250, "2.1.5", "OK"))
    assert state(server) is State.RCPT
    return server


def server_in_data(limits: Limits | None = None, policy: BareLineEndings = REJECT) -> Connection:
    server = server_with_recipient(limits, policy)
    assert feed(server, b"DATA\r\n") == [Data(), PAUSED]
    server.send(Reply(354, None, "End data with <CR><LF>.<CR><LF>"))
    assert state(server) is State.DATA
    return server


def client_ready(limits: Limits | None = None) -> Connection:
    client = Connection(CLIENT, limits)
    client.receive_data(b"220 mx.example ESMTP\r\n")
    assert client.next_event() == Reply(220, None, "mx.example ESMTP")
    assert client.send(Ehlo("client.example")) == b"EHLO client.example\r\n"
    client.receive_data(format_reply(EHLO_REPLY))
    assert client.next_event() == EHLO_REPLY
    assert state(client) is State.READY
    return client


FEEDS = pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])


# --- SMTP smuggling (RFC 5321 §4.1.1.4, §2.3.8) ---------------------------------------

# Each would end DATA in some server; only CRLF "." CRLF may (RFC 5321 §4.1.1.4).
BARE_ENDINGS = [
    pytest.param(b"\n.\n", id="LF.LF"),
    pytest.param(b"\r.\r", id="CR.CR"),
    pytest.param(b"\r\n.\n", id="CRLF.LF"),
    pytest.param(b"\n.\r\n", id="LF.CRLF"),
    pytest.param(b"\r.\r\n", id="CR.CRLF"),
    pytest.param(b"\r\n.\r", id="CRLF.CR"),
]
BODY = b"Subject: hello\r\n\r\nHello"
SMUGGLED = (
    b"MAIL FROM:<evil@attacker.example>\r\n"
    b"RCPT TO:<victim@example.com>\r\n"
    b"DATA\r\n"
    b"From: ceo@example.com\r\n\r\nforged"
)
END = b"\r\n.\r\n"


@pytest.mark.parametrize("ending", BARE_ENDINGS)
@FEEDS
def test_bare_line_ending_dot_does_not_end_data(ending: bytes, bytewise: bool) -> None:
    server = server_in_data()
    before_end = feed(server, BODY + ending + SMUGGLED, bytewise=bytewise)
    # Still inside the one message: nothing refused yet, no command read.
    assert [e for e in before_end if not isinstance(e, MessageData)] == [NEED_DATA]
    assert state(server) is State.DATA
    events = feed(server, END, bytewise=bytewise)
    # RFC 5321 §2.3.8: refused as a whole, and only at the real end.
    assert [e for e in events if not isinstance(e, MessageData)] == [events[-2], PAUSED]
    assert rejected(events[-2]) == (550, "5.6.0")
    server.send(Reply(550, "5.6.0", "Bare line ending"))
    assert state(server) is State.READY
    assert server.next_event() is NEED_DATA  # the smuggled commands were content
    assert feed(server, b"MAIL FROM:<a@example.com>\r\n") == [MailFrom("a@example.com"), PAUSED]


@pytest.mark.parametrize("ending", BARE_ENDINGS)
@FEEDS
def test_bare_line_ending_dot_is_content_under_normalize(ending: bytes, bytewise: bool) -> None:
    server = server_in_data(policy=NORMALIZE)
    events = feed(server, BODY + ending + SMUGGLED + END, bytewise=bytewise)
    assert len(events) == 3
    assert events[1:] == [EndOfMessage(), PAUSED]
    assert isinstance(events[0], MessageData)
    # The bare "." line is a content line; whether its dot counts as stuffing is a
    # matter of reading, but the smuggled commands are content either way.
    assert events[0].data in (
        BODY + b"\r\n.\r\n" + SMUGGLED + b"\r\n",
        BODY + b"\r\n\r\n" + SMUGGLED + b"\r\n",
    )
    server.send(Reply(250, "2.0.0", "Queued"))
    assert state(server) is State.READY
    assert server.next_event() is NEED_DATA


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(b"Hello\n..x\r\n.\r\n", id="LF-then-stuffed-dot"),
        pytest.param(b"Hello\r..x\r\n.\r\n", id="CR-then-stuffed-dot"),
        pytest.param(b"Hello\n.\nMAIL FROM:<e@x>\r\n.\r\n", id="LF.LF"),
    ],
)
def test_normalize_reads_the_same_content_whatever_the_segmentation(wire: bytes) -> None:
    whole = server_in_data(policy=NORMALIZE)
    bytewise = server_in_data(policy=NORMALIZE)
    assert feed(whole, wire) == feed(bytewise, wire, bytewise=True)


@FEEDS
def test_nul_before_dot_does_not_end_data(bytewise: bool) -> None:
    # CRLF NUL "." CRLF: some servers drop the NUL and see the end of data.
    server = server_in_data()
    content = BODY + b"\r\n\x00.\r\n" + SMUGGLED
    events = feed(server, content + END, bytewise=bytewise)
    # No bare CR or LF here: one message, accepted, with the NUL line as content.
    assert events == [MessageData(content + b"\r\n"), EndOfMessage(), PAUSED]


def test_smuggled_end_split_across_reads_does_not_end_data() -> None:
    server = server_in_data()
    assert feed(server, BODY + b"\r\n")[-1] is NEED_DATA
    assert feed(server, b".")[-1] is NEED_DATA
    assert feed(server, b"\n" + SMUGGLED)[-1] is NEED_DATA
    assert state(server) is State.DATA
    events = feed(server, b"\r\n.")
    assert [e for e in events if not isinstance(e, MessageData)] == [NEED_DATA]
    events = feed(server, b"\r\n")
    assert [e for e in events if not isinstance(e, MessageData)] == [events[-2], PAUSED]
    assert rejected(events[-2]) == (550, "5.6.0")


# --- STARTTLS (RFC 3207 §4.2) ---------------------------------------------------------


def test_server_discards_commands_pipelined_with_starttls() -> None:
    server = server_ready()
    events = feed(server, b"STARTTLS\r\nMAIL FROM:<evil@x.example>\r\n")
    assert events == [StartTls(), PAUSED]
    server.send(Reply(220, "2.0.0", "Ready to start TLS"))
    assert state(server) is State.STARTTLS
    assert server.next_event() is PAUSED
    # More plain text arriving before the handshake is done is discarded too.
    server.receive_data(b"RCPT TO:<evil@x.example>\r\n")
    assert server.start_tls() == b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<evil@x.example>\r\n"
    assert state(server) is State.GREETED
    assert server.tls
    assert server.extensions == Extensions()
    assert server.next_event() is NEED_DATA
    # The session starts over: EHLO first (RFC 3207 §4.2).
    events = feed(server, b"MAIL FROM:<a@example.com>\r\n")
    assert rejected(events[0]) == (503, "5.5.1")
    assert events[1:] == [PAUSED]
    server.send(Reply(503, "5.5.1", "EHLO first"))
    assert state(server) is State.GREETED
    assert feed(server, b"EHLO client.example\r\n") == [Ehlo("client.example"), PAUSED]


def test_client_discards_replies_read_with_the_starttls_220() -> None:
    client = client_ready()
    assert client.send(StartTls()) == b"STARTTLS\r\n"
    client.receive_data(b"220 2.0.0 Ready to start TLS\r\n250 fake\r\n")
    assert client.next_event() == Reply(220, "2.0.0", "Ready to start TLS")
    assert state(client) is State.STARTTLS
    assert client.next_event() is PAUSED
    client.receive_data(b"250-mx.example\r\n250 AUTH PLAIN\r\n")
    assert client.start_tls() == b"250 fake\r\n250-mx.example\r\n250 AUTH PLAIN\r\n"
    assert state(client) is State.GREETED
    assert client.tls
    assert client.extensions == Extensions()
    assert client.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        client.send(MailFrom("a@example.com"))
    assert client.send(Ehlo("client.example")) == b"EHLO client.example\r\n"


# --- command injection in outgoing arguments ------------------------------------------

INJECTIONS = [
    pytest.param("\r", id="CR"),
    pytest.param("\n", id="LF"),
    pytest.param("\0", id="NUL"),
    pytest.param("\r\n", id="CRLF"),
]


def _client_in_auth() -> Connection:
    client = client_ready()
    client.send(Auth("LOGIN"))
    client.receive_data(b"334 VXNlcm5hbWU6\r\n")
    assert client.next_event() == Reply(334, None, "VXNlcm5hbWU6")
    assert state(client) is State.AUTH
    return client


def _client_greeted() -> Connection:
    client = Connection(CLIENT)
    client.receive_data(b"220 mx.example ESMTP\r\n")
    client.next_event()
    return client


# (the client to start from, the injected event, an event that must still go out after)
InjectionCase = tuple[Callable[[], Connection], Callable[[str], Event], Event]
INJECTION_CASES: dict[str, InjectionCase] = {
    "EHLO": (_client_greeted, lambda c: Ehlo(f"a{c}MAIL"), Noop()),
    "HELO": (_client_greeted, lambda c: Helo(f"a{c}MAIL"), Noop()),
    "MAIL": (client_ready, lambda c: MailFrom(f"a{c}@example.com"), Noop()),
    "MAIL-domain": (client_ready, lambda c: MailFrom(f"a@example.com{c}RSET"), Noop()),
    "MAIL-BODY": (client_ready, lambda c: MailFrom("a@example.com", body=f"8BITMIME{c}X"), Noop()),
    "MAIL-RET": (client_ready, lambda c: MailFrom("a@example.com", ret=f"FULL{c}X"), Noop()),
    "RCPT": (client_ready, lambda c: RcptTo(f"b{c}@example.com"), Noop()),
    "RCPT-NOTIFY": (
        client_ready,
        lambda c: RcptTo("b@example.com", notify=(f"SUCCESS{c}DATA",)),
        Noop(),
    ),
    "RCPT-ORCPT-type": (
        client_ready,
        lambda c: RcptTo("b@example.com", orcpt=f"rfc822{c}X;b@example.com"),
        Noop(),
    ),
    "VRFY": (client_ready, lambda c: Vrfy(f"user{c}RSET"), Noop()),
    "EXPN": (client_ready, lambda c: Expn(f"list{c}RSET"), Noop()),
    "HELP": (client_ready, lambda c: Help(f"topic{c}RSET"), Noop()),
    "NOOP": (client_ready, lambda c: Noop(f"x{c}RSET"), Noop()),
    "AUTH-mechanism": (client_ready, lambda c: Auth(f"PLAIN{c}RSET"), Noop()),
    "AUTH-initial-response": (client_ready, lambda c: Auth("PLAIN", f"AAAA{c}RSET"), Noop()),
    "AuthResponse": (_client_in_auth, lambda c: AuthResponse(f"AAAA{c}RSET"), AuthResponse("*")),
}


@pytest.mark.parametrize("char", INJECTIONS)
@pytest.mark.parametrize("case", list(INJECTION_CASES))
def test_control_characters_in_outgoing_arguments_are_refused(case: str, char: str) -> None:
    make, injected, follow_up = INJECTION_CASES[case]
    client = make()
    before = state(client)
    with pytest.raises(LocalProtocolError):
        client.send(injected(char))
    # Nothing was written or queued: the session goes on as before.
    assert state(client) is before
    wire = client.send(follow_up)
    assert wire.endswith(b"\r\n")
    assert wire.count(b"\r") == wire.count(b"\n") == 1


XTEXT_CASES = [
    pytest.param(
        MailFrom("a@example.com", envid="id\r\nRCPT TO:<evil@x.example>"),
        b"MAIL FROM:<a@example.com> ENVID=id+0D+0ARCPT+20TO:<evil@x.example>\r\n",
        id="ENVID",
    ),
    pytest.param(
        MailFrom("a@example.com", auth="a@example.com\r\nRSET"),
        b"MAIL FROM:<a@example.com> AUTH=a@example.com+0D+0ARSET\r\n",
        id="AUTH",
    ),
    pytest.param(
        RcptTo("b@example.com", orcpt="rfc822;b@example.com\r\nDATA\0"),
        b"RCPT TO:<b@example.com> ORCPT=rfc822;b@example.com+0D+0ADATA+00\r\n",
        id="ORCPT",
    ),
]


@pytest.mark.parametrize(("event", "expected"), XTEXT_CASES)
def test_xtext_parameters_encode_control_characters(event: Command, expected: bytes) -> None:
    client = client_ready()
    if isinstance(event, RcptTo):
        client.send(MailFrom("a@example.com"))
    wire = client.send(event)
    assert wire == expected
    assert wire.count(b"\r") == wire.count(b"\n") == 1
    assert b"\0" not in wire
    # ... and the server decodes them back to what was meant (RFC 3461 §4).
    server = server_ready()
    if isinstance(event, RcptTo):
        feed(server, b"MAIL FROM:<a@example.com>\r\n")
        server.send(Reply(250))
    assert feed(server, wire) == [event, PAUSED]


@pytest.mark.parametrize(
    ("text", "status"),
    [
        pytest.param("OK\r\n250 fake", None, id="CRLF-in-text"),
        pytest.param("OK\r250 fake", None, id="CR-in-text"),
        pytest.param("OK\0", None, id="NUL-in-text"),
        pytest.param("OK", "2.0.0\r\n250 fake", id="CRLF-in-status"),
        pytest.param("OK", "2.0.0\n", id="LF-in-status"),
    ],
)
def test_reply_with_cr_or_nul_cannot_be_made(text: str, status: str | None) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(250, status, text)


def test_lf_in_reply_text_only_makes_more_lines_of_the_same_reply() -> None:
    reply = Reply(250, "2.0.0", "OK\n354 Go ahead")
    assert format_reply(reply) == b"250-2.0.0 OK\r\n250 2.0.0 354 Go ahead\r\n"
    client = client_ready()
    client.send(Noop())
    client.receive_data(format_reply(reply))
    assert client.next_event() == reply
    assert client.next_event() is NEED_DATA


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: (_client_greeted(), Ehlo("client\ud800")), id="EHLO"),
        pytest.param(lambda: (client_ready(), Noop("\ud800")), id="NOOP"),
        pytest.param(lambda: (client_ready(), MailFrom("a\ud800@example.com")), id="MAIL"),
    ],
)
def test_unencodable_text_in_outgoing_events_is_a_local_error(
    make: Callable[[], tuple[Connection, Event]],
) -> None:
    # A lone surrogate has no UTF-8 form: the caller's mistake, reported as such
    # (LocalProtocolError, like CR/LF/NUL), not as a UnicodeEncodeError.
    connection, event = make()
    before = state(connection)
    with pytest.raises(LocalProtocolError):
        connection.send(event)
    assert state(connection) is before


def test_unencodable_reply_text_is_refused_when_the_reply_is_made() -> None:
    with pytest.raises(LocalProtocolError, match="cannot be encoded"):
        Reply(220, None, "mx\ud800")


def _client_after_ehlo() -> Connection:
    client = _client_greeted()
    client.send(Ehlo("client.example"))
    return client


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(b"250 mx.example\rSTARTTLS\r\n", id="CR"),
        pytest.param(b"250 mx.example\0\r\n", id="NUL"),
    ],
)
def test_reply_line_with_bare_cr_or_nul_is_a_remote_error(wire: bytes) -> None:
    # RFC 5321 §4.2: textstring is HT and printable characters; the server broke
    # the framing, so it is the server's error, and the session is over.
    client = _client_after_ehlo()
    client.receive_data(wire)
    with pytest.raises(RemoteProtocolError):
        client.next_event()
    assert state(client) is State.ERROR


def test_bare_lf_in_a_reply_line_does_not_make_another_line() -> None:
    # Only CRLF ends a reply line (RFC 5321 §4.2): a bare LF inside one must not
    # add an EHLO keyword. Refusing the reply is as good as keeping it as text.
    client = _client_after_ehlo()
    client.receive_data(b"250-mx.example\r\n250 SIZE 1000\nSTARTTLS\r\n")
    try:
        reply = client.next_event()
    except RemoteProtocolError:
        assert state(client) is State.ERROR
        return
    assert isinstance(reply, Reply)
    assert len(reply.lines) == 2
    assert not client.extensions.starttls


# --- command line limits (RFC 5321 §4.5.3.1.4) --------------------------------------------


def test_command_line_of_512_octets_is_accepted() -> None:
    server = server_ready()
    line = b"NOOP " + b"x" * 505 + b"\r\n"
    assert len(line) == 512
    assert feed(server, line) == [Noop("x" * 505), PAUSED]


def test_command_line_of_513_octets_is_refused_and_the_next_command_works() -> None:
    server = server_ready()
    line = b"NOOP " + b"x" * 506 + b"\r\n"
    assert len(line) == 513
    events = feed(server, line + b"RSET\r\n")
    assert len(events) == 2
    assert rejected(events[0]) == (500, "5.5.2")
    assert events[1] is PAUSED
    server.send(Reply(500, "5.5.2", "Line too long"))
    assert state(server) is State.READY
    assert drain(server) == [Rset(), PAUSED]


def test_client_refuses_to_send_a_command_line_over_512_octets() -> None:
    # RFC 5321 §4.5.3.1.4, and Limits: a limit "a sender MUST NOT exceed"; the
    # server would only answer 500 5.5.2.
    client = client_ready()
    assert len(client.send(Noop("x" * 505))) == 512
    client.receive_data(b"250 OK\r\n")
    client.next_event()
    with pytest.raises(LocalProtocolError):
        client.send(Noop("x" * 506))
    assert client.send(Noop()) == b"NOOP\r\n"  # nothing was queued


@pytest.mark.parametrize("piece", [1, 7, 64, 511, 513])
def test_long_command_line_in_small_pieces_is_refused_once(piece: int) -> None:
    server = server_ready()
    line = b"NOOP " + b"x" * 2000 + b" MAIL FROM:<evil@x.example>\r\n"
    events: list[Event | Sentinel] = []
    for start in range(0, len(line), piece):
        events += feed(server, line[start : start + piece])
    assert [e for e in events if e is not NEED_DATA] == [events[-2], PAUSED]
    assert rejected(events[-2]) == (500, "5.5.2")
    server.send(Reply(500, "5.5.2", "Line too long"))
    assert feed(server, b"NOOP\r\n") == [Noop(), PAUSED]


def test_long_command_line_with_crlf_split_across_reads_is_refused_once() -> None:
    server = server_ready()
    assert feed(server, b"NOOP " + b"x" * 600 + b"\r") == [NEED_DATA]
    events = feed(server, b"\nNOOP\r\n")
    assert rejected(events[0]) == (500, "5.5.2")
    assert events[1:] == [PAUSED]
    server.send(Reply(500, "5.5.2", "Line too long"))
    assert drain(server) == [Noop(), PAUSED]


def test_unterminated_line_beyond_the_hard_cap_is_fatal() -> None:
    limits = Limits()
    server = server_ready(limits)
    flood = b"x" * 4096
    sent = 0
    while sent + len(flood) <= limits.line_hard_cap:
        server.receive_data(flood)
        sent += len(flood)
        assert drain(server) == [NEED_DATA]
    assert sent == limits.line_hard_cap  # tolerated up to the cap...
    server.receive_data(b"x")
    with pytest.raises(RemoteProtocolError) as raised:
        server.next_event()  # ... and not one octet more
    assert raised.value.reply is not None
    assert (raised.value.reply.code, raised.value.reply.status) == (421, "4.5.2")
    assert state(server) is State.ERROR
    with pytest.raises(LocalProtocolError):
        server.next_event()


def test_auth_line_may_be_12288_octets() -> None:
    # RFC 4954 §4: AUTH lines and responses up to 12288 octets.
    server = server_ready()
    line = b"AUTH EXTERNAL " + b"QUFB" * 3068 + b"\r\n"
    assert len(line) == 12288
    assert feed(server, line) == [Auth("EXTERNAL", "QUFB" * 3068), PAUSED]


def test_auth_line_of_12289_octets_is_refused() -> None:
    server = server_ready()
    line = b"AUTH EXTERNAL " + b"QUFB" * 3068 + b"=\r\n"
    assert len(line) == 12289
    events = feed(server, line)
    assert rejected(events[0]) == (500, "5.5.2")
    assert events[1:] == [PAUSED]


def test_auth_response_may_be_long_but_not_beyond_12288_octets() -> None:
    server = server_ready()
    assert feed(server, b"AUTH LOGIN\r\n") == [Auth("LOGIN"), PAUSED]
    server.send(Reply(334, None, "VXNlcm5hbWU6"))
    assert feed(server, b"QUFB" * 3071 + b"\r\n") == [AuthResponse("QUFB" * 3071), PAUSED]
    server.send(Reply(334, None, "UGFzc3dvcmQ6"))
    events = feed(server, b"QUFB" * 3072 + b"\r\n")  # 12290 octets
    assert rejected(events[0]) == (500, "5.5.2")


def test_mail_line_may_be_longer_for_its_parameters() -> None:
    # RFC 4954 §5: AUTH= lengthens MAIL by up to 500 octets (and RFC 3461 §5 DSN's).
    server = server_ready()
    auth = "a" * 480 + "@example.com"
    line = f"MAIL FROM:<a@example.com> AUTH={auth}\r\n".encode()
    assert len(line) > 512
    assert feed(server, line) == [MailFrom("a@example.com", auth=auth), PAUSED]


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"NOOP a\nb\r\n", id="bare-LF"),
        pytest.param(b"NOOP a\rb\r\n", id="bare-CR"),
        pytest.param(b"NOOP a\0b\r\n", id="NUL"),
        pytest.param(b"NOOP\nMAIL FROM:<evil@x.example>\r\n", id="LF-separated-command"),
        pytest.param(b"NOOP\rMAIL FROM:<evil@x.example>\r\n", id="CR-separated-command"),
    ],
)
@FEEDS
def test_bare_cr_lf_or_nul_in_command_line_is_refused(line: bytes, bytewise: bool) -> None:
    server = server_ready()
    events = feed(server, line, bytewise=bytewise)
    assert len(events) == 2
    assert rejected(events[0]) == (500, "5.5.2")
    assert events[1] is PAUSED
    server.send(Reply(500, "5.5.2", "Bad characters"))
    assert state(server) is State.READY  # no MAIL was executed
    assert server.next_event() is NEED_DATA


def test_non_utf8_command_line_is_refused() -> None:
    server = server_ready()
    events = feed(server, b"VRFY \xff\xfe\r\n")
    assert rejected(events[0]) == (500, "5.5.2")
    assert events[1:] == [PAUSED]


def test_too_many_bad_commands_end_the_session_with_421() -> None:
    server = server_ready(Limits(bad_commands=3))
    for _ in range(3):
        events = feed(server, b"XYZZY\r\n")
        assert rejected(events[0]) == (500, "5.5.2")
        server.send(Reply(500, "5.5.2", "Unrecognized"))
    server.receive_data(b"XYZZY\r\n")
    with pytest.raises(RemoteProtocolError) as raised:
        server.next_event()
    assert raised.value.reply is not None
    assert (raised.value.reply.code, raised.value.reply.status) == (421, "4.7.0")
    assert state(server) is State.ERROR


def test_recipients_beyond_the_limit_get_452() -> None:
    # RFC 5321 §4.5.3.1.10: 452 for too many recipients, not a 5xx.
    server = server_ready(Limits(recipients=2))
    feed(server, b"MAIL FROM:<a@example.com>\r\n")
    server.send(Reply(250))
    for n in range(2):
        assert feed(server, f"RCPT TO:<b{n}@example.com>\r\n".encode())[0] == RcptTo(
            f"b{n}@example.com"
        )
        server.send(Reply(250))
    events = feed(server, b"RCPT TO:<b2@example.com>\r\n")
    assert rejected(events[0]) == (452, "4.5.3")
    server.send(Reply(452, "4.5.3", "Too many recipients"))
    assert state(server) is State.RCPT


# --- message content limits (RFC 5321 §4.5.3.1.6, RFC 1870) ----------------------------


@FEEDS
def test_text_line_of_1000_octets_is_accepted(bytewise: bool) -> None:
    server = server_in_data()
    content = b"x" * 998 + b"\r\n"
    assert feed(server, content + b".\r\n", bytewise=bytewise) == [
        MessageData(content),
        EndOfMessage(),
        PAUSED,
    ]


@FEEDS
def test_text_line_over_1000_octets_refuses_the_message_at_its_end(bytewise: bool) -> None:
    server = server_in_data()
    content = b"Subject: x\r\n\r\n" + b"x" * 999 + b"\r\nMAIL FROM:<evil@x.example>\r\n"
    events = feed(server, content, bytewise=bytewise)
    assert [e for e in events if not isinstance(e, MessageData)] == [NEED_DATA]
    events = feed(server, b".\r\n")
    assert rejected(events[-2]) == (550, "5.6.0")
    assert events[-1] is PAUSED
    server.send(Reply(550, "5.6.0", "Line too long"))
    assert state(server) is State.READY
    assert server.next_event() is NEED_DATA


def test_stuffed_dot_does_not_count_toward_the_text_line_limit() -> None:
    # RFC 5321 §4.5.3.1.6: 1000 octets "not counting the leading dot duplicated
    # for transparency".
    server = server_in_data()
    content = b"." + b"x" * 997 + b"\r\n"
    assert len(content) == 1000
    wire = b"." + content + b".\r\n"
    assert feed(server, wire) == [MessageData(content), EndOfMessage(), PAUSED]


def test_long_text_lines_are_accepted_without_the_limit() -> None:
    server = server_in_data(Limits(text_line=None))
    content = b"x" * 5000 + b"\r\n"
    assert feed(server, content + b".\r\n") == [MessageData(content), EndOfMessage(), PAUSED]


def test_message_of_exactly_the_size_limit_is_accepted() -> None:
    server = server_in_data(Limits(message_size=100))
    content = b"x" * 98 + b"\r\n"
    assert feed(server, content + b".\r\n") == [MessageData(content), EndOfMessage(), PAUSED]


@pytest.mark.parametrize("piece", [1, 10, 1000])
def test_message_over_the_size_limit_is_read_to_its_end_then_refused_552(piece: int) -> None:
    server = server_in_data(Limits(message_size=100))
    content = b"x" * 99 + b"\r\n" + b"MAIL FROM:<evil@x.example>\r\n" * 10
    wire = content + b".\r\n"
    events: list[Event | Sentinel] = []
    for start in range(0, len(wire), piece):
        server.receive_data(wire[start : start + piece])
        events += [e for e in drain(server) if e is not NEED_DATA]
    data = [e for e in events if isinstance(e, MessageData)]
    # Nothing beyond the limit reaches the application...
    assert events[: len(data)] == data
    assert content.startswith(b"".join(e.data for e in data))
    assert sum(len(e.data) for e in data) <= 100
    # ... and the refusal comes at the real end of the message.
    assert len(events) == len(data) + 2
    assert rejected(events[-2]) == (552, "5.3.4")
    assert events[-1] is PAUSED
    server.send(Reply(552, "5.3.4", "Too big"))
    assert state(server) is State.READY
    assert server.next_event() is NEED_DATA


def test_bdat_message_over_the_size_limit_is_read_to_its_end_then_refused_552() -> None:
    server = server_with_recipient(Limits(message_size=100))
    chunk = b"x" * 60
    assert feed(server, b"BDAT 60\r\n" + chunk) == [
        Bdat(60),
        MessageData(chunk),
        EndOfChunk(),
        PAUSED,
    ]
    server.send(Reply(250, "2.0.0", "60 octets received"))
    assert state(server) is State.CHUNKING
    chunk = b"MAIL FROM:<evil@x.example>\r\n" + b"y" * 32
    assert len(chunk) == 60
    events = feed(server, b"BDAT 60 LAST\r\n" + chunk)
    # RFC 3030 §4: the whole chunk is read, none of it is delivered, then 552.
    assert not any(isinstance(e, MessageData | MailFrom) for e in events)
    assert rejected(events[-2]) == (552, "5.3.4")
    assert events[-1] is PAUSED
    server.send(Reply(552, "5.3.4", "Too big"))
    assert state(server) is State.READY
    assert server.next_event() is NEED_DATA


def test_first_bdat_chunk_over_the_size_limit_is_refused_552() -> None:
    server = server_with_recipient(Limits(message_size=100))
    events = feed(server, b"BDAT 150 LAST\r\n" + b"z" * 150 + b"NOOP\r\n")
    assert not any(isinstance(e, MessageData) for e in events)
    assert rejected(events[-2]) == (552, "5.3.4")
    server.send(Reply(552, "5.3.4", "Too big"))
    assert drain(server) == [Noop(), PAUSED]


# --- end of file inside message content -------------------------------------------------


@pytest.mark.parametrize("tail", [b"", b"partial", b"partial\r\n", b"partial\r\n."])
def test_eof_inside_data_is_fatal(tail: bytes) -> None:
    server = server_in_data()
    if tail:
        assert feed(server, tail)[-1] is NEED_DATA
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        drain(server)
    assert state(server) is State.ERROR


def test_eof_inside_bdat_chunk_is_fatal() -> None:
    server = server_with_recipient()
    assert feed(server, b"BDAT 10\r\nabc") == [Bdat(10), MessageData(b"abc"), NEED_DATA]
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    assert state(server) is State.ERROR


# --- replies (client side) ----------------------------------------------------------------


def test_reply_line_beyond_the_hard_cap_is_fatal() -> None:
    limits = Limits()
    client = Connection(CLIENT, limits)
    client.receive_data(b"220 " + b"x" * (limits.line_hard_cap - 4))
    assert client.next_event() is NEED_DATA  # tolerated up to the cap...
    client.receive_data(b"x")
    with pytest.raises(RemoteProtocolError):
        client.next_event()  # ... not one octet more
    assert state(client) is State.ERROR


def test_reply_with_too_many_lines_is_fatal() -> None:
    client = Connection(CLIENT, Limits(reply_lines=5))
    client.receive_data(b"220-mx.example\r\n" * 4 + b"220 ESMTP\r\n")
    assert client.next_event() == Reply(220, None, "mx.example\n" * 4 + "ESMTP")
    client.send(Noop())
    client.receive_data(b"250-more\r\n" * 6)
    with pytest.raises(RemoteProtocolError):
        client.next_event()  # before the last line even arrives
    assert state(client) is State.ERROR


# --- address limits (RFC 5321 §4.5.3.1.1-3, §4.1.3) ---------------------------------------


def _domain(size: int) -> str:
    """A domain name of exactly ``size`` octets, in labels of at most 50."""
    labels = []
    while size > 0:
        label = min(50, size)
        if size - label == 1:  # do not leave a lone dot
            label -= 1
        labels.append("d" * label)
        size -= label + 1
    return ".".join(labels)


def _mail(server: Connection, path: str) -> Event | Sentinel:
    return feed(server, f"MAIL FROM:<{path}>\r\n".encode())[0]


def _rcpt(path: str) -> Event | Sentinel:
    server = server_ready()
    feed(server, b"MAIL FROM:<a@example.com>\r\n")
    server.send(Reply(250))
    return feed(server, f"RCPT TO:<{path}>\r\n".encode())[0]


def test_local_part_of_64_octets_is_accepted() -> None:
    path = "l" * 64 + "@example.com"
    assert _mail(server_ready(), path) == MailFrom(path)
    assert _rcpt(path) == RcptTo(path)


def test_local_part_of_65_octets_is_refused_501() -> None:
    path = "l" * 65 + "@example.com"
    assert rejected(_mail(server_ready(), path)) == (501, "5.1.7")
    assert rejected(_rcpt(path)) == (501, "5.1.3")


def test_domain_of_255_octets_is_accepted_and_256_refused_501() -> None:
    assert len(_domain(255)) == 255
    limits = Limits(path=1000)  # the path limit would bite first
    assert _mail(server_ready(limits), "a@" + _domain(255)) == MailFrom("a@" + _domain(255))
    assert rejected(_mail(server_ready(limits), "a@" + _domain(256))) == (501, "5.1.7")


def test_path_of_256_octets_is_accepted_and_257_refused_501() -> None:
    mailbox = "l" * 64 + "@" + _domain(189)
    assert len(mailbox) + 2 == 256
    assert _mail(server_ready(), mailbox) == MailFrom(mailbox)
    longer = "l" * 64 + "@" + _domain(190)
    assert rejected(_mail(server_ready(), longer)) == (501, "5.1.7")
    assert rejected(_rcpt(longer)) == (501, "5.1.3")


@pytest.mark.parametrize(
    "literal",
    [
        "[IPv6:2001:db8::g]",
        "[IPv6:1:2:3:4:5:6:7:8:9]",
        "[IPv6:1::2::3]",
        "[IPv6:]",
        "[IPv6:192.0.2.1]",
        "[256.0.0.1]",
        "[192.0.2]",
    ],
)
def test_invalid_address_literal_is_refused_501(literal: str) -> None:
    assert rejected(_mail(server_ready(), "a@" + literal)) == (501, "5.1.7")
    assert rejected(_rcpt("b@" + literal)) == (501, "5.1.3")


@pytest.mark.parametrize(
    "literal", ["[IPv6:2001:db8::1]", "[IPv6:::ffff:192.0.2.1]", "[192.0.2.1]"]
)
def test_valid_address_literal_is_accepted(literal: str) -> None:
    assert _mail(server_ready(), "a@" + literal) == MailFrom("a@" + literal)


def test_source_route_is_accepted_and_dropped() -> None:
    # RFC 5321 §4.1.1.3 and Appendix C: accept the route, ignore it.
    route = "@a.example,@b.example:user@c.example"
    assert _mail(server_ready(), route) == MailFrom("user@c.example")
    assert _rcpt(route) == RcptTo("user@c.example")
