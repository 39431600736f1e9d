"""Rules at the edges of the engine: argument checks, EOF, limits, odd replies."""

from __future__ import annotations

import pytest
from tests.protocol.dialogue import (
    EXTENSIONS,
    client_after,
    exchange,
    read_replies,
    server_after,
    state,
)

from smtpx.protocol import (
    CLIENT,
    NEED_DATA,
    SERVER,
    Auth,
    AuthResponse,
    Bdat,
    Connection,
    ConnectionClosed,
    Data,
    Ehlo,
    EndOfMessage,
    Limits,
    LocalProtocolError,
    MailFrom,
    MessageData,
    Noop,
    RcptTo,
    Rejected,
    RemoteProtocolError,
    Reply,
    StartTls,
    State,
    Vrfy,
    format_reply,
)
from smtpx.protocol import _client as client_module

EHLO = b"EHLO client.example\r\n"


@pytest.mark.parametrize("domain", ["", "two words"])
def test_client_refuses_an_ehlo_without_one_hostname(domain: str) -> None:
    client = Connection(CLIENT)
    client.receive_data(b"220 mx.example ESMTP\r\n")
    client.next_event()
    with pytest.raises(LocalProtocolError, match="one hostname"):
        client.send(Ehlo(domain))


def test_client_refuses_a_negative_bdat_size() -> None:
    client = client_after()
    client.send(MailFrom("a@example.org"))
    client.send(RcptTo("b@example.org"))
    with pytest.raises(LocalProtocolError, match="negative"):
        client.send(Bdat(-1))


@pytest.mark.parametrize("argument", ["", "  "])
def test_client_refuses_vrfy_without_an_argument(argument: str) -> None:
    with pytest.raises(LocalProtocolError, match="needs an argument"):
        client_after().send(Vrfy(argument))


def test_server_answers_vrfy_without_an_argument_with_501() -> None:
    server = server_after(EHLO)
    (event,) = exchange(server, b"VRFY\r\n")
    assert isinstance(event, Rejected)
    assert (event.reply.code, event.reply.status) == (501, "5.5.4")


def test_address_cannot_smuggle_parameters_past_its_angle_bracket() -> None:
    client = client_after()
    client.send(MailFrom("a@example.org"))
    with pytest.raises(LocalProtocolError, match="refused before sending"):
        client.send(RcptTo("b@example.org> NOTIFY=NEVER"))


def test_connection_exposes_its_limits() -> None:
    limits = Limits(recipients=7)
    assert Connection(SERVER, limits).limits is limits
    assert Connection(CLIENT).limits == Limits()


def test_data_after_end_of_file_is_a_local_error() -> None:
    for role in (SERVER, CLIENT):
        connection = Connection(role)
        connection.receive_data(b"")
        with pytest.raises(LocalProtocolError, match="after end of file"):
            connection.receive_data(b"NOOP\r\n")


def test_complete_command_line_beyond_the_hard_cap_is_fatal() -> None:
    server = server_after(EHLO, limits=Limits(line_hard_cap=1000))
    server.receive_data(b"NOOP " + b"x" * 2000 + b"\r\n")
    with pytest.raises(RemoteProtocolError) as caught:
        server.next_event()
    assert caught.value.reply is not None
    # RFC 5321 §3.8: the server closes, so it says 421.
    assert (caught.value.reply.code, caught.value.reply.status) == (421, "4.5.2")
    assert state(server) is State.ERROR


def test_end_of_file_while_skipping_a_long_line_closes() -> None:
    server = server_after(EHLO)
    server.receive_data(b"NOOP " + b"x" * 600)
    assert server.next_event() is NEED_DATA
    server.receive_data(b"")
    assert server.next_event() == ConnectionClosed()
    assert state(server) is State.CLOSED


def test_server_sends_only_replies() -> None:
    server = server_after(EHLO)
    with pytest.raises(LocalProtocolError, match="sends replies"):
        server.send(Ehlo("x"))


def test_server_cannot_send_once_closed() -> None:
    server = server_after(EHLO, b"QUIT\r\n")
    assert state(server) is State.CLOSED
    with pytest.raises(LocalProtocolError, match="CLOSED"):
        server.send(Reply(421, "4.3.0", "bye"))


def test_helo_refused_keeps_the_extensions_learned_before() -> None:
    server = server_after(EHLO)
    server.receive_data(b"HELO other.example\r\n")
    server.next_event()
    server.send(Reply(550, "5.7.1", "not you"))
    assert server.extensions == EXTENSIONS
    assert state(server) is State.READY


def test_starttls_refused_keeps_the_plain_session() -> None:
    server = server_after(EHLO)
    server.receive_data(b"STARTTLS\r\nNOOP\r\n")
    assert server.next_event() == StartTls()
    server.send(Reply(454, "4.7.0", "TLS not available"))
    assert state(server) is State.READY
    with pytest.raises(LocalProtocolError, match="start_tls"):
        server.start_tls()
    # The pipelined NOOP was kept: nothing is discarded without a TLS switch.
    assert server.next_event() == Noop()


def test_stuffed_dot_is_not_counted_on_a_middle_line() -> None:
    server = server_after(EHLO, b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<b@example.org>\r\n")
    line = b"." + b"y" * 998 + b"\r\n"  # 999 octets with CRLF once unstuffed
    events = exchange(server, b"DATA\r\nfirst\r\n" + line + b"last\r\n.\r\n")
    assert events[1] == MessageData(b"first\r\n" + line[1:] + b"last\r\n")


def test_longer_middle_line_is_refused_even_after_unstuffing() -> None:
    server = server_after(EHLO, b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<b@example.org>\r\n")
    line = b"." + b"y" * 999 + b"\r\n"  # 1001 octets with CRLF once unstuffed
    events = exchange(server, b"DATA\r\nfirst\r\n" + line + b"last\r\n.\r\n")
    assert isinstance(events[-1], Rejected)
    assert events[-1].reply.code == 550


def test_reply_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_SEEN", {})
    monkeypatch.setattr(client_module, "_SEEN_MAX", 3)
    client = client_after()
    for n in range(5):
        client.send(Vrfy(f"user{n}"))
        (reply,) = read_replies(client, format_reply(Reply(252, "2.0.0", f"user{n}")))
        assert isinstance(reply, Reply)
        assert reply.text == f"user{n}"
        assert len(client_module._SEEN) <= 3


def test_client_refuses_an_auth_response_longer_than_rfc_4954_allows() -> None:
    client = client_after()
    client.send(Auth("LOGIN"))
    read_replies(client, b"334 VXNlcm5hbWU6\r\n")
    with pytest.raises(LocalProtocolError, match="too long"):
        client.send(AuthResponse("A" * 12288))


def test_empty_content_after_bdat_0_is_nothing_to_send() -> None:
    client = client_after()
    client.send(MailFrom("a@example.org"))
    client.send(RcptTo("b@example.org"))
    client.send(Bdat(0, last=True))
    assert client.send(MessageData(b"")) == b""


TRANSACTION = (EHLO, b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<b@example.org>\r\n")


@pytest.mark.parametrize(
    ("verb", "before"),
    [
        (b"RSET", TRANSACTION),
        (b"QUIT", TRANSACTION),
        (b"DATA", TRANSACTION),
        (b"STARTTLS", (EHLO,)),
    ],
)
def test_command_that_takes_no_argument_refuses_one_with_501(
    verb: bytes, before: tuple[bytes, ...]
) -> None:
    server = server_after(*before)
    was = state(server)
    (event,) = exchange(server, verb + b" now\r\n")
    assert isinstance(event, Rejected)
    assert (event.reply.code, event.reply.status) == (501, "5.5.4")
    assert state(server) is was


def test_auth_response_that_is_not_base64_ends_the_exchange_with_501() -> None:
    server = server_after(EHLO)
    server.receive_data(b"AUTH LOGIN\r\n")
    server.next_event()
    server.send(Reply(334, None, "VXNlcm5hbWU6"))
    (event,) = exchange(server, b"not base64!\r\n")
    assert isinstance(event, Rejected)
    assert (event.reply.code, event.reply.status) == (501, "5.5.2")
    assert state(server) is State.READY


@pytest.mark.parametrize("line", [b"EHLO\r\n", b"HELO   \r\n", b"EHLO a b\r\n"])
def test_hello_without_exactly_one_domain_gets_501(line: bytes) -> None:
    server = server_after()
    (event,) = exchange(server, line)
    assert isinstance(event, Rejected)
    assert (event.reply.code, event.reply.status) == (501, "5.5.4")
    assert state(server) is State.GREETED


def test_content_pieces_that_are_empty_or_a_lone_cr_write_nothing_yet() -> None:
    client = client_after()
    client.send(MailFrom("a@example.org"))
    client.send(RcptTo("b@example.org"))
    client.send(Data())
    read_replies(client, b"250 OK\r\n250 OK\r\n354 Go\r\n")
    assert client.send(MessageData(b"")) == b""
    assert client.send(MessageData(b"\r")) == b""
    assert client.send(MessageData(b"\n.x")) == b"\r\n..x"
    assert client.send(EndOfMessage()) == b"\r\n.\r\n"


def test_utf8_sender_with_other_parameters_but_no_smtputf8_gets_553() -> None:
    server = server_after(EHLO)
    (event,) = exchange(server, "MAIL FROM:<jürgen@example.org> SIZE=10\r\n".encode())
    assert isinstance(event, Rejected)
    assert (event.reply.code, event.reply.status) == (553, "5.6.7")
