"""The client engine's rules: what it refuses to send, and what it refuses to read.

Sending: a command out of sequence, a pipelined command the server did not allow,
or a parameter the server did not offer is a LocalProtocolError before a byte is
written, and the state does not change. Reading: a reply that breaks the framing
or answers nothing is a RemoteProtocolError and the state is ERROR, except 421,
which a server may send at any time (RFC 5321 §3.8). Replies are fed whole and
one byte at a time (the ``feed`` fixture).
"""

from __future__ import annotations

import pytest
from tests.protocol.dialogue import (
    EXTENSIONS,
    GREETING,
    Feed,
    client_after,
    read_replies,
    state,
)

from smtpx.protocol import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    Auth,
    AuthResponse,
    Bdat,
    Connection,
    ConnectionClosed,
    Data,
    Ehlo,
    EndOfMessage,
    Event,
    Expn,
    Extensions,
    Help,
    Limits,
    LocalProtocolError,
    MailFrom,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    RemoteProtocolError,
    Reply,
    Rset,
    StartTls,
    State,
    Vrfy,
    format_reply,
)

SENDER_OK = b"250 2.1.0 Sender OK\r\n"
RECIPIENT_OK = b"250 2.1.5 Recipient OK\r\n"
NO_PIPELINING = Extensions(size=1000, eightbitmime=True, enhancedstatuscodes=True)


ALICE = MailFrom("alice@example.org")


def in_transaction(
    extensions: Extensions | None = EXTENSIONS, mail: MailFrom = ALICE
) -> Connection:
    """A client whose MAIL and one RCPT were accepted."""
    client = client_after(extensions)
    client.send(mail)
    assert read_replies(client, SENDER_OK) == [Reply(250, "2.1.0", "Sender OK")]
    client.send(RcptTo("bob@example.net"))
    assert read_replies(client, RECIPIENT_OK) == [Reply(250, "2.1.5", "Recipient OK")]
    assert state(client) is State.RCPT
    return client


# --- pipelining (RFC 2920) ------------------------------------------------------------


def test_pipelining_without_pipelining_advertised_is_a_local_error() -> None:
    client = client_after(NO_PIPELINING)
    client.send(MailFrom("alice@example.org"))
    with pytest.raises(LocalProtocolError):
        client.send(RcptTo("bob@example.net"))
    assert state(client) is State.READY
    # Once the reply is in, the next command may go.
    read_replies(client, SENDER_OK)
    assert client.send(RcptTo("bob@example.net")) == b"RCPT TO:<bob@example.net>\r\n"


def test_pipelining_after_helo_is_a_local_error() -> None:
    client = client_after(None)
    client.send(MailFrom("alice@example.org"))
    with pytest.raises(LocalProtocolError):
        client.send(RcptTo("bob@example.net"))


def test_commands_before_the_greeting_are_a_local_error() -> None:
    client = Connection(CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send(Ehlo("client.example"))
    assert state(client) is State.CONNECTED


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ((Ehlo("client.example"),), MailFrom("alice@example.org")),
        ((Noop(),), MailFrom("alice@example.org")),
        ((Vrfy("bob"),), Rset()),
        ((Expn("staff"),), Noop()),
        ((Help(),), Noop()),
        ((Auth("PLAIN", "AGFsaWNlAHNlY3JldA=="),), MailFrom("alice@example.org")),
        ((StartTls(),), Ehlo("client.example")),
        ((Quit(),), Noop()),
        ((MailFrom("alice@example.org"), RcptTo("bob@example.net"), Data()), Rset()),
        ((MailFrom("alice@example.org"), RcptTo("bob@example.net"), Data()), Noop()),
    ],
    ids=[
        "EHLO",
        "NOOP",
        "VRFY",
        "EXPN",
        "HELP",
        "AUTH",
        "STARTTLS",
        "QUIT",
        "DATA-RSET",
        "DATA-NOOP",
    ],
)
def test_command_that_ends_a_pipelined_group_must_be_answered_first(
    first: tuple[Event, ...], then: Event
) -> None:
    # RFC 2920 §3.1: EHLO, DATA, VRFY, EXPN, NOOP, QUIT, AUTH, STARTTLS end a group.
    client = client_after(EXTENSIONS)
    for event in first:
        client.send(event)
    with pytest.raises(LocalProtocolError):
        client.send(then)


def test_pipelined_group_may_hold_mail_rcpt_and_data() -> None:
    client = client_after(EXTENSIONS)
    wire = b"".join(
        client.send(event)
        for event in (
            MailFrom("alice@example.org"),
            RcptTo("bob@example.net"),
            RcptTo("carol@example.net"),
            Data(),
        )
    )
    assert wire == (
        b"MAIL FROM:<alice@example.org>\r\n"
        b"RCPT TO:<bob@example.net>\r\n"
        b"RCPT TO:<carol@example.net>\r\n"
        b"DATA\r\n"
    )
    assert state(client) is State.READY  # nothing answered yet


# --- sequence -------------------------------------------------------------------------


def test_rcpt_before_mail_is_a_local_error() -> None:
    client = client_after(EXTENSIONS)
    with pytest.raises(LocalProtocolError):
        client.send(RcptTo("bob@example.net"))
    assert state(client) is State.READY


def test_data_before_rcpt_is_a_local_error() -> None:
    client = client_after(EXTENSIONS)
    client.send(MailFrom("alice@example.org"))
    read_replies(client, SENDER_OK)
    assert state(client) is State.MAIL
    with pytest.raises(LocalProtocolError):
        client.send(Data())
    assert state(client) is State.MAIL


def test_data_after_the_only_recipient_was_refused_is_a_local_error() -> None:
    client = client_after(EXTENSIONS)
    client.send(MailFrom("alice@example.org"))
    client.send(RcptTo("nobody@example.net"))
    read_replies(client, SENDER_OK + b"550 5.1.1 No such user\r\n")
    assert state(client) is State.MAIL
    with pytest.raises(LocalProtocolError):
        client.send(Data())


def test_message_data_before_354_is_a_local_error() -> None:
    client = in_transaction()
    with pytest.raises(LocalProtocolError):
        client.send(MessageData(b"too early\r\n"))
    client.send(Data())
    with pytest.raises(LocalProtocolError):
        client.send(MessageData(b"still too early\r\n"))
    with pytest.raises(LocalProtocolError):
        client.send(EndOfMessage())
    read_replies(client, b"354 Go ahead\r\n")
    assert state(client) is State.DATA
    assert client.send(MessageData(b"now\r\n")) == b"now\r\n"


def test_mail_before_ehlo_is_a_local_error() -> None:
    client = Connection(CLIENT)
    read_replies(client, format_reply(GREETING))
    assert state(client) is State.GREETED
    with pytest.raises(LocalProtocolError):
        client.send(MailFrom("alice@example.org"))


def test_auth_response_without_334_is_a_local_error() -> None:
    client = client_after(EXTENSIONS)
    with pytest.raises(LocalProtocolError):
        client.send(AuthResponse("dXNlcg=="))
    client.send(Auth("LOGIN"))
    with pytest.raises(LocalProtocolError):
        client.send(AuthResponse("dXNlcg=="))  # the 334 has not come yet


def test_a_server_event_cannot_be_sent_by_a_client() -> None:
    client = client_after(EXTENSIONS)
    with pytest.raises(LocalProtocolError):
        client.send(Reply(250, "2.0.0", "OK"))


# --- replies nobody asked for ---------------------------------------------------------


def test_reply_nobody_expected_is_a_remote_error(feed: Feed) -> None:
    client = client_after(EXTENSIONS)
    with pytest.raises(RemoteProtocolError):
        read_replies(client, b"250 2.0.0 OK\r\n", feed)
    assert state(client) is State.ERROR


def test_extra_reply_after_the_expected_one_is_a_remote_error(feed: Feed) -> None:
    client = client_after(EXTENSIONS)
    client.send(Noop())
    with pytest.raises(RemoteProtocolError):
        read_replies(client, b"250 2.0.0 OK\r\n250 2.0.0 again\r\n", feed)
    assert state(client) is State.ERROR


def test_unsolicited_421_is_a_reply_and_closes(feed: Feed) -> None:
    client = client_after(EXTENSIONS)
    events = read_replies(client, b"421 4.3.0 Shutting down\r\n", feed)
    assert events == [Reply(421, "4.3.0", "Shutting down"), ConnectionClosed()]
    assert state(client) is State.CLOSED
    with pytest.raises(LocalProtocolError):
        client.send(Noop())


def test_421_to_a_pending_command_closes_and_drops_the_rest(feed: Feed) -> None:
    client = client_after(EXTENSIONS)
    for event in (MailFrom("alice@example.org"), RcptTo("bob@example.net"), Data()):
        client.send(event)
    events = read_replies(client, b"421 4.7.0 Too busy\r\n", feed)
    assert events == [Reply(421, "4.7.0", "Too busy"), ConnectionClosed()]
    assert state(client) is State.CLOSED
    # The replies to RCPT and DATA are no longer awaited: EOF is a clean close.
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed()


def test_421_answering_the_greeting_closes(feed: Feed) -> None:
    client = Connection(CLIENT)
    events = read_replies(client, b"421 4.3.2 Try later\r\n", feed)
    assert events == [Reply(421, "4.3.2", "Try later"), ConnectionClosed()]
    assert state(client) is State.CLOSED


# --- malformed replies (RFC 5321 §4.2) ------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"2x0 OK\r\n",
        b"abc hello\r\n",
        b"25\r\n",
        b"\r\n",
        b"650 OK\r\n",
        b"150 OK\r\n",
        b"250_OK\r\n",
        b"250OK\r\n",
        b" 250 OK\r\n",
        b"250-first\r\n251 second\r\n",
        b"250-first\r\n550 second\r\n",
        b"250-first\r\n250_second\r\n",
    ],
    ids=[
        "non-digit",
        "letters",
        "short",
        "empty",
        "first-digit-6",
        "first-digit-1",
        "bad-separator",
        "no-separator",
        "leading-space",
        "code-changes",
        "class-changes",
        "bad-separator-continued",
    ],
)
def test_malformed_reply_line_is_a_remote_error(data: bytes, feed: Feed) -> None:
    client = client_after(EXTENSIONS)
    client.send(Noop())
    with pytest.raises(RemoteProtocolError):
        read_replies(client, data, feed)
    assert state(client) is State.ERROR


def test_reply_code_alone_is_a_whole_reply(feed: Feed) -> None:
    # RFC 5321 §4.2: the text after the code is optional.
    client = client_after(EXTENSIONS)
    client.send(Noop())
    assert read_replies(client, b"250\r\n", feed) == [Reply(250, None, "")]


def test_multiline_reply_is_one_event(feed: Feed) -> None:
    client = client_after(EXTENSIONS)
    client.send(Help())
    data = b"214-2.0.0 first\r\n214-2.0.0 second\r\n214 2.0.0 last\r\n"
    assert read_replies(client, data, feed) == [Reply(214, "2.0.0", "first\nsecond\nlast")]


def test_remote_error_leaves_the_engine_unusable() -> None:
    client = client_after(EXTENSIONS)
    with pytest.raises(RemoteProtocolError):
        read_replies(client, b"250 unasked\r\n")
    with pytest.raises(LocalProtocolError):
        client.next_event()
    with pytest.raises(LocalProtocolError):
        client.send(Noop())


# --- end of file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"250-first line\r\n", b"250-first\r\n250-second\r\n", b"250 2.0.0 O"]
)
def test_eof_inside_a_reply_is_a_remote_error(data: bytes, feed: Feed) -> None:
    client = client_after(EXTENSIONS)
    client.send(Noop())
    assert read_replies(client, data, feed) == []
    client.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        client.next_event()
    assert state(client) is State.ERROR


def test_eof_when_idle_is_connection_closed() -> None:
    client = client_after(EXTENSIONS)
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed()
    assert state(client) is State.CLOSED


def test_eof_with_a_reply_pending_is_connection_closed() -> None:
    # The server hung up without answering: the dialogue is over, not garbled.
    client = client_after(EXTENSIONS)
    client.send(Noop())
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed()
    assert state(client) is State.CLOSED


def test_data_after_eof_is_a_local_error() -> None:
    client = client_after(EXTENSIONS)
    client.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"250 OK\r\n")


# --- line limits ----------------------------------------------------------------------

CAP = 4096


@pytest.mark.parametrize("ended", [False, True], ids=["unterminated", "terminated"])
def test_reply_line_over_the_hard_cap_is_a_remote_error(ended: bool, feed: Feed) -> None:
    # Limits.line_hard_cap: tolerated up to the cap, fatal beyond it, however it is cut.
    client = client_after(EXTENSIONS, limits=Limits(line_hard_cap=CAP))
    client.send(Noop())
    line = b"250 " + b"x" * CAP + (b"\r\n" if ended else b"")
    with pytest.raises(RemoteProtocolError):
        read_replies(client, line, feed)
    assert state(client) is State.ERROR


def test_reply_line_over_512_but_under_the_cap_is_tolerated(feed: Feed) -> None:
    client = client_after(EXTENSIONS, limits=Limits(line_hard_cap=CAP))
    client.send(Noop())
    text = "x" * 1000
    line = b"250 " + text.encode() + b"\r\n"
    assert read_replies(client, line, feed) == [Reply(250, None, text)]


def test_reply_with_too_many_lines_is_a_remote_error(feed: Feed) -> None:
    # Room for the EHLO reply (11 lines), not for a 21-line HELP.
    client = client_after(EXTENSIONS, limits=Limits(reply_lines=20))
    client.send(Help())
    with pytest.raises(RemoteProtocolError):
        read_replies(client, b"214-line\r\n" * 20 + b"214 end\r\n", feed)
    assert state(client) is State.ERROR


# --- intermediate replies that fit nothing --------------------------------------------


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (MailFrom("alice@example.org"), b"354 Go ahead\r\n"),
        (MailFrom("alice@example.org"), b"334 \r\n"),
        (Noop(), b"354 Go ahead\r\n"),
        (Auth("LOGIN"), b"354 Go ahead\r\n"),
        (Rset(), b"334 VXNlcm5hbWU6\r\n"),
    ],
    ids=["354-to-MAIL", "334-to-MAIL", "354-to-NOOP", "354-to-AUTH", "334-to-RSET"],
)
def test_3xx_that_does_not_fit_the_command_is_a_remote_error(
    command: Event, reply: bytes, feed: Feed
) -> None:
    client = client_after(EXTENSIONS)
    client.send(command)
    with pytest.raises(RemoteProtocolError):
        read_replies(client, reply, feed)
    assert state(client) is State.ERROR


def test_354_to_data_starts_the_content(feed: Feed) -> None:
    client = in_transaction()
    client.send(Data())
    assert read_replies(client, b"354 Go ahead\r\n", feed) == [Reply(354, None, "Go ahead")]
    assert state(client) is State.DATA


# --- parameters the server did not offer ----------------------------------------------


def test_utf8_address_without_smtputf8_is_a_local_error_that_says_so() -> None:
    client = client_after(EXTENSIONS)
    with pytest.raises(LocalProtocolError, match="SMTPUTF8"):
        client.send(MailFrom("jösé@exämple.org"))
    assert state(client) is State.READY
    mail = client.send(MailFrom("jösé@exämple.org", smtputf8=True))
    assert mail == "MAIL FROM:<jösé@exämple.org> SMTPUTF8\r\n".encode()


def test_utf8_recipient_outside_an_smtputf8_transaction_is_a_local_error() -> None:
    client = client_after(EXTENSIONS)
    client.send(MailFrom("alice@example.org"))
    with pytest.raises(LocalProtocolError, match="SMTPUTF8"):
        client.send(RcptTo("日本@例え.jp"))


@pytest.mark.parametrize("sender", ["alice@example.org", "jösé@exämple.org"])
def test_smtputf8_not_advertised_is_a_local_error(sender: str) -> None:
    client = client_after(NO_PIPELINING)
    with pytest.raises(LocalProtocolError):
        client.send(MailFrom(sender, smtputf8=True))
    assert state(client) is State.READY


def test_size_above_the_advertised_size_is_a_local_error() -> None:
    assert NO_PIPELINING.size == 1000
    client = client_after(NO_PIPELINING)
    with pytest.raises(LocalProtocolError):
        client.send(MailFrom("alice@example.org", size=1001))
    mail = client.send(MailFrom("alice@example.org", size=1000))
    assert mail == b"MAIL FROM:<alice@example.org> SIZE=1000\r\n"


def test_size_not_advertised_is_a_local_error() -> None:
    client = client_after(Extensions(pipelining=True))
    with pytest.raises(LocalProtocolError):
        client.send(MailFrom("alice@example.org", size=10))


@pytest.mark.parametrize(
    "mail",
    [
        MailFrom("alice@example.org", body="8BITMIME"),
        MailFrom("alice@example.org", body="BINARYMIME"),
        MailFrom("alice@example.org", ret="FULL"),
        MailFrom("alice@example.org", envid="abc"),
        MailFrom("alice@example.org", auth="<>"),
    ],
    ids=["8BITMIME", "BINARYMIME", "RET", "ENVID", "AUTH"],
)
def test_unadvertised_mail_parameter_is_a_local_error(mail: MailFrom) -> None:
    client = client_after(Extensions(pipelining=True))
    with pytest.raises(LocalProtocolError):
        client.send(mail)


def test_auth_with_unadvertised_mechanism_is_a_local_error() -> None:
    client = client_after(EXTENSIONS)
    with pytest.raises(LocalProtocolError):
        client.send(Auth("GSSAPI"))


# --- BDAT (RFC 3030) ------------------------------------------------------------------


def test_bdat_when_chunking_not_offered_is_a_local_error() -> None:
    client = in_transaction(NO_PIPELINING)
    with pytest.raises(LocalProtocolError):
        client.send(Bdat(3, last=True))
    assert state(client) is State.RCPT
    assert client.send(Data()) == b"DATA\r\n"


def test_data_after_mail_body_binarymime_is_a_local_error() -> None:
    client = in_transaction(EXTENSIONS, MailFrom("alice@example.org", body="BINARYMIME"))
    with pytest.raises(LocalProtocolError):
        client.send(Data())
    assert client.send(Bdat(3, last=True)) == b"BDAT 3 LAST\r\n"


@pytest.mark.parametrize(
    "pieces", [(b"abcd",), (b"ab", b"cd"), (b"abc", b"d")], ids=["one", "two", "three-then-one"]
)
def test_bdat_sending_more_bytes_than_declared_is_a_local_error(
    pieces: tuple[bytes, ...],
) -> None:
    client = in_transaction()
    client.send(Bdat(3, last=True))
    *fitting, too_many = pieces
    for piece in fitting:
        client.send(MessageData(piece))
    with pytest.raises(LocalProtocolError):
        client.send(MessageData(too_many))


@pytest.mark.parametrize(
    "event",
    [Noop(), Rset(), Quit(), Bdat(1, last=True), Data(), EndOfMessage(), RcptTo("c@d.example")],
    ids=["NOOP", "RSET", "QUIT", "BDAT", "DATA", "EndOfMessage", "RCPT"],
)
def test_any_command_while_bdat_bytes_are_due_is_a_local_error(event: Event) -> None:
    client = in_transaction()
    client.send(Bdat(3))
    client.send(MessageData(b"a"))
    with pytest.raises(LocalProtocolError):
        client.send(event)
    # Once the chunk is complete, the next command may go (PIPELINING is offered).
    assert client.send(MessageData(b"bc")) == b"bc"
    assert client.send(Bdat(0, last=True)) == b"BDAT 0 LAST\r\n"


def test_bdat_content_is_sent_as_is() -> None:
    # RFC 3030 §2: no dot-stuffing, no line-end changes inside a chunk.
    client = in_transaction()
    content = b".\r\n\n\r."
    assert client.send(Bdat(len(content), last=True)) == b"BDAT 6 LAST\r\n"
    assert client.send(MessageData(content)) == content
    assert read_replies(client, b"250 2.0.0 Queued\r\n") == [Reply(250, "2.0.0", "Queued")]
    assert state(client) is State.READY


# --- STARTTLS (RFC 3207 §4.2) ---------------------------------------------------------


def test_bytes_after_the_220_to_starttls_are_discarded_and_returned(feed: Feed) -> None:
    client = client_after(EXTENSIONS)
    client.send(StartTls())
    events = read_replies(client, b"220 2.0.0 Ready\r\n250 2.0.0 injected\r\n", feed)
    assert events == [Reply(220, "2.0.0", "Ready")]
    assert state(client) is State.STARTTLS
    assert client.next_event() is PAUSED
    client.receive_data(b"more plain text")
    assert client.next_event() is PAUSED
    with pytest.raises(LocalProtocolError):
        client.send(Ehlo("client.example"))
    assert client.start_tls() == b"250 2.0.0 injected\r\nmore plain text"
    assert state(client) is State.GREETED
    assert client.tls is True
    assert client.extensions == Extensions()
    assert client.next_event() is NEED_DATA
    assert client.send(Ehlo("client.example")) == b"EHLO client.example\r\n"


def test_start_tls_without_220_is_a_local_error() -> None:
    client = client_after(EXTENSIONS)
    with pytest.raises(LocalProtocolError):
        client.start_tls()
    client.send(StartTls())
    read_replies(client, b"454 4.7.0 TLS not available\r\n")
    assert state(client) is State.READY
    with pytest.raises(LocalProtocolError):
        client.start_tls()
