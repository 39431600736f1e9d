"""The receiver's replies on the wire, byte for byte: every command, in and out of sequence.

A raw socket (``Wire``) sends exactly the bytes written here and reads each reply
whole, so every test asserts the reply code and the enhanced status code (RFC 2034)
the server put on the wire, and what the session allows afterwards. The greeting,
EHLO's extensions, DATA's "queued as" and BDAT need the storing server with TLS
(``mx``); the rest runs against the ``smtpx_server`` fixture (smtpx.testing), which
is what users of the pytest plugin get.

Also here: PIPELINING (RFC 2920), where the replies to a group of commands must come
back complete and in order, whichever command ends the group.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.peers import TlsCerts
from tests.server.receiver import (
    MESSAGE,
    Answer,
    StoringServer,
    Wire,
    storing_server,
    without_received,
)

from smtpx.server import ServerConfig
from smtpx.server.capture import CapturingServer

MAIL = "MAIL FROM:<alice@example.org>"
RCPT = "RCPT TO:<bob@example.org>"
EXTENSIONS = [
    "SIZE 33554432",
    "8BITMIME",
    "PIPELINING",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
    "STARTTLS",
    "CHUNKING",
    "BINARYMIME",
    "DSN",
]


@pytest.fixture
def mx(tmp_path: Path, tls_certs: TlsCerts) -> Iterator[StoringServer]:
    config = ServerConfig(hostname="mx.test", tls=tls_certs.server_ssl_context())
    with storing_server(tmp_path / "store", config) as server:
        yield server


@pytest.fixture
def wire(smtpx_server: CapturingServer) -> Iterator[Wire]:
    """A connection to the capturing server, greeting read, no EHLO yet."""
    with Wire(smtpx_server.host, smtpx_server.port) as connection:
        assert connection.reply().code == 220
        yield connection


def expect(answer: Answer, code: int, status: str | None = None) -> None:
    assert answer.code == code, answer
    if status is not None:
        assert answer.status == status, answer


# --- the greeting and EHLO ------------------------------------------------------------------


def test_greeting_is_220_with_the_configured_hostname(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        greeting = connection.reply()
    assert greeting == Answer(220, ("mx.test ESMTP smtpx",))


def test_ehlo_is_a_multiline_250_listing_every_extension(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        ehlo = connection.hello()
    assert ehlo.code == 250
    assert ehlo.lines[0] == "mx.test"
    assert sorted(ehlo.lines[1:]) == sorted(EXTENSIONS)


def test_ehlo_raw_lines_use_the_multiline_form(mx: StoringServer) -> None:
    """RFC 5321 §4.2.1: "250-" on every line but the last, "250 " on the last."""
    with Wire(mx.host, mx.port) as connection:
        connection.reply()
        connection.send(b"EHLO client.example\r\n")
        raw = b""
        while not raw.endswith(b"250 DSN\r\n"):
            data = connection.sock.recv(4096)
            assert data, raw
            raw += data
    lines = raw.split(b"\r\n")[:-1]
    assert all(line.startswith(b"250-") for line in lines[:-1]), raw
    assert lines[-1].startswith(b"250 ")


def test_helo_is_250_and_single_line(wire: Wire) -> None:
    helo = wire.command("HELO client.example")
    assert helo == Answer(250, ("smtpx.test Hello client.example",))


# --- a transaction ------------------------------------------------------------------------------


def test_mail_rcpt_data_give_exact_codes_and_the_message_is_queued(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        expect(connection.command(MAIL), 250, "2.1.0")
        expect(connection.command(RCPT), 250, "2.1.5")
        expect(connection.command("DATA"), 354)
        connection.send(MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        done = connection.reply()
        expect(done, 250, "2.0.0")
        assert "queued as " in done.text, done
        queued = done.text.rsplit(" ", 1)[1]
        # The session goes on: a second transaction needs a new MAIL.
        expect(connection.command(RCPT), 503, "5.5.1")
        expect(connection.command("QUIT"), 221, "2.0.0")
    stored, raw = mx.only()
    assert stored.id == queued
    assert without_received(raw) == MESSAGE


def test_bdat_chunks_are_kept_as_sent_without_dot_unstuffing(mx: StoringServer) -> None:
    """RFC 3030: chunks are counted octets; a line starting with "." is content."""
    first, second = MESSAGE[:100], MESSAGE[100:]
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        connection.command(MAIL)
        connection.command(RCPT)
        connection.send(f"BDAT {len(first)}\r\n".encode() + first)
        expect(connection.reply(), 250, "2.0.0")
        connection.send(f"BDAT {len(second)} LAST\r\n".encode() + second)
        done = connection.reply()
        expect(done, 250, "2.0.0")
        assert "queued as " in done.text
    _, raw = mx.only()
    assert without_received(raw) == MESSAGE


def test_empty_message_after_354_is_queued(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        connection.command(MAIL)
        connection.command(RCPT)
        expect(connection.command("DATA"), 354)
        expect(connection.command("."), 250, "2.0.0")
    _, raw = mx.only()
    assert without_received(raw) == b""


def test_rset_noop_vrfy_expn_help(wire: Wire) -> None:
    wire.command("EHLO client.example")
    expect(wire.command("RSET"), 250, "2.0.0")
    expect(wire.command("NOOP"), 250, "2.0.0")
    expect(wire.command("VRFY bob"), 252, "2.0.0")  # RFC 5321 §3.5.3
    expect(wire.command("EXPN staff"), 502, "5.5.1")
    help_ = wire.command("HELP")
    expect(help_, 214, "2.0.0")
    assert len(help_.lines) >= 2, help_


def test_quit_is_221_and_the_server_closes(wire: Wire) -> None:
    expect(wire.command("QUIT"), 221, "2.0.0")
    assert wire.closed()


def test_rset_ends_the_transaction(wire: Wire) -> None:
    wire.command("EHLO client.example")
    wire.command(MAIL)
    wire.command(RCPT)
    expect(wire.command("RSET"), 250, "2.0.0")
    expect(wire.command("DATA"), 503, "5.5.1")
    expect(wire.command(RCPT), 503, "5.5.1")
    expect(wire.command(MAIL), 250, "2.1.0")


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "command", "code", "status"),
    [
        # Commands that are not SMTP, or not well-formed.
        ([], "FOO bar", 500, "5.5.2"),
        (["EHLO c.example"], "MAILFROM:<a@example.org>", 500, "5.5.2"),
        (["EHLO c.example"], "MAIL FROM:alice@example.org", 501, None),
        (["EHLO c.example"], "MAIL TO:<alice@example.org>", 501, None),
        (["EHLO c.example"], "MAIL FROM:<alice@@example.org>", 501, None),
        (["EHLO c.example", MAIL], "RCPT TO:<>", 501, None),
        ([], "EHLO", 501, None),
        # Out of sequence (RFC 5321 §4.1.4): before EHLO, before MAIL, before RCPT.
        ([], MAIL, 503, "5.5.1"),
        ([], RCPT, 503, "5.5.1"),
        ([], "DATA", 503, "5.5.1"),
        (["EHLO c.example"], RCPT, 503, "5.5.1"),
        (["EHLO c.example"], "DATA", 503, "5.5.1"),
        (["EHLO c.example", MAIL], "DATA", 503, "5.5.1"),
        (["EHLO c.example", MAIL], MAIL, 503, "5.5.1"),
        (["EHLO c.example", MAIL, RCPT], MAIL, 503, "5.5.1"),
        # A parameter that was not advertised (RFC 5321 §4.1.1.11, RFC 1869).
        (["EHLO c.example"], f"{MAIL} XFOO=1", 555, "5.5.4"),
        (["EHLO c.example", MAIL], f"{RCPT} XFOO=1", 555, "5.5.4"),
        # After HELO no extension was offered: SIZE and NOTIFY are not parameters.
        (["HELO c.example"], f"{MAIL} SIZE=100", 555, "5.5.4"),
        (["HELO c.example", MAIL], f"{RCPT} NOTIFY=NEVER", 555, "5.5.4"),
        # STARTTLS is not offered by this server (no TLS configured).
        (["EHLO c.example"], "STARTTLS", 502, "5.5.1"),
        # AUTH is not offered either.
        (["EHLO c.example"], "AUTH PLAIN", 502, "5.5.1"),
    ],
)
def test_refused_command_gets_its_code_and_the_session_goes_on(
    wire: Wire, before: list[str], command: str, code: int, status: str | None
) -> None:
    for line in before:
        assert wire.command(line).code // 100 == 2, line
    expect(wire.command(command), code, status)
    # RFC 5321 §4.1.4: a refused command changes nothing; the session still works.
    expect(wire.command("NOOP"), 250, "2.0.0")
    if not before:
        expect(wire.command("EHLO c.example"), 250)
    expect(wire.command("RSET"), 250, "2.0.0")
    expect(wire.command(MAIL), 250, "2.1.0")


@pytest.mark.parametrize("command", ["NOOP", "RSET", "VRFY x", "EXPN x", "HELP", "HELO c.example"])
def test_any_time_commands_work_before_ehlo(wire: Wire, command: str) -> None:
    """RFC 5321 §4.1.4: NOOP, RSET, VRFY, EXPN, HELP at any time; HELO to start."""
    answer = wire.command(command)
    assert answer.code in (250, 252, 502, 214), answer
    assert answer.code != 503


def test_starttls_inside_a_transaction_is_out_of_sequence(mx: StoringServer) -> None:
    """RFC 3207 §4: STARTTLS only outside a mail transaction."""
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        connection.command(MAIL)
        expect(connection.command("STARTTLS"), 503, "5.5.1")
        expect(connection.command(RCPT), 250, "2.1.5")


def test_bdat_out_of_sequence_is_read_whole_and_refused(wire: Wire) -> None:
    """RFC 3030 §2: the chunk is read (and dropped) even when it is refused, so its
    octets are never taken for commands."""
    wire.command("EHLO c.example")
    chunk = b"NOOP\r\nNOOP\r\n"
    wire.send(f"BDAT {len(chunk)} LAST\r\n".encode() + chunk)
    expect(wire.reply(), 503, "5.5.1")
    expect(wire.command("RSET"), 250, "2.0.0")


def test_data_with_binarymime_needs_bdat(wire: Wire) -> None:
    wire.command("EHLO c.example")
    expect(wire.command(f"{MAIL} BODY=BINARYMIME"), 250, "2.1.0")
    expect(wire.command(RCPT), 250, "2.1.5")
    expect(wire.command("DATA"), 503, "5.5.1")


# --- PIPELINING (RFC 2920) ---------------------------------------------------------------------


def test_pipelined_transaction_replies_come_in_order(
    smtpx_server: CapturingServer, wire: Wire
) -> None:
    wire.send(f"EHLO c.example\r\n{MAIL}\r\n{RCPT}\r\n{RCPT}\r\nDATA\r\n".encode())
    ehlo, mail, rcpt1, rcpt2, data = wire.replies(5)
    assert (ehlo.code, mail.status, rcpt1.status, rcpt2.status, data.code) == (
        250,
        "2.1.0",
        "2.1.5",
        "2.1.5",
        354,
    )
    # The content, its end, and the next transaction, in one write.
    wire.send(b"Subject: one\r\n\r\nfirst\r\n.\r\n" + f"{MAIL}\r\n{RCPT}\r\nDATA\r\n".encode())
    done, mail, rcpt, data = wire.replies(4)
    assert (done.status, mail.status, rcpt.status, data.code) == ("2.0.0", "2.1.0", "2.1.5", 354)
    wire.send(b"Subject: two\r\n\r\nsecond\r\n.\r\n")
    expect(wire.reply(), 250, "2.0.0")
    first, second = smtpx_server.wait_for(2)
    assert first.data.endswith(b"\r\nSubject: one\r\n\r\nfirst\r\n")
    assert second.data.endswith(b"\r\nSubject: two\r\n\r\nsecond\r\n")


def test_pipelined_bdat_transaction_in_one_write(smtpx_server: CapturingServer, wire: Wire) -> None:
    body = b"Subject: chunked\r\n\r\n.not stuffed\r\n"
    wire.send(f"EHLO c.example\r\n{MAIL}\r\n{RCPT}\r\nBDAT {len(body)} LAST\r\n".encode() + body)
    ehlo, mail, rcpt, done = wire.replies(4)
    assert (ehlo.code, mail.status, rcpt.status, done.status) == (250, "2.1.0", "2.1.5", "2.0.0")
    (captured,) = smtpx_server.wait_for(1)
    assert captured.data.endswith(b"\r\n" + body)


def test_pipelined_group_ending_in_quit_gets_every_reply_then_221(wire: Wire) -> None:
    """RFC 2920 §3.1: QUIT may end a group; the replies to the commands before it
    must still be sent, in order, before 221 and the close."""
    wire.send(f"EHLO c.example\r\nRSET\r\n{MAIL}\r\n{RCPT}\r\nQUIT\r\n".encode())
    answers = wire.until_closed()
    assert [(answer.code, answer.status) for answer in answers] == [
        (250, ""),
        (250, "2.0.0"),
        (250, "2.1.0"),
        (250, "2.1.5"),
        (221, "2.0.0"),
    ]


def test_noop_and_quit_in_one_write_get_250_then_221(wire: Wire) -> None:
    wire.send(b"NOOP\r\nQUIT\r\n")
    assert [answer.code for answer in wire.until_closed()] == [250, 221]


def test_rset_and_starttls_in_one_write_get_250_then_220(
    mx: StoringServer, tls_certs: TlsCerts
) -> None:
    """RFC 3207 §4: STARTTLS ends a group; the reply to RSET before it comes first,
    in clear, and the TLS handshake follows the 220."""
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        connection.send(b"RSET\r\nSTARTTLS\r\n")
        rset, ready = connection.replies(2)
        assert [(rset.code, rset.status), (ready.code, ready.status)] == [
            (250, "2.0.0"),
            (220, "2.0.0"),
        ]
        connection.start_tls(tls_certs.client_ssl_context())
        assert connection.command("EHLO client.example").code == 250
