"""The real-peer fixtures of tests/peers/ work, proved with smtplib as the client.

Each peer is shown accepting mail, and shown to hand back what it received in the
form its fixture documents: smtp-sink's dump, Postfix's delivered files (exact
bytes after the trace headers), aiosmtpd's recorded envelopes.
"""

from __future__ import annotations

import smtplib
import socket
import time
from pathlib import Path

import pytest
from tests.peers import (
    AUTH_PASSWORD,
    AUTH_USER,
    LOOPBACK,
    PeerUnavailable,
    Postfix,
    StartAiosmtpd,
    StartSink,
    TlsCerts,
    free_port,
    parse_sink_dump,
    require_binary,
    strip_trace_headers,
    wait_for_port,
)

TIMEOUT = 10.0  # seconds, for every client socket operation

# A message that exercises transparency: lines starting with "." (dot-stuffed on the
# wire), 8-bit UTF-8 text, a Bcc and a Return-Path Postfix would drop by default,
# trailing white space, a line of 998 octets (RFC 5321 §4.5.3.1.6: 1000 with the CRLF,
# the longest every peer must take; aiosmtpd refuses longer), an empty last line.
MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Bcc: carol@example.org\r\n"
    b"Return-Path: <forged@example.com>\r\n"
    b"Subject: peers\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b".a line that starts with a dot\r\n"
    b"..two dots\r\n"
    b"caf\xc3\xa9 \xe2\x80\x94 8-bit\r\n"
    b"trailing white space \t\r\n" + b"x" * 998 + b"\r\n"
    b"\r\n"
)


def connect(host: str, port: int) -> smtplib.SMTP:
    return smtplib.SMTP(host, port, local_hostname="client.example", timeout=TIMEOUT)


# --- helpers -----------------------------------------------------------------------------


def test_a_missing_peer_fails_the_test_and_says_how_to_install_it() -> None:
    with pytest.raises(pytest.fail.Exception, match="make peers"):
        require_binary(Path("/nonexistent/smtp-sink"), "postfix")


def test_wait_for_port_returns_once_a_listener_accepts() -> None:
    with socket.create_server((LOOPBACK, 0)) as listener:
        port = listener.getsockname()[1]
        wait_for_port(LOOPBACK, port, time.monotonic() + TIMEOUT)


def test_wait_for_port_gives_up_at_its_deadline() -> None:
    port = free_port()  # released again: nothing listens there
    started = time.monotonic()
    with pytest.raises(PeerUnavailable, match=f"{LOOPBACK}:{port}"):
        wait_for_port(LOOPBACK, port, started + 0.2)
    assert time.monotonic() - started < 5


# --- smtp-sink ---------------------------------------------------------------------------


def test_smtp_sink_accepts_a_message_and_advertises_what_its_docstring_says(
    smtp_sink: StartSink,
) -> None:
    sink = smtp_sink()
    with connect(sink.host, sink.port) as client:
        code, _ = client.ehlo()
        assert code == 250
        assert set(client.esmtp_features) == {
            "pipelining",
            "8bitmime",
            "auth",
            "xclient",
            "xforward",
            "enhancedstatuscodes",
            "dsn",
        }
        assert client.sendmail("alice@example.org", ["bob@example.net"], MESSAGE) == {}


def test_smtp_sink_options_remove_extensions(smtp_sink: StartSink) -> None:
    sink = smtp_sink("-p", "-8", "-E")
    with connect(sink.host, sink.port) as client:
        client.ehlo()
        assert set(client.esmtp_features) == {"auth", "xclient", "xforward", "dsn"}


def test_smtp_sink_dump_holds_the_envelope_and_the_message(smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    with connect(sink.host, sink.port) as client:
        client.sendmail(
            "alice@example.org",
            ["bob@example.net", "carol@example.org"],
            MESSAGE,
            mail_options=["BODY=8BITMIME"],
        )
    (dump,) = sink.dumps()
    parsed = parse_sink_dump(dump)
    assert parsed.client_addr == LOOPBACK
    assert parsed.client_proto == "ESMTP"
    assert parsed.helo_args == "client.example"
    assert parsed.mail_args == "<alice@example.org> BODY=8BITMIME"
    assert parsed.rcpt_args == ("<bob@example.net>", "<carol@example.org>")
    # smtp-sink drops every CR, so its copy has LF line ends: exact bytes otherwise.
    assert parsed.message == MESSAGE.replace(b"\r\n", b"\n")


def test_smtp_sink_soft_reject_of_rcpt_is_450(smtp_sink: StartSink) -> None:
    sink = smtp_sink("-r", "RCPT")
    with connect(sink.host, sink.port) as client:
        client.ehlo()
        assert client.mail("alice@example.org") == (250, b"2.1.0 Ok")
        assert client.rcpt("bob@example.net") == (450, b"4.3.0 Error: command failed")
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("alice@example.org", ["bob@example.net"], MESSAGE)
    assert refused.value.recipients == {"bob@example.net": (450, b"4.3.0 Error: command failed")}


# --- Postfix -----------------------------------------------------------------------------


def trace_fields(delivered: bytes) -> dict[str, str]:
    """The Return-Path and X-Original-To Postfix put on top of a delivered message."""
    head = delivered.split(b"\r\nReceived: ", 1)[0].decode()
    return dict(line.split(": ", 1) for line in head.split("\r\n"))


def received_field(delivered: bytes) -> bytes:
    trace_length = len(delivered) - len(strip_trace_headers(delivered))
    return delivered[:trace_length].split(b"\r\nReceived: ", 1)[1]


def test_postfix_delivers_the_message_byte_for_byte(fresh_postfix: Postfix) -> None:
    with connect(fresh_postfix.host, fresh_postfix.port) as client:
        refused = client.sendmail(
            "alice@example.org",
            ["bob@example.net", "carol@example.org"],
            MESSAGE,
            mail_options=["BODY=8BITMIME"],
        )
    assert refused == {}
    deliveries = fresh_postfix.wait_for_delivery(2)
    assert len(deliveries) == 2
    for delivered in deliveries:
        assert strip_trace_headers(delivered) == MESSAGE
        assert b" with ESMTP id " in received_field(delivered)
    envelopes = sorted(trace_fields(delivered)["X-Original-To"] for delivered in deliveries)
    assert envelopes == ["bob@example.net", "carol@example.org"]
    assert trace_fields(deliveries[0])["Return-Path"] == "<alice@example.org>"


def test_postfix_advertises_what_its_docstring_says(
    fresh_postfix: Postfix, tls_certs: TlsCerts
) -> None:
    with connect(fresh_postfix.host, fresh_postfix.port) as client:
        assert client.ehlo() == (
            250,
            b"mx.example\nPIPELINING\nSIZE 10240000\nVRFY\nETRN\nSTARTTLS\nAUTH PLAIN LOGIN\n"
            b"ENHANCEDSTATUSCODES\n8BITMIME\nDSN\nSMTPUTF8\nCHUNKING",
        )
        client.starttls(context=tls_certs.client_ssl_context())
        client.ehlo()
        assert not client.has_extn("starttls")
        assert client.has_extn("auth")


def test_postfix_delivers_over_starttls(fresh_postfix: Postfix, tls_certs: TlsCerts) -> None:
    with connect(fresh_postfix.host, fresh_postfix.port) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert client.starttls(context=tls_certs.client_ssl_context())[0] == 220
        client.ehlo()
        client.sendmail("", ["bob@example.net"], MESSAGE)
    (delivered,) = fresh_postfix.wait_for_delivery(1)
    assert strip_trace_headers(delivered) == MESSAGE
    assert trace_fields(delivered) == {"Return-Path": "<>", "X-Original-To": "bob@example.net"}
    assert b" with ESMTPS id " in received_field(delivered)
    assert received_field(delivered).count(b"for <bob@example.net>;") == 1


def test_postfix_keeps_a_line_longer_than_its_record_size(fresh_postfix: Postfix) -> None:
    # smtpd cuts lines into 2048-byte records (line_length_limit); delivery joins them.
    message = b"Subject: long\r\n\r\n" + b"y" * 5000 + b"\r\n"
    with connect(fresh_postfix.host, fresh_postfix.port) as client:
        client.sendmail("alice@example.org", ["bob@example.net"], message)
    (delivered,) = fresh_postfix.wait_for_delivery(1)
    assert strip_trace_headers(delivered) == message


def test_postfix_refuses_recipients_outside_the_test_domains(fresh_postfix: Postfix) -> None:
    with connect(fresh_postfix.host, fresh_postfix.port) as client:
        client.ehlo()
        client.mail("alice@example.org")
        assert client.rcpt("someone@elsewhere.invalid") == (
            554,
            b"5.7.1 <someone@elsewhere.invalid>: Relay access denied",
        )


def test_postfix_rejects_a_bare_lf_in_the_message(fresh_postfix: Postfix) -> None:
    with connect(fresh_postfix.host, fresh_postfix.port) as client:
        client.ehlo()
        client.mail("alice@example.org")
        client.rcpt("bob@example.net")
        assert client.docmd("DATA")[0] == 354
        # smtplib.data() would turn the bare LF into CRLF: write the bytes directly.
        client.send(b"Subject: bare\r\n\r\nbare\nLF\r\n.\r\n")
        assert client.getreply() == (550, b"5.5.2 mx.example Error: bare <LF> received")


def test_postfix_submission_port_wants_starttls_then_auth(
    fresh_postfix: Postfix, tls_certs: TlsCerts
) -> None:
    with connect(fresh_postfix.host, fresh_postfix.submission_port) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        client.starttls(context=tls_certs.client_ssl_context())
        client.ehlo()
        assert client.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        client.mail("alice@example.org")
        assert client.rcpt("bob@example.net")[0] == 554  # not yet authenticated
        client.rset()
        client.user, client.password = AUTH_USER, AUTH_PASSWORD
        assert client.auth("PLAIN", client.auth_plain) == (235, b"2.7.0 Authentication successful")
        client.sendmail("alice@example.org", ["bob@example.net"], MESSAGE)
    (delivered,) = fresh_postfix.wait_for_delivery(1)
    assert strip_trace_headers(delivered) == MESSAGE
    assert b" with ESMTPSA id " in received_field(delivered)


def test_postfix_refuses_a_wrong_password(fresh_postfix: Postfix) -> None:
    with connect(fresh_postfix.host, fresh_postfix.port) as client:
        client.ehlo()
        client.user, client.password = AUTH_USER, "not the password"
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth("PLAIN", client.auth_plain)
    assert refused.value.smtp_code == 535
    assert refused.value.smtp_error == b"5.7.8 Error: authentication failed: authentication failure"


# --- aiosmtpd ----------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [True, False], ids=["starttls", "plaintext"])
def test_aiosmtpd_auth_plain_records_the_envelope(
    aiosmtpd_server: StartAiosmtpd, tls_certs: TlsCerts, tls: bool
) -> None:
    server = aiosmtpd_server(auth=True, tls=tls, auth_require_tls=tls)
    with connect(server.host, server.port) as client:
        if tls:
            client.starttls(context=tls_certs.client_ssl_context())
        client.ehlo()
        client.user, client.password = AUTH_USER, AUTH_PASSWORD
        assert client.auth("PLAIN", client.auth_plain) == (235, b"2.7.0 Authentication successful")
        client.sendmail("alice@example.org", ["bob@example.net"], MESSAGE, ["BODY=8BITMIME"])
    (envelope,) = server.envelopes
    assert envelope.mail_from == "alice@example.org"
    assert envelope.rcpt_tos == ("bob@example.net",)
    # smtplib adds SIZE since aiosmtpd advertises it.
    assert envelope.mail_options == (f"SIZE={len(MESSAGE)}", "BODY=8BITMIME")
    assert envelope.original_content == MESSAGE
    assert envelope.login == AUTH_USER
    assert envelope.tls is tls


def test_aiosmtpd_refuses_a_wrong_password(aiosmtpd_server: StartAiosmtpd) -> None:
    server = aiosmtpd_server(auth=True, auth_require_tls=False)
    with connect(server.host, server.port) as client:
        client.ehlo()
        client.user, client.password = AUTH_USER, "not the password"
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth("PLAIN", client.auth_plain)
    assert refused.value.smtp_code == 535
    assert refused.value.smtp_error == b"5.7.8 Authentication credentials invalid"


def test_aiosmtpd_smtputf8_accepts_a_utf8_address(aiosmtpd_server: StartAiosmtpd) -> None:
    server = aiosmtpd_server(smtputf8=True)
    message = "From: pelé@example.org\r\nSubject: ünïcødé\r\n\r\nhéllo\r\n".encode()
    with connect(server.host, server.port) as client:
        client.ehlo()
        assert client.has_extn("smtputf8")
        client.sendmail("pelé@example.org", ["用户@例子.example"], message, ["SMTPUTF8"])
    (envelope,) = server.envelopes
    assert envelope.mail_from == "pelé@example.org"
    assert envelope.rcpt_tos == ("用户@例子.example",)
    assert envelope.smtp_utf8 is True
    assert envelope.original_content == message
    assert envelope.login is None
    assert envelope.tls is False


def test_aiosmtpd_without_smtputf8_does_not_offer_it(aiosmtpd_server: StartAiosmtpd) -> None:
    server = aiosmtpd_server()
    with connect(server.host, server.port) as client:
        client.ehlo()
        assert not client.has_extn("smtputf8")
