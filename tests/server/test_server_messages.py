"""What the receiver keeps of a transaction: large content, BDAT chunks, the envelope's
ESMTP parameters, and what it must not keep (a reset or refused transaction's bytes).

Raw-socket dialogues (``Wire``) and smtpx's Client against
``Server(StoringHandler(SQLiteStore))``; the store is read after each 250.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.peers import TlsCerts
from tests.server.receiver import (
    RECIPIENT,
    SENDER,
    Answer,
    StoringServer,
    Wire,
    message,
    split_received,
    storing_server,
    without_received,
)

from smtpx.client import Client
from smtpx.protocol import Limits
from smtpx.server import ServerConfig
from smtpx.store import Recipient

MAIL = f"MAIL FROM:<{SENDER}>"
RCPT = f"RCPT TO:<{RECIPIENT}>"
# Far past the store's 256 KiB in memory: the content spills to a file as it arrives.
LARGE = message("large", "".join(f"line {n:07d} " + "x" * 60 + "\r\n" for n in range(25_000)))


@pytest.fixture
def mx(tmp_path: Path, tls_certs: TlsCerts) -> Iterator[StoringServer]:
    config = ServerConfig(hostname="mx.test", tls=tls_certs.server_ssl_context())
    with storing_server(tmp_path / "store", config) as server:
        yield server


def expect(answer: Answer, code: int, status: str | None = None) -> None:
    assert answer.code == code, answer
    if status is not None:
        assert answer.status == status, answer


# --- content -----------------------------------------------------------------------------------


def test_large_message_over_data_is_stored_intact(mx: StoringServer) -> None:
    assert len(LARGE) > 1_500_000
    with smtplib.SMTP(mx.host, mx.port, timeout=10) as smtp:
        assert smtp.sendmail(SENDER, [RECIPIENT], LARGE) == {}
    stored, raw = mx.only()
    assert without_received(raw) == LARGE
    assert stored.size == len(raw)


def test_large_message_over_bdat_is_stored_intact(mx: StoringServer) -> None:
    with Client(mx.host, mx.port, tls="none", timeout=10) as smtp:
        smtp.send_message(LARGE, SENDER, [RECIPIENT])
    _, raw = mx.only()
    assert without_received(raw) == LARGE


def test_bdat_chunks_before_rset_are_not_part_of_the_next_message(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        connection.command(MAIL)
        connection.command(RCPT)
        abandoned = b"Subject: abandoned\r\n\r\nfirst part"
        connection.send(f"BDAT {len(abandoned)}\r\n".encode() + abandoned)
        expect(connection.reply(), 250, "2.0.0")
        expect(connection.command("RSET"), 250, "2.0.0")
        connection.command(MAIL)
        connection.command(RCPT)
        kept = message("kept")
        connection.send(f"BDAT {len(kept)} LAST\r\n".encode() + kept)
        expect(connection.reply(), 250, "2.0.0")
    _, raw = mx.only()
    assert without_received(raw) == kept


def test_chunks_beyond_the_size_limit_are_refused_with_552_and_not_stored(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    """RFC 3030 §4 and RFC 1870: the chunk is read whole, then the transaction fails."""
    config = ServerConfig(
        hostname="mx.test", tls=tls_certs.server_ssl_context(), limits=Limits(message_size=1000)
    )
    with storing_server(tmp_path, config) as server, Wire(server.host, server.port) as connection:
        connection.hello()
        connection.command(MAIL)
        connection.command(RCPT)
        connection.send(b"BDAT 600\r\n" + b"a" * 600)
        expect(connection.reply(), 250, "2.0.0")
        connection.send(b"BDAT 600 LAST\r\n" + b"b" * 600)
        expect(connection.reply(), 552, "5.3.4")
        # The transaction is over; the 1200 octets were never taken for commands.
        expect(connection.command(RCPT), 503, "5.5.1")
        expect(connection.command("NOOP"), 250, "2.0.0")
        assert server.count() == 0


# --- the envelope ----------------------------------------------------------------------------


def test_dsn_parameters_and_the_null_sender_are_kept_with_the_message(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        expect(connection.command("MAIL FROM:<> RET=HDRS ENVID=bounce-1 BODY=8BITMIME"), 250)
        expect(connection.command(f"{RCPT} NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{RECIPIENT}"), 250)
        expect(connection.command("RCPT TO:<carol@example.org> NOTIFY=NEVER"), 250)
        expect(connection.command("DATA"), 354)
        connection.send(message("dsn") + b".\r\n")
        expect(connection.reply(), 250, "2.0.0")
    stored, raw = mx.only()
    assert stored.envelope.sender == ""
    assert dict(stored.envelope.params) == {"RET": "HDRS", "ENVID": "bounce-1", "BODY": "8BITMIME"}
    assert stored.envelope.recipients == (
        Recipient(RECIPIENT, (("NOTIFY", "SUCCESS,FAILURE"), ("ORCPT", f"rfc822;{RECIPIENT}"))),
        Recipient("carol@example.org", (("NOTIFY", "NEVER"),)),
    )
    header, _ = split_received(raw)
    assert " for <" not in header  # two recipients


def test_smtputf8_transaction_keeps_the_utf8_addresses(mx: StoringServer) -> None:
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        expect(connection.command("MAIL FROM:<josé@example.org> SMTPUTF8"), 250, "2.1.0")
        expect(connection.command("RCPT TO:<zoë@example.org>"), 250, "2.1.5")
        expect(connection.command("DATA"), 354)
        connection.send("Subject: ¡hola!\r\n\r\nçà\r\n.\r\n".encode())
        expect(connection.reply(), 250, "2.0.0")
    stored, raw = mx.only()
    assert stored.envelope.sender == "josé@example.org"
    assert stored.envelope.recipients == (Recipient("zoë@example.org"),)
    assert ("SMTPUTF8", "") in stored.envelope.params
    header, rest = split_received(raw)
    assert "for <zoë@example.org>" in header
    assert rest == "Subject: ¡hola!\r\n\r\nçà\r\n".encode()


def test_utf8_address_without_smtputf8_is_553(mx: StoringServer) -> None:
    """RFC 6531 §3.4: a non-ASCII address needs SMTPUTF8 on MAIL."""
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        expect(connection.command("MAIL FROM:<josé@example.org>"), 553, "5.6.7")
        expect(connection.command(MAIL), 250, "2.1.0")
        expect(connection.command("RCPT TO:<zoë@example.org>"), 553, "5.6.7")


def test_the_101st_recipient_gets_452_and_100_are_kept(mx: StoringServer) -> None:
    """RFC 5321 §4.5.3.1.8 and §4.5.3.1.10: at least 100 recipients; beyond, 452."""
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        rcpts = "".join(f"RCPT TO:<user{n}@example.org>\r\n" for n in range(101))
        connection.send(f"{MAIL}\r\n{rcpts}DATA\r\n".encode())
        mail, *answers, data = connection.replies(103)
        expect(mail, 250, "2.1.0")
        assert [answer.code for answer in answers] == [250] * 100 + [452]
        expect(answers[-1], 452, "4.5.3")
        expect(data, 354)
        connection.send(message("many") + b".\r\n")
        expect(connection.reply(), 250, "2.0.0")
    stored, _ = mx.only()
    assert len(stored.envelope.recipients) == 100


def test_message_refused_mid_session_leaves_the_next_one_clean(mx: StoringServer) -> None:
    """A refused message (550 at its end) is dropped; the next one in the same session is
    stored without a byte of it."""
    with Wire(mx.host, mx.port) as connection:
        connection.hello()
        connection.command(MAIL)
        connection.command(RCPT)
        connection.command("DATA")
        connection.send(b"Subject: refused\r\n\r\nbare\nLF\r\n.\r\n")
        expect(connection.reply(), 550, "5.6.0")
        connection.command(MAIL)
        connection.command(RCPT)
        connection.command("DATA")
        connection.send(message("second") + b".\r\n")
        expect(connection.reply(), 250, "2.0.0")
    _, raw = mx.only()
    assert without_received(raw) == message("second")


# --- idle during the TLS handshake ---------------------------------------------------------


def test_client_silent_after_starttls_is_closed_by_the_idle_timeout(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    """A client that asks for TLS and never starts the handshake is as idle as any
    other: it must not hold its connection beyond idle_timeout (asyncio's own TLS
    handshake timeout is 60 s)."""
    config = ServerConfig(hostname="mx.test", tls=tls_certs.server_ssl_context(), idle_timeout=0.5)
    with storing_server(tmp_path, config) as server, Wire(server.host, server.port) as connection:
        connection.hello()
        expect(connection.command("STARTTLS"), 220, "2.0.0")
        # Nothing more may come in clear: just the close, within a few idle periods.
        assert connection.closed(timeout=2.5), "still open 2.5 s after STARTTLS"
        server.wait_for_connections(0)
