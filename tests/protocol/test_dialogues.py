"""Whole dialogues: a client engine and a server engine back to back.

Every test plays a script through ``run_dialogue``, which runs it twice (bytes
fed whole, then one byte at a time) and checks both runs agree; the tests then
assert the exact replies, the events each side saw and the final states.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace

import pytest
from tests.protocol.dialogue import (
    AUTH_OK,
    BYE,
    CANNOT_VRFY,
    CHUNK_OK,
    EHLO_REPLY,
    EXTENSIONS,
    GO_AHEAD,
    GREETING,
    HELO_REPLY,
    HELP_TEXT,
    NO_EXPN,
    NO_SUCH_USER,
    OK,
    QUEUED,
    RECIPIENT_OK,
    RESET,
    SENDER_OK,
    TLS_GO_AHEAD,
    Application,
    Dialogue,
    Feed,
    codes,
    rejections,
    run_dialogue,
    state,
)

from smtpx.protocol import (
    PAUSED,
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
    LocalProtocolError,
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

SENDER = "alice@example.org"
RECIPIENT = "bob@example.net"
UNKNOWN = "nobody@example.net"
MESSAGE = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: Hello\r\n\r\nHi Bob.\r\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def refuse_unknown(event: Event, server: Connection) -> Reply:
    """RCPT: the mailbox "nobody" does not exist."""
    assert isinstance(event, RcptTo)
    return NO_SUCH_USER if event.forward_path == UNKNOWN else RECIPIENT_OK


def open_transaction(d: Dialogue, *recipients: str) -> None:
    """EHLO, MAIL and RCPT, each answered positively."""
    assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
    assert d.send(MailFrom(SENDER)) == [SENDER_OK]
    for recipient in recipients or (RECIPIENT,):
        assert d.send(RcptTo(recipient)) == [RECIPIENT_OK]


def deliver(d: Dialogue, *pieces: bytes) -> list[Reply]:
    """DATA, then the content in ``pieces``, then its end; the final replies."""
    assert d.send(Data()) == [GO_AHEAD]
    assert state(d.client) is State.DATA
    return d.send(*[MessageData(piece) for piece in pieces], EndOfMessage())


def content_received(d: Dialogue) -> list[bytes]:
    """The message content the server got, one entry per message."""
    messages: list[bytes] = []
    current = b""
    for event in d.server_events:
        if isinstance(event, MessageData):
            current += event.data
        elif isinstance(event, EndOfMessage):
            messages.append(current)
            current = b""
    return messages


# --- a whole session ------------------------------------------------------------------


def test_plain_session_delivers_one_message_and_closes() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(MailFrom(SENDER)) == [SENDER_OK]
        assert d.send(RcptTo(RECIPIENT)) == [RECIPIENT_OK]
        assert d.send(Data()) == [GO_AHEAD]
        assert d.send(MessageData(MESSAGE), EndOfMessage()) == [QUEUED]
        assert d.send(Quit()) == [BYE]

    d = run_dialogue(script)
    assert d.greeting == [GREETING]
    assert d.client_events == [
        GREETING,
        EHLO_REPLY,
        SENDER_OK,
        RECIPIENT_OK,
        GO_AHEAD,
        QUEUED,
        BYE,
        ConnectionClosed(),
    ]
    assert d.server_events == [
        Ehlo("client.example"),
        MailFrom(SENDER),
        RcptTo(RECIPIENT),
        Data(),
        MessageData(MESSAGE),
        EndOfMessage(),
        Quit(),
        ConnectionClosed(),
    ]
    assert bytes(d.client_wire) == (
        b"EHLO client.example\r\n"
        b"MAIL FROM:<alice@example.org>\r\n"
        b"RCPT TO:<bob@example.net>\r\n"
        b"DATA\r\n" + MESSAGE + b".\r\n"
        b"QUIT\r\n"
    )
    assert bytes(d.server_wire).startswith(b"220 mx.example ESMTP smtpx\r\n250-mx.example\r\n")
    assert d.client.extensions == EXTENSIONS
    assert d.server.extensions == EXTENSIONS
    assert d.states == (State.CLOSED, State.CLOSED)


def test_helo_session_has_no_extensions_and_refuses_esmtp_parameters() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Helo("client.example")) == [HELO_REPLY]
        assert d.client.extensions == Extensions()
        assert d.server.extensions == Extensions()
        # RFC 5321 §4.1.1.11 / RFC 1870: SIZE exists only when EHLO offered it.
        with pytest.raises(LocalProtocolError):
            d.client.send(MailFrom(SENDER, size=1000))
        assert state(d.client) is State.READY
        answer = d.send_raw(b"MAIL FROM:<alice@example.org> SIZE=1000\r\n")
        assert answer.startswith(b"555 5.5.4 ")
        assert state(d.server) is State.READY
        assert d.send(MailFrom(SENDER)) == [SENDER_OK]
        assert d.send(RcptTo(RECIPIENT)) == [RECIPIENT_OK]
        assert deliver(d, MESSAGE) == [QUEUED]

    d = run_dialogue(script)
    assert rejections(d.server_events) == [(555, "5.5.4")]
    assert d.server_events[0] == Helo("client.example")
    assert content_received(d) == [MESSAGE]
    assert d.states == (State.READY, State.READY)


# --- pipelining (RFC 2920) ------------------------------------------------------------


def test_pipelined_transaction_with_one_refused_recipient() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        before = len(d.client_wire)
        replies = d.send(MailFrom(SENDER), RcptTo(RECIPIENT), RcptTo(UNKNOWN), Data())
        assert replies == [SENDER_OK, RECIPIENT_OK, NO_SUCH_USER, GO_AHEAD]
        # One write carried all four commands.
        assert bytes(d.client_wire[before:]) == (
            b"MAIL FROM:<alice@example.org>\r\n"
            b"RCPT TO:<bob@example.net>\r\n"
            b"RCPT TO:<nobody@example.net>\r\n"
            b"DATA\r\n"
        )
        assert d.states == (State.DATA, State.DATA)
        assert d.send(MessageData(MESSAGE), EndOfMessage()) == [QUEUED]

    d = run_dialogue(script, answers={RcptTo: refuse_unknown})
    assert d.server_events == [
        Ehlo("client.example"),
        MailFrom(SENDER),
        RcptTo(RECIPIENT),
        RcptTo(UNKNOWN),
        Data(),
        MessageData(MESSAGE),
        EndOfMessage(),
    ]
    assert d.states == (State.READY, State.READY)


def test_pipelined_data_after_every_recipient_refused_gets_554() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        replies = d.send(MailFrom(SENDER), RcptTo(UNKNOWN), Data())
        assert codes(replies) == [250, 550, 554]
        assert replies[2].status == "5.5.1"  # RFC 5321 §3.3: no valid recipients
        # The transaction is still open, with no recipient: MAIL state on both sides.
        assert d.states == (State.MAIL, State.MAIL)
        assert d.send(Rset()) == [RESET]

    d = run_dialogue(script, answers={RcptTo: refuse_unknown})
    assert d.server_events[1:3] == [MailFrom(SENDER), RcptTo(UNKNOWN)]
    assert rejections(d.server_events) == [(554, "5.5.1")]
    assert Data() not in d.server_events
    assert d.states == (State.READY, State.READY)


# --- STARTTLS (RFC 3207) --------------------------------------------------------------

BEFORE_TLS = Extensions(pipelining=True, starttls=True, enhancedstatuscodes=True)
AFTER_TLS = replace(EXTENSIONS, starttls=False)


def ehlo_by_tls(event: Event, server: Connection) -> Reply:
    """AUTH only over TLS, STARTTLS only before it."""
    return (AFTER_TLS if server.tls else BEFORE_TLS).ehlo_reply("mx.example")


def test_starttls_restarts_the_session_and_extensions_are_learned_again() -> None:
    token = b64(b"\0alice\0secret")

    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [BEFORE_TLS.ehlo_reply("mx.example")]
        assert d.client.extensions == BEFORE_TLS
        assert d.server.extensions == BEFORE_TLS
        assert d.send(StartTls()) == [TLS_GO_AHEAD]
        assert d.states == (State.STARTTLS, State.STARTTLS)
        # RFC 3207 §4.2: nothing more until the handshake.
        assert d.client.next_event() is PAUSED
        assert d.server.next_event() is PAUSED
        with pytest.raises(LocalProtocolError):
            d.client.send(Ehlo("client.example"))
        assert d.start_tls() == (b"", b"")
        assert d.client.tls is True
        assert d.server.tls is True
        # Everything learned before TLS is forgotten; EHLO comes first again.
        assert d.client.extensions == Extensions()
        assert d.server.extensions == Extensions()
        assert d.states == (State.GREETED, State.GREETED)
        with pytest.raises(LocalProtocolError):
            d.client.send(MailFrom(SENDER))
        assert d.send(Ehlo("client.example")) == [AFTER_TLS.ehlo_reply("mx.example")]
        assert d.client.extensions == AFTER_TLS
        assert d.server.extensions == AFTER_TLS
        assert d.send(Auth("PLAIN", token)) == [AUTH_OK]
        open_mail = d.send(MailFrom(SENDER), RcptTo(RECIPIENT))
        assert open_mail == [SENDER_OK, RECIPIENT_OK]
        assert deliver(d, MESSAGE) == [QUEUED]

    d = run_dialogue(script, answers={Ehlo: ehlo_by_tls})
    assert d.server_events == [
        Ehlo("client.example"),
        StartTls(),
        Ehlo("client.example"),
        Auth("PLAIN", token),
        MailFrom(SENDER),
        RcptTo(RECIPIENT),
        Data(),
        MessageData(MESSAGE),
        EndOfMessage(),
    ]
    assert d.client.authenticated is True
    assert d.server.authenticated is True
    assert d.states == (State.READY, State.READY)


# --- AUTH (RFC 4954) ------------------------------------------------------------------

USER, PASSWORD = b"alice", b"secret"
AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")
USERNAME_PROMPT = Reply(334, None, b64(b"Username:"))
PASSWORD_PROMPT = Reply(334, None, b64(b"Password:"))
CRAM_CHALLENGE = b"<1896.697170952@mx.example>"


def check_plain(event: Event, server: Connection) -> Reply:
    assert isinstance(event, Auth)
    assert event.initial_response is not None
    authzid, user, password = base64.b64decode(event.initial_response).split(b"\0")
    return AUTH_OK if (authzid, user, password) == (b"", USER, PASSWORD) else AUTH_FAILED


def login_auth(event: Event, server: Connection) -> Reply:
    return USERNAME_PROMPT


def login_response(event: Event, server: Connection) -> Reply:
    # The two rounds told apart by content, so the application keeps no state.
    assert isinstance(event, AuthResponse)
    answer = base64.b64decode(event.data)
    if answer == USER:
        return PASSWORD_PROMPT
    return AUTH_OK if answer == PASSWORD else AUTH_FAILED


def cram_auth(event: Event, server: Connection) -> Reply:
    return Reply(334, None, b64(CRAM_CHALLENGE))


def cram_response(event: Event, server: Connection) -> Reply:
    # RFC 2195 §2: the response is "user SP hex(HMAC-MD5(secret, challenge))".
    assert isinstance(event, AuthResponse)
    expected = hmac.new(PASSWORD, CRAM_CHALLENGE, hashlib.md5).hexdigest()
    user, _, digest = base64.b64decode(event.data).decode("ascii").partition(" ")
    ok = user.encode() == USER and hmac.compare_digest(digest, expected)
    return AUTH_OK if ok else AUTH_FAILED


def test_auth_plain_with_initial_response_succeeds_in_one_step() -> None:
    token = b64(b"\0" + USER + b"\0" + PASSWORD)

    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(Auth("PLAIN", token)) == [AUTH_OK]

    d = run_dialogue(script, answers={Auth: check_plain})
    assert d.server_events == [Ehlo("client.example"), Auth("PLAIN", token)]
    assert d.client.authenticated is True
    assert d.server.authenticated is True
    assert d.states == (State.READY, State.READY)


def test_auth_login_takes_two_334_rounds() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(Auth("LOGIN")) == [USERNAME_PROMPT]
        assert d.states == (State.AUTH, State.AUTH)
        assert d.send(AuthResponse(b64(USER))) == [PASSWORD_PROMPT]
        assert d.states == (State.AUTH, State.AUTH)
        assert d.client.authenticated is False
        assert d.send(AuthResponse(b64(PASSWORD))) == [AUTH_OK]

    d = run_dialogue(script, answers={Auth: login_auth, AuthResponse: login_response})
    assert d.server_events == [
        Ehlo("client.example"),
        Auth("LOGIN"),
        AuthResponse(b64(USER)),
        AuthResponse(b64(PASSWORD)),
    ]
    assert d.client.authenticated is True
    assert d.server.authenticated is True
    assert d.states == (State.READY, State.READY)


def test_auth_cram_md5_answers_the_challenge_with_hmac_md5() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        (challenge,) = d.send(Auth("CRAM-MD5"))
        assert challenge.code == 334
        digest = hmac.new(PASSWORD, base64.b64decode(challenge.text), hashlib.md5).hexdigest()
        response = b64(USER + b" " + digest.encode("ascii"))
        assert d.send(AuthResponse(response)) == [AUTH_OK]

    d = run_dialogue(script, answers={Auth: cram_auth, AuthResponse: cram_response})
    assert d.client_events[2] == Reply(334, None, b64(CRAM_CHALLENGE))
    assert d.server_events[1] == Auth("CRAM-MD5")
    assert d.client.authenticated is True
    assert d.server.authenticated is True
    assert d.states == (State.READY, State.READY)


def test_auth_cancelled_with_star_gets_501_and_returns_to_ready() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(Auth("LOGIN")) == [USERNAME_PROMPT]
        (cancelled,) = d.send(AuthResponse("*"))
        # RFC 4954 §4: "*" cancels; the server answers 501.
        assert (cancelled.code, cancelled.status) == (501, "5.7.0")
        assert d.states == (State.READY, State.READY)
        assert d.client.authenticated is False
        assert d.server.authenticated is False
        # A cancelled exchange may be started again.
        assert d.send(Auth("LOGIN")) == [USERNAME_PROMPT]

    d = run_dialogue(script, answers={Auth: login_auth, AuthResponse: login_response})
    assert d.server_events[:2] == [Ehlo("client.example"), Auth("LOGIN")]
    assert rejections(d.server_events) == [(501, "5.7.0")]
    assert d.server_events[3:] == [Auth("LOGIN")]
    assert d.states == (State.AUTH, State.AUTH)


# --- BDAT (RFC 3030) ------------------------------------------------------------------

# Chunk boundaries fall anywhere; a chunk may hold what DATA would call an end.
CHUNKS = (b"Subject: chunks\r\n\r\nfirst ", b"second\r\n.\r\n", b"third\r\n")


def test_bdat_chunks_end_with_last() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        first, second, last = CHUNKS
        assert d.send(Bdat(len(first)), MessageData(first)) == [CHUNK_OK]
        assert d.states == (State.CHUNKING, State.CHUNKING)
        assert d.send(Bdat(len(second)), MessageData(second)) == [CHUNK_OK]
        assert d.send(Bdat(len(last), last=True), MessageData(last)) == [QUEUED]

    d = run_dialogue(script)
    first, second, last = CHUNKS
    assert d.server_events[3:] == [
        Bdat(len(first)),
        MessageData(first),
        EndOfChunk(),
        Bdat(len(second)),
        MessageData(second),
        EndOfChunk(),
        Bdat(len(last), last=True),
        MessageData(last),
        EndOfMessage(),
    ]
    assert d.states == (State.READY, State.READY)


def test_bdat_chunks_may_be_pipelined() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        first, second, last = CHUNKS
        replies = d.send(
            MailFrom(SENDER),
            RcptTo(RECIPIENT),
            Bdat(len(first)),
            MessageData(first),
            Bdat(len(second)),
            MessageData(second),
            Bdat(len(last), last=True),
            MessageData(last),
        )
        assert replies == [SENDER_OK, RECIPIENT_OK, CHUNK_OK, CHUNK_OK, QUEUED]

    d = run_dialogue(script)
    assert content_received(d) == [b"".join(CHUNKS)]
    assert d.states == (State.READY, State.READY)


def test_bdat_zero_last_ends_the_message() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert d.send(Bdat(len(MESSAGE)), MessageData(MESSAGE)) == [CHUNK_OK]
        assert d.send(Bdat(0, last=True)) == [QUEUED]

    d = run_dialogue(script)
    assert d.server_events[3:] == [
        Bdat(len(MESSAGE)),
        MessageData(MESSAGE),
        EndOfChunk(),
        Bdat(0, last=True),
        EndOfMessage(),
    ]
    assert bytes(d.client_wire).endswith(b"BDAT 0 LAST\r\n")
    assert d.states == (State.READY, State.READY)


def test_bdat_zero_last_alone_sends_an_empty_message() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert d.send(Bdat(0, last=True)) == [QUEUED]

    d = run_dialogue(script)
    assert d.server_events[3:] == [Bdat(0, last=True), EndOfMessage()]
    assert state(d.server) is State.READY


def test_binarymime_content_travels_unchanged_by_bdat() -> None:
    # RFC 3030 §3: any octets at all, bare CR, LF and NUL included; no stuffing.
    content = bytes(range(256)) + b"\r\n.\r\n\n.\r.\n\0"

    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(MailFrom(SENDER, body="BINARYMIME")) == [SENDER_OK]
        assert d.send(RcptTo(RECIPIENT)) == [RECIPIENT_OK]
        assert d.send(Bdat(len(content), last=True), MessageData(content)) == [QUEUED]

    d = run_dialogue(script)
    assert d.server_events[1] == MailFrom(SENDER, body="BINARYMIME")
    assert d.server_events[3:] == [
        Bdat(len(content), last=True),
        MessageData(content),
        EndOfMessage(),
    ]
    assert b"MAIL FROM:<alice@example.org> BODY=BINARYMIME\r\n" in d.client_wire
    assert state(d.server) is State.READY


# --- RSET, and every basic command with its reply -------------------------------------


def test_rset_mid_transaction_returns_both_sides_to_ready() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert d.send(Rset()) == [RESET]
        assert d.states == (State.READY, State.READY)
        # The recipients went with the transaction.
        with pytest.raises(LocalProtocolError):
            d.client.send(Data())
        assert d.send(MailFrom("carol@example.org")) == [SENDER_OK]
        assert d.send(RcptTo(RECIPIENT)) == [RECIPIENT_OK]
        assert deliver(d, MESSAGE) == [QUEUED]

    d = run_dialogue(script)
    assert d.server_events == [
        Ehlo("client.example"),
        MailFrom(SENDER),
        RcptTo(RECIPIENT),
        Rset(),
        MailFrom("carol@example.org"),
        RcptTo(RECIPIENT),
        Data(),
        MessageData(MESSAGE),
        EndOfMessage(),
    ]
    assert state(d.server) is State.READY


def test_helo_gets_250_and_opens_the_session() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Helo("client.example")) == [HELO_REPLY]

    d = run_dialogue(script)
    assert d.server_events == [Helo("client.example")]
    assert d.states == (State.READY, State.READY)


def test_mail_gets_250_and_opens_a_transaction() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(MailFrom("")) == [SENDER_OK]  # the null reverse-path <>

    d = run_dialogue(script)
    assert d.server_events[-1] == MailFrom("")
    assert b"MAIL FROM:<>\r\n" in d.client_wire
    assert d.states == (State.MAIL, State.MAIL)


@pytest.mark.parametrize(
    ("recipient", "reply", "expected"),
    [(RECIPIENT, RECIPIENT_OK, State.RCPT), (UNKNOWN, NO_SUCH_USER, State.MAIL)],
    ids=["accepted-250", "refused-550"],
)
def test_rcpt_gets_250_or_550(recipient: str, reply: Reply, expected: State) -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(MailFrom(SENDER)) == [SENDER_OK]
        assert d.send(RcptTo(recipient)) == [reply]

    d = run_dialogue(script, answers={RcptTo: refuse_unknown})
    assert d.server_events[-1] == RcptTo(recipient)
    assert d.states == (expected, expected)


def test_data_gets_354_then_250_for_the_content() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert d.send(Data()) == [GO_AHEAD]
        assert d.states == (State.DATA, State.DATA)
        assert d.send(MessageData(MESSAGE)) == []  # no reply until the end
        assert d.send(EndOfMessage()) == [QUEUED]

    d = run_dialogue(script)
    assert d.server_events[3:] == [Data(), MessageData(MESSAGE), EndOfMessage()]
    assert d.states == (State.READY, State.READY)


def test_quit_gets_221_then_the_connection_is_closed() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert d.send(Quit()) == [BYE]
        assert d.client.next_event() == ConnectionClosed()
        assert d.server.next_event() == ConnectionClosed()
        with pytest.raises(LocalProtocolError):
            d.client.send(Noop())

    d = run_dialogue(script)
    assert d.server_events[-2:] == [Quit(), ConnectionClosed()]
    assert d.client_events[-2:] == [BYE, ConnectionClosed()]
    assert d.states == (State.CLOSED, State.CLOSED)


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (Noop(), OK),
        (Noop("ignored argument"), OK),
        (Vrfy("bob"), CANNOT_VRFY),
        (Expn("staff"), NO_EXPN),
        (Help(), HELP_TEXT),
        (Help("MAIL"), HELP_TEXT),
    ],
    ids=["NOOP-250", "NOOP-arg-250", "VRFY-252", "EXPN-502", "HELP-214", "HELP-topic-214"],
)
def test_anytime_command_gets_its_reply_and_keeps_the_transaction(
    command: Event, reply: Reply
) -> None:
    # RFC 5321 §4.1.4: NOOP, HELP, EXPN and VRFY may come at any point.
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(command) == [reply]
        assert d.send(MailFrom(SENDER)) == [SENDER_OK]
        assert d.send(command) == [reply]
        assert d.states == (State.MAIL, State.MAIL)
        assert d.send(RcptTo(RECIPIENT)) == [RECIPIENT_OK]

    d = run_dialogue(script)
    assert d.server_events == [
        Ehlo("client.example"),
        command,
        MailFrom(SENDER),
        command,
        RcptTo(RECIPIENT),
    ]
    assert state(d.server) is State.RCPT


def test_help_multiline_214_reply_round_trips() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Help()) == [HELP_TEXT]

    d = run_dialogue(script)
    assert bytes(d.server_wire).endswith(
        b"214-2.0.0 Commands:\r\n"
        b"214-2.0.0 EHLO HELO MAIL RCPT DATA BDAT\r\n"
        b"214 2.0.0 RSET NOOP QUIT VRFY HELP\r\n"
    )
    help_reply = d.client_events[-1]
    assert help_reply == HELP_TEXT
    assert isinstance(help_reply, Reply)
    assert help_reply.lines == [
        "Commands:",
        "EHLO HELO MAIL RCPT DATA BDAT",
        "RSET NOOP QUIT VRFY HELP",
    ]
    assert d.states == (State.GREETED, State.GREETED)


def test_two_transactions_on_one_connection() -> None:
    second = b"Subject: again\r\n\r\nSecond message.\r\n"

    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert deliver(d, MESSAGE) == [QUEUED]
        assert d.send(MailFrom("carol@example.org"), RcptTo("dave@example.net")) == [
            SENDER_OK,
            RECIPIENT_OK,
        ]
        assert deliver(d, second) == [QUEUED]
        assert d.send(Quit()) == [BYE]

    d = run_dialogue(script)
    assert content_received(d) == [MESSAGE, second]
    envelopes = [e for e in d.server_events if isinstance(e, MailFrom | RcptTo)]
    assert envelopes == [
        MailFrom(SENDER),
        RcptTo(RECIPIENT),
        MailFrom("carol@example.org"),
        RcptTo("dave@example.net"),
    ]
    assert d.states == (State.CLOSED, State.CLOSED)


def test_multiline_reply_carries_enhanced_status_on_every_line() -> None:
    refusal = Reply(550, "5.1.1", "No such user here\nTry postmaster@example.net instead")

    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.send(MailFrom(SENDER)) == [SENDER_OK]
        assert d.send(RcptTo(UNKNOWN)) == [refusal]

    d = run_dialogue(script, answers={RcptTo: refusal})
    # RFC 2034 §3: the enhanced status starts every line of the reply.
    assert bytes(d.server_wire).endswith(
        b"550-5.1.1 No such user here\r\n550 5.1.1 Try postmaster@example.net instead\r\n"
    )
    assert format_reply(refusal) == bytes(d.server_wire[-len(format_reply(refusal)) :])
    assert d.states == (State.MAIL, State.MAIL)


# --- message content: stuffing and line ends (RFC 5321 §4.5.2, §2.3.8) ----------------


def test_dot_stuffed_lines_arrive_unchanged() -> None:
    content = b".leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n."

    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert deliver(d, content) == [QUEUED]

    d = run_dialogue(script)
    assert b"DATA\r\n..leading dot\r\n...two dots\r\n..\r\nafter a lone dot\r\n..\r\n.\r\n" in (
        d.client_wire
    )
    assert content_received(d) == [content + b"\r\n"]


def test_dot_stuffing_holds_across_pieces_split_anywhere() -> None:
    pieces = (b"first\r", b"\n.second\r\n", b".", b"third\r\n")

    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert deliver(d, *pieces) == [QUEUED]

    d = run_dialogue(script)
    assert b"DATA\r\nfirst\r\n..second\r\n..third\r\n.\r\n" in d.client_wire
    assert content_received(d) == [b"".join(pieces)]


def test_content_without_final_crlf_gets_one_added() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert deliver(d, b"Subject: x\r\n\r\nno final line end") == [QUEUED]

    d = run_dialogue(script)
    assert content_received(d) == [b"Subject: x\r\n\r\nno final line end\r\n"]


@pytest.mark.parametrize(
    ("content", "received"),
    [
        (b"Subject: x\n\nunix\nlines\n", b"Subject: x\r\n\r\nunix\r\nlines\r\n"),
        (b"Subject: x\r\rold mac\r", b"Subject: x\r\n\r\nold mac\r\n"),
        (b"Subject: x\r\n\nmixed\r", b"Subject: x\r\n\r\nmixed\r\n"),
    ],
    ids=["LF", "CR", "mixed"],
)
def test_content_line_ends_are_sent_as_crlf(content: bytes, received: bytes) -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert deliver(d, content) == [QUEUED]

    d = run_dialogue(script)
    assert content_received(d) == [received]


def test_empty_message_is_just_the_end_marker() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert d.send(Data()) == [GO_AHEAD]
        assert d.send(EndOfMessage()) == [QUEUED]

    d = run_dialogue(script)
    assert bytes(d.client_wire).endswith(b"DATA\r\n.\r\n")
    assert d.server_events[3:] == [Data(), EndOfMessage()]
    assert content_received(d) == [b""]
    assert state(d.server) is State.READY


def test_rejected_event_carries_the_reply_the_client_reads() -> None:
    # The application sends a Rejected event's reply unchanged; the client reads it back.
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        answer = d.send_raw(b"FROB\r\n")
        assert answer.startswith(b"500 5.5.2 ")

    d = run_dialogue(script)
    (rejected,) = [e for e in d.server_events if isinstance(e, Rejected)]
    assert format_reply(rejected.reply) == bytes(
        d.server_wire[-len(format_reply(rejected.reply)) :]
    )


def test_harness_feeds_one_byte_at_a_time() -> None:
    # The harness itself: the byte-by-byte run really cuts the content into pieces.
    cut = Dialogue(Feed.BYTEWISE, Application())
    open_transaction(cut)
    assert deliver(cut, MESSAGE) == [QUEUED]
    pieces = [e for e in cut.server_events_as_given if isinstance(e, MessageData)]
    assert len(pieces) > 1
    assert b"".join(piece.data for piece in pieces) == MESSAGE
    assert content_received(cut) == [MESSAGE]


def test_554_greeting_leaves_only_quit() -> None:
    # RFC 5321 §3.1: after a 554 greeting the client should send QUIT, nothing else.
    no_service = Reply(554, "5.3.2", "mx.example no SMTP service here")

    def script(d: Dialogue) -> None:
        assert d.greeting == [no_service]
        assert d.states == (State.NO_SERVICE, State.NO_SERVICE)
        with pytest.raises(LocalProtocolError):
            d.client.send(Ehlo("client.example"))
        assert d.send(Quit()) == [BYE]

    d = run_dialogue(script, greeting=no_service)
    assert d.server_events == [Quit(), ConnectionClosed()]
    assert d.client_events == [no_service, BYE, ConnectionClosed()]
    assert d.states == (State.CLOSED, State.CLOSED)


def test_client_hanging_up_between_commands_closes_the_server() -> None:
    def script(d: Dialogue) -> None:
        open_transaction(d)
        assert d.client_closes() == []

    d = run_dialogue(script)
    assert d.server_events[-1] == ConnectionClosed()
    assert d.states == (State.RCPT, State.CLOSED)


def test_server_hanging_up_closes_the_client() -> None:
    def script(d: Dialogue) -> None:
        assert d.send(Ehlo("client.example")) == [EHLO_REPLY]
        assert d.server_closes() == []

    d = run_dialogue(script)
    assert d.client_events[-1] == ConnectionClosed()
    assert d.states == (State.CLOSED, State.READY)
