"""The receiver under hostile or careless clients: smuggling, STARTTLS injection, floods,
relaying, connection limits and idle clients.

Each test speaks raw bytes (``Wire``) to ``Server(StoringHandler(SQLiteStore))`` and
asserts the exact reply, what the store holds afterwards, and that the session (or
the server) still works. Waits are bounded polls, never sleeps.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from tests.peers import TlsCerts
from tests.server.receiver import (
    MESSAGE,
    STEP_TIMEOUT,
    Answer,
    StoringServer,
    Wire,
    storing_server,
    without_received,
)

from smtpx.protocol import Limits
from smtpx.server import ServerConfig

MAIL = "MAIL FROM:<alice@example.org>"
RCPT = "RCPT TO:<bob@example.org>"
# Replies one client may leave unread on the server: asyncio's high-water mark (64 KiB)
# plus the replies to one read (256 KiB of commands), with room to spare.
OUTPUT_BOUND = 8 * 1024 * 1024


def config(tls_certs: TlsCerts, **options: Any) -> ServerConfig:
    return ServerConfig(hostname="mx.test", tls=tls_certs.server_ssl_context(), **options)


@pytest.fixture
def mx(tmp_path: Path, tls_certs: TlsCerts) -> Iterator[StoringServer]:
    with storing_server(tmp_path / "store", config(tls_certs)) as server:
        yield server


def expect(answer: Answer, code: int, status: str | None = None) -> None:
    assert answer.code == code, answer
    if status is not None:
        assert answer.status == status, answer


def open_transaction(connection: Wire) -> None:
    connection.hello()
    expect(connection.command(MAIL), 250, "2.1.0")
    expect(connection.command(RCPT), 250, "2.1.5")
    expect(connection.command("DATA"), 354)


# --- SMTP smuggling ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fake_end",
    [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"],
    ids=["lf-dot-lf", "cr-dot-cr", "crlf-dot-lf", "lf-dot-crlf", "cr-dot-crlf", "crlf-dot-cr"],
)
def test_fake_end_of_data_never_ends_data_nor_makes_a_second_message(
    mx: StoringServer, fake_end: bytes
) -> None:
    """RFC 5321 §2.3.8 and §4.1.1.4: only CRLF "." CRLF ends the content. A bare CR or
    LF makes the whole message refused (550 5.6.0) at the real end; the smuggled
    transaction inside it is content, so it gets no reply and is not stored."""
    smuggled = (
        b"MAIL FROM:<evil@attacker.example>\r\n"
        b"RCPT TO:<victim@example.org>\r\n"
        b"DATA\r\n"
        b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\npay now\r\n"
    )
    with Wire(mx.host, mx.port) as connection:
        open_transaction(connection)
        connection.send(b"Subject: innocent\r\n\r\nhello" + fake_end + smuggled + b".\r\n")
        expect(connection.reply(), 550, "5.6.0")
        # The very next reply answers NOOP: nothing was said for the smuggled commands.
        expect(connection.command("NOOP"), 250, "2.0.0")
        # And no transaction is open: the smuggled MAIL was never a command.
        expect(connection.command(RCPT), 503, "5.5.1")
    assert mx.count() == 0


def test_after_a_refused_smuggling_attempt_the_session_still_delivers(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        open_transaction(connection)
        connection.send(b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@x.example>\r\n.\r\n")
        expect(connection.reply(), 550, "5.6.0")
        expect(connection.command(MAIL), 250, "2.1.0")
        expect(connection.command(RCPT), 250, "2.1.5")
        expect(connection.command("DATA"), 354)
        connection.send(MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        expect(connection.reply(), 250, "2.0.0")
    _, raw = mx.only()
    assert without_received(raw) == MESSAGE


# --- STARTTLS --------------------------------------------------------------------------------


def test_plaintext_pipelined_after_starttls_is_never_executed(
    mx: StoringServer, tls_certs: TlsCerts
) -> None:
    """RFC 3207 §4.2 (CVE-2011-0411): bytes sent after STARTTLS in the clear are
    dropped; after the handshake the session starts over and wants EHLO."""
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        connection.send(b"STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<v@example.org>\r\n")
        expect(connection.reply(), 220, "2.0.0")
        connection.start_tls(tls_certs.client_ssl_context())
        # No reply for the injected commands; the session is back to "greeted".
        expect(connection.command(MAIL), 503, "5.5.1")
        ehlo = connection.command("EHLO client.example")
        assert ehlo.code == 250
        assert "STARTTLS" not in ehlo.lines  # RFC 3207 §4.2: not offered again
        expect(connection.command(MAIL), 250, "2.1.0")
        expect(connection.command(RCPT), 250, "2.1.5")
        expect(connection.command("STARTTLS"), 503, "5.5.1")


def test_command_in_the_same_segment_as_the_client_finished_is_answered(
    mx: StoringServer, tls_certs: TlsCerts
) -> None:
    """TLS 1.3: the client may send its first command right behind its Finished
    message, in the same TCP segment (GnuTLS does: msmtp). That command came over
    TLS and must be answered, not thrown away as "sent before TLS"."""
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        expect(connection.command("STARTTLS"), 220, "2.0.0")
        connection.start_tls(tls_certs.client_ssl_context(), first=b"EHLO client.example\r\n")
        assert connection.tls is not None
        assert connection.tls.version() == "TLSv1.3"
        try:
            ehlo = connection.reply()
        except TimeoutError:
            pytest.fail("no reply to the EHLO sent with the client's Finished")
        assert ehlo.code == 250, ehlo
        assert ehlo.lines[0] == "mx.test", ehlo
        assert "STARTTLS" not in ehlo.lines


def test_failed_tls_handshake_frees_its_connection_slot(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    """A client that sends garbage instead of a TLS hello is closed, and its place
    under max_connections is free again for the next client."""
    with storing_server(tmp_path, config(tls_certs, max_connections=1)) as server:
        with Wire(server.host, server.port) as connection:
            connection.hello()
            expect(connection.command("STARTTLS"), 220, "2.0.0")
            connection.send(b"this is not a TLS client hello\r\n" * 4)
            assert connection.closed()
        server.wait_for_connections(0)
        with Wire(server.host, server.port) as later:
            expect(later.reply(), 220)


def test_starttls_when_tls_is_not_configured_is_502(tmp_path: Path) -> None:
    with (
        storing_server(tmp_path, ServerConfig(hostname="mx.test")) as server,
        Wire(server.host, server.port) as connection,
    ):
        ehlo = connection.hello()
        assert "STARTTLS" not in ehlo.lines
        expect(connection.command("STARTTLS"), 502, "5.5.1")


# --- malformed command lines ------------------------------------------------------------------


def test_600_octet_command_line_is_500_and_the_session_goes_on(mx: StoringServer) -> None:
    """RFC 5321 §4.5.3.1.4: 512 octets including CRLF."""
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        expect(connection.command("NOOP " + "x" * 593), 500, "5.5.2")
        expect(connection.command("NOOP"), 250, "2.0.0")
        expect(connection.command(MAIL), 250, "2.1.0")


def test_line_longer_than_the_hard_cap_ends_the_session(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        with contextlib.suppress(OSError):  # the server may close while we still write
            connection.send(b"NOOP " + b"x" * 100_000)
        answers = connection.until_closed()
        # RFC 5321 §3.8: a server closing on its own says 421.
        assert [(answer.code, answer.status) for answer in answers] == [(421, "4.5.2")]


@pytest.mark.parametrize(
    "line",
    [b"NOOP a\0b", b"MAIL FROM:<a\0b@example.org>", b"NO\0OP", b"NOOP \xff\xfe", b"HELO caf\xe9"],
    ids=["nul-argument", "nul-address", "nul-verb", "invalid-utf8", "latin1"],
)
def test_nul_or_invalid_utf8_in_a_command_is_500(mx: StoringServer, line: bytes) -> None:
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        expect(connection.command(line), 500, "5.5.2")
        expect(connection.command("NOOP"), 250, "2.0.0")


def test_too_many_bad_commands_end_the_session_with_421(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        connection.send(b"BOGUS\r\n" * 25)
        answers = connection.until_closed()
    codes = [answer.code for answer in answers]
    assert codes == [500] * 20 + [421], codes
    assert answers[-1].status == "4.7.0"


# --- size limits ----------------------------------------------------------------------------


def test_message_over_the_size_limit_is_552_and_not_stored(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    limits = Limits(message_size=1000)
    with (
        storing_server(tmp_path, config(tls_certs, limits=limits)) as server,
        Wire(server.host, server.port) as connection,
    ):
        assert "SIZE 1000" in connection.hello().lines
        expect(connection.command(f"{MAIL} SIZE=1001"), 552, "5.3.4")
        open_transaction_after_ehlo(connection)
        connection.send(b"Subject: big\r\n\r\n" + b"x" * 80 + b"\r\n" * 1 + b"y\r\n" * 400)
        connection.send(b".\r\n")
        expect(connection.reply(), 552, "5.3.4")
        expect(connection.command("NOOP"), 250, "2.0.0")
        assert server.count() == 0


def open_transaction_after_ehlo(connection: Wire) -> None:
    expect(connection.command(MAIL), 250, "2.1.0")
    expect(connection.command(RCPT), 250, "2.1.5")
    expect(connection.command("DATA"), 354)


def test_text_line_over_1000_octets_is_550_and_not_stored(mx: StoringServer) -> None:
    """RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF."""
    with Wire(mx.host, mx.port) as connection:
        open_transaction(connection)
        connection.send(b"Subject: long\r\n\r\n" + b"x" * 999 + b"\r\n.\r\n")
        expect(connection.reply(), 550, "5.6.0")
    assert mx.count() == 0


# --- relaying ---------------------------------------------------------------------------------


def test_rcpt_to_a_domain_not_served_is_550_relaying_denied(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    served = config(tls_certs, domains=frozenset({"example.org"}))
    with (
        storing_server(tmp_path, served) as server,
        Wire(server.host, server.port) as connection,
    ):
        connection.hello()
        connection.command(MAIL)
        expect(connection.command("RCPT TO:<someone@other.example>"), 550, "5.7.1")
        # RFC 5321 §3.3: with every recipient refused, DATA gets 554.
        expect(connection.command("DATA"), 554, "5.5.1")
        expect(connection.command("RCPT TO:<Bob@EXAMPLE.ORG>"), 250, "2.1.5")
        # A subdomain is another domain.
        expect(connection.command("RCPT TO:<bob@sub.example.org>"), 550, "5.7.1")


def test_trusted_network_may_relay(tmp_path: Path, tls_certs: TlsCerts) -> None:
    trusted = config(
        tls_certs,
        domains=frozenset({"example.org"}),
        trusted_networks=(ip_network("127.0.0.0/8"),),
    )
    with (
        storing_server(tmp_path, trusted) as server,
        Wire(server.host, server.port) as connection,
    ):
        open_transaction_after_hello(connection, "RCPT TO:<someone@other.example>")
        connection.send(b"Subject: relayed\r\n\r\nhi\r\n.\r\n")
        expect(connection.reply(), 250, "2.0.0")
        (stored,) = server.stored()
        assert stored.envelope.recipients[0].address == "someone@other.example"


def open_transaction_after_hello(connection: Wire, rcpt: str) -> None:
    connection.hello()
    expect(connection.command(MAIL), 250, "2.1.0")
    expect(connection.command(rcpt), 250, "2.1.5")
    expect(connection.command("DATA"), 354)


# --- connections ------------------------------------------------------------------------------


def test_100_idle_connections_do_not_keep_a_new_client_waiting(mx: StoringServer) -> None:
    with contextlib.ExitStack() as idle:
        for _ in range(100):
            idle.enter_context(socket.create_connection((mx.host, mx.port), timeout=STEP_TIMEOUT))
        mx.wait_for_connections(100)
        started = time.monotonic()
        with Wire(mx.host, mx.port, timeout=2.0) as connection:
            connection.hello()
            expect(connection.command("NOOP"), 250, "2.0.0")
        assert time.monotonic() - started < 2.0


def test_connection_beyond_max_connections_gets_421_at_once(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    with (
        storing_server(tmp_path, config(tls_certs, max_connections=3)) as server,
        contextlib.ExitStack() as held,
    ):
        wires = [held.enter_context(Wire(server.host, server.port)) for _ in range(3)]
        for connection in wires:
            expect(connection.reply(), 220)
        with Wire(server.host, server.port) as fourth:
            assert fourth.until_closed() == [
                Answer(421, ("4.7.0 Too many connections, try again later",))
            ]
        # The three still work; once one leaves, a new client is served.
        expect(wires[0].command("NOOP"), 250, "2.0.0")
        expect(wires[1].command("QUIT"), 221, "2.0.0")
        assert wires[1].closed()
        server.wait_for_connections(2)
        with Wire(server.host, server.port) as later:
            expect(later.reply(), 220)


def test_idle_client_gets_421_and_is_closed(tmp_path: Path, tls_certs: TlsCerts) -> None:
    with (
        storing_server(tmp_path, config(tls_certs, idle_timeout=0.5)) as server,
        Wire(server.host, server.port) as connection,
    ):
        started = time.monotonic()
        connection.hello()
        expect(connection.reply(), 421, "4.4.2")
        assert connection.closed()
        assert 0.5 <= time.monotonic() - started < 3.0
        server.wait_for_connections(0)


def test_idle_client_inside_data_gets_421_and_nothing_is_stored(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    with (
        storing_server(tmp_path, config(tls_certs, idle_timeout=0.5)) as server,
        Wire(server.host, server.port) as connection,
    ):
        open_transaction(connection)
        connection.send(b"Subject: half\r\n\r\nhalf a message")
        expect(connection.reply(), 421, "4.4.2")
        assert connection.closed()
        assert server.count() == 0


def test_client_that_never_reads_cannot_make_the_server_buffer_without_bound(
    mx: StoringServer,
) -> None:
    """Each "EHLO x" (8 octets) earns a reply of 160: a client that pipelines them
    and never reads would have the server hold twenty times what it sent. Past a
    bound the server must stop reading (asyncio's pause_writing) until the client
    reads, as TCP would make any writer wait."""

    async def output() -> tuple[int, bool]:
        (connection,) = mx.server.connections
        assert connection.transport is not None
        return connection.transport.get_write_buffer_size(), connection.transport.is_reading()

    with Wire(mx.host, mx.port) as connection:
        expect(connection.reply(), 220)
        with contextlib.suppress(TimeoutError):  # the server stopped reading: good
            connection.send(b"EHLO x\r\n" * 160_000)
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            buffered, reading = mx.run(output())
            assert buffered <= OUTPUT_BOUND, f"{buffered} octets of replies held for one client"
            if not reading:
                break
            assert time.monotonic() < deadline, f"still reading, {buffered} octets held"


def test_stop_answers_421_to_idle_sessions(tmp_path: Path, tls_certs: TlsCerts) -> None:
    server = StoringServer(tmp_path, config(tls_certs))
    try:
        server.start()
        with Wire(server.host, server.port) as connection:
            connection.hello()
            server.run(server.server.stop(deadline=5))
            assert connection.until_closed() == [Answer(421, ("4.3.2 Service shutting down",))]
    finally:
        server.stop()
