"""The client against aiosmtpd: what arrives, byte for byte, and AUTH, TLS and SMTPUTF8.

aiosmtpd records each transaction's envelope and its content exactly as received,
dot-unstuffed, CRLFs kept (tests/peers/, ``ReceivedEnvelope``), so the bytes
that arrive can be compared with the bytes smtpx meant to send. It offers SIZE
and 8BITMIME, and on request SMTPUTF8, STARTTLS and AUTH PLAIN/LOGIN; it does
not offer PIPELINING, ENHANCEDSTATUSCODES, CHUNKING or DSN. Each test runs with
the blocking ``Client`` and with the ``AsyncClient`` (tests/client/drivers.py).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from tests.client.drivers import KINDS, Driver, Sender, drive, fixed_boundaries, sent_verbs
from tests.peers import (
    AUTH_PASSWORD,
    AUTH_USER,
    AiosmtpdServer,
    ReceivedEnvelope,
    StartAiosmtpd,
    TlsCerts,
    free_port,
)

from smtpx.client import (
    AuthFailed,
    ConnectionFailed,
    NotSupported,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
    TLSFailure,
    compose,
)
from smtpx.client._message import flatten

SENDER = "alice@example.com"
RECIPIENT = "bob@example.org"
HEADER = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: peers\r\n"
PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 8


@pytest.fixture(params=KINDS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    yield from drive(request.param)


def plain(driver: Driver, server: AiosmtpdServer, **options: object) -> Sender:
    return driver.sender(server.host, server.port, tls="none", **options)


def only(server: AiosmtpdServer) -> ReceivedEnvelope:
    (envelope,) = server.envelopes
    return envelope


def send_raw(driver: Driver, server: AiosmtpdServer, data: bytes) -> ReceivedEnvelope:
    with plain(driver, server) as smtp:
        result = smtp.send_message(data, SENDER, [RECIPIENT])
    assert result.ok
    return only(server)


# --- the content arrives as it was given ----------------------------------------------------


def test_lines_of_dots_arrive_unchanged(driver: Driver, aiosmtpd_server: StartAiosmtpd) -> None:
    # RFC 5321 §4.5.2: every line starting with "." is stuffed on the wire, and
    # unstuffed by the server; a line of one "." must not end the message early.
    data = HEADER + b"\r\n.\r\n..\r\n.leading dot\r\n...three\r\nend\r\n"
    assert send_raw(driver, aiosmtpd_server(), data).original_content == data


def test_a_line_of_998_octets_arrives_unchanged(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    # RFC 5321 §4.5.3.1.6: 998 octets and the CRLF, the longest line every server takes.
    data = HEADER + b"\r\n" + b"x" * 998 + b"\r\n." + b"y" * 997 + b"\r\n"
    assert send_raw(driver, aiosmtpd_server(), data).original_content == data


def test_bare_line_feeds_go_as_crlf(driver: Driver, aiosmtpd_server: StartAiosmtpd) -> None:
    # RFC 5321 §2.3.8: lines end in CRLF on the wire, whatever the caller's file had.
    data = b"From: alice@example.com\nSubject: unix\n\none\n.two\n\nthree\n"
    received = send_raw(driver, aiosmtpd_server(), data)
    assert received.original_content == data.replace(b"\n", b"\r\n")


def test_content_without_a_final_line_break_gets_one(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    # RFC 5321 §4.1.1.4: the end of data is CRLF "." CRLF, so the last line is ended.
    data = HEADER + b"\r\nno line break at the end"
    assert send_raw(driver, aiosmtpd_server(), data).original_content == data + b"\r\n"


def test_eight_bit_content_goes_with_body_8bitmime(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    data = (
        HEADER + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9 \xe2\x80\x94 8-bit\r\n"
    )
    received = send_raw(driver, aiosmtpd_server(), data)
    assert received.original_content == data
    # aiosmtpd offers SIZE too, so MAIL declares it (RFC 1870).
    assert sorted(received.mail_options) == ["BODY=8BITMIME", f"SIZE={len(data)}"]
    assert not received.smtp_utf8


def test_seven_bit_content_declares_no_body(driver: Driver, aiosmtpd_server: StartAiosmtpd) -> None:
    data = HEADER + b"\r\nplain ASCII\r\n"
    received = send_raw(driver, aiosmtpd_server(), data)
    assert received.mail_options == (f"SIZE={len(data)}",)


def test_a_composed_message_with_attachments_arrives_as_flattened(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    message = fixed_boundaries(
        compose(
            sender="Jürgen Groß <alice@example.com>",
            to=RECIPIENT,
            subject="Grüße, with attachments",
            text="Hallo!\n.a line with a dot\n",
            attachments=[("pixel.png", PNG, None), ("data.bin", bytes(range(256)), None)],
        )
    )
    server = aiosmtpd_server()
    with plain(driver, server) as smtp:
        result = smtp.send_message(message)
    assert list(result.accepted) == [RECIPIENT]
    received = only(server)
    assert received.original_content == flatten(message).data
    assert received.mail_from == SENDER
    assert received.rcpt_tos == (RECIPIENT,)
    # compose() writes 7-bit MIME, so no BODY parameter is needed.
    assert not any(option.startswith("BODY=") for option in received.mail_options)
    assert base64.b64encode(PNG)[:76] in received.original_content


# --- the envelope -------------------------------------------------------------------------


def test_raw_bytes_go_to_the_envelope_given_not_the_headers(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    data = b"From: someone@example.net\r\nTo: other@example.net\r\n\r\nbody\r\n"
    server = aiosmtpd_server()
    with plain(driver, server) as smtp:
        result = smtp.send_message(data, SENDER, ["x@example.org", "y@example.org"])
    assert list(result.accepted) == ["x@example.org", "y@example.org"]
    received = only(server)
    assert (received.mail_from, received.rcpt_tos) == (SENDER, ("x@example.org", "y@example.org"))
    assert received.original_content == data


def test_bcc_recipients_get_the_message_without_the_bcc_field(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    message = EmailMessage()
    message["From"] = "Alice <alice@example.com>"
    message["To"] = "bob@example.org"
    message["Cc"] = "carol@example.org"
    message["Bcc"] = "dave@example.org, Eve <eve@example.net>"
    message["Subject"] = "bcc"
    message.set_content("hidden recipients\n")
    server = aiosmtpd_server()
    with plain(driver, server) as smtp:
        result = smtp.send_message(message)
    recipients = ("bob@example.org", "carol@example.org", "dave@example.org", "eve@example.net")
    assert tuple(result.accepted) == recipients
    received = only(server)
    assert received.rcpt_tos == recipients
    assert received.mail_from == SENDER
    assert b"\r\nbcc:" not in received.original_content.lower()
    assert b"dave@example.org" not in received.original_content
    assert received.original_content == flatten(message).data
    assert message["Bcc"] is not None  # the caller's message is left alone


def test_the_null_reverse_path_is_sent_as_empty_brackets(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    # RFC 5321 §4.5.5: notifications go from the null reverse-path, MAIL FROM:<>.
    server = aiosmtpd_server()
    with plain(driver, server) as smtp:
        smtp.send_message(HEADER + b"\r\nbounce\r\n", "", [RECIPIENT])
    assert any(line.startswith("-> MAIL FROM:<> ") for line in smtp.transcript)
    assert only(server).mail_from == "<>"  # aiosmtpd's way of recording the null path


def test_a_reply_without_an_enhanced_status_has_status_none(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    # aiosmtpd offers no ENHANCEDSTATUSCODES and answers RCPT with a bare "250 OK".
    server = aiosmtpd_server()
    with plain(driver, server) as smtp:
        result = smtp.send_message(HEADER + b"\r\nhi\r\n", SENDER, [RECIPIENT, "carol@example.org"])
        assert not smtp.extensions.enhancedstatuscodes
        assert not smtp.extensions.pipelining
    assert [(reply.code, reply.status, reply.text) for reply in result.accepted.values()] == [
        (250, None, "OK"),
        (250, None, "OK"),
    ]


# --- SMTPUTF8 -------------------------------------------------------------------------------


def utf8_message() -> EmailMessage:
    return compose(
        sender="André <andré@example.org>",
        to="Jürgen <jürgen@example.org>",
        subject="Grüße",
        text="Hallo Jürgen\n",
    )


def test_utf8_addresses_go_with_smtputf8_when_offered(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    message = utf8_message()
    server = aiosmtpd_server(smtputf8=True)
    with plain(driver, server) as smtp:
        result = smtp.send_message(message)
    assert list(result.accepted) == ["jürgen@example.org"]
    received = only(server)
    assert received.smtp_utf8
    assert "SMTPUTF8" in received.mail_options
    assert (received.mail_from, received.rcpt_tos) == ("andré@example.org", ("jürgen@example.org",))
    # RFC 6532: the address fields go as raw UTF-8, which no encoding could carry.
    assert received.original_content == flatten(message).data
    assert "Jürgen <jürgen@example.org>".encode() in received.original_content


def test_utf8_addresses_are_not_sent_without_smtputf8(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    server = aiosmtpd_server(smtputf8=False)
    with plain(driver, server) as smtp:
        with pytest.raises(NotSupported, match="SMTPUTF8") as caught:
            smtp.send_message(utf8_message())
        assert caught.value.reply is None
        assert "MAIL" not in sent_verbs(smtp.transcript)
        # An explicit UTF-8 envelope is refused the same way, even for ASCII content.
        with pytest.raises(NotSupported, match="SMTPUTF8"):
            smtp.send_message(HEADER + b"\r\nhi\r\n", SENDER, ["jürgen@example.org"])
        assert "MAIL" not in sent_verbs(smtp.transcript)
        assert smtp.noop().code == 250
    assert server.envelopes == []


# --- AUTH and TLS -----------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_in_clear_when_allowed(
    driver: Driver, aiosmtpd_server: StartAiosmtpd, mechanism: str
) -> None:
    server = aiosmtpd_server(auth=True, auth_require_tls=False)
    smtp = plain(
        driver,
        server,
        username=AUTH_USER,
        password=AUTH_PASSWORD,
        auth_mechanism=mechanism,
        allow_auth_without_tls=True,
    )
    with smtp:
        assert smtp.send_message(HEADER + b"\r\nhi\r\n", SENDER, [RECIPIENT]).ok
    received = only(server)
    assert (received.login, received.tls) == (AUTH_USER, False)
    assert f"** authenticated as {AUTH_USER} with {mechanism}" in smtp.transcript
    assert_no_secret(smtp.transcript)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", None])
def test_auth_inside_starttls(
    driver: Driver, aiosmtpd_server: StartAiosmtpd, tls_certs: TlsCerts, mechanism: str | None
) -> None:
    # aiosmtpd offers AUTH only after STARTTLS (auth_require_tls), as RFC 4954 §4 advises.
    server = aiosmtpd_server(auth=True, tls=True, require_starttls=True)
    smtp = driver.sender(
        server.host,
        server.port,
        tls="starttls",
        ca_file=str(tls_certs.ca_pem),
        username=AUTH_USER,
        password=AUTH_PASSWORD,
        auth_mechanism=mechanism,
    )
    with smtp:
        assert smtp.send_message(HEADER + b"\r\nhi\r\n", SENDER, [RECIPIENT]).ok
        assert smtp.tls_info is not None
        assert smtp.tls_info.version is not None
        assert smtp.tls_info.version.startswith("TLS")
    received = only(server)
    assert (received.login, received.tls) == (AUTH_USER, True)
    # Unasked, the client takes PLAIN over LOGIN (both offered; no CRAM-MD5).
    assert f"** authenticated as {AUTH_USER} with {mechanism or 'PLAIN'}" in smtp.transcript
    # RFC 3207 §4.2: EHLO again inside TLS.
    assert sent_verbs(smtp.transcript)[:3] == ["EHLO", "STARTTLS", "EHLO"]
    assert_no_secret(smtp.transcript)


def test_a_wrong_password_is_auth_failed_535(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    server = aiosmtpd_server(auth=True, auth_require_tls=False)
    smtp = plain(driver, server, username=AUTH_USER, password="not-it", allow_auth_without_tls=True)
    with pytest.raises(AuthFailed) as caught:
        smtp.connect()
    assert isinstance(caught.value, PermanentFailure)
    assert caught.value.reply is not None
    assert caught.value.reply.code == 535
    assert "MAIL" not in sent_verbs(smtp.transcript)
    assert_no_secret(smtp.transcript, "not-it")


def test_a_server_requiring_starttls_refuses_mail_in_clear(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    server = aiosmtpd_server(tls=True, require_starttls=True)
    with plain(driver, server) as smtp, pytest.raises(PermanentFailure) as caught:
        smtp.send_message(HEADER + b"\r\nhi\r\n", SENDER, [RECIPIENT])
    assert caught.value.reply is not None
    assert caught.value.reply.code == 530
    assert server.envelopes == []


def test_auto_tls_takes_starttls_when_offered(
    driver: Driver, aiosmtpd_server: StartAiosmtpd, tls_certs: TlsCerts
) -> None:
    server = aiosmtpd_server(tls=True, require_starttls=True)
    smtp = driver.sender(server.host, server.port, tls="auto", ca_file=str(tls_certs.ca_pem))
    with smtp:
        assert smtp.send_message(HEADER + b"\r\nhi\r\n", SENDER, [RECIPIENT]).ok
    assert only(server).tls


def test_starttls_required_but_not_offered_fails_closed(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    server = aiosmtpd_server(tls=False)
    smtp = driver.sender(server.host, server.port, tls="starttls")
    with pytest.raises(TLSFailure, match="does not offer STARTTLS") as caught:
        smtp.connect()
    assert isinstance(caught.value, TemporaryFailure)
    assert sent_verbs(smtp.transcript) == ["EHLO"]


def assert_no_secret(transcript: list[str], password: str = AUTH_PASSWORD) -> None:
    """Neither the password nor any base64 form of it, alone or in PLAIN's triple."""
    forms = [
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(f"\0{AUTH_USER}\0{password}".encode()).decode(),
        base64.b64encode(AUTH_USER.encode()).decode(),
    ]
    text = "\n".join(transcript)
    assert [form for form in forms if form in text] == []


# --- connections that cannot be made ---------------------------------------------------------


def test_nothing_listening_is_connection_failed(driver: Driver) -> None:
    smtp = driver.sender("127.0.0.1", free_port(), tls="none")
    with pytest.raises(ConnectionFailed) as caught:
        smtp.connect()
    assert isinstance(caught.value, TemporaryFailure)
    assert caught.value.reply is None
    assert smtp.transcript == []


def test_implicit_tls_against_a_plain_server_fails_temporarily(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    server = aiosmtpd_server()
    smtp = driver.sender(server.host, server.port, tls="implicit", timeout=5)
    with pytest.raises((TLSFailure, ConnectionFailed)) as caught:
        smtp.connect()
    assert isinstance(caught.value, TemporaryFailure)
    assert smtp.tls_info is None
    assert sent_verbs(smtp.transcript) == []


def test_send_messages_without_pipelining_sends_each_in_turn(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    contents = [HEADER + b"\r\n.message %d\r\n" % n for n in range(3)]
    server = aiosmtpd_server()
    with plain(driver, server) as smtp:
        outcomes = smtp.send_messages([(data, SENDER, [RECIPIENT]) for data in contents])
    assert [isinstance(outcome, SendResult) and outcome.ok for outcome in outcomes] == [True] * 3
    assert [envelope.original_content for envelope in server.envelopes] == contents
