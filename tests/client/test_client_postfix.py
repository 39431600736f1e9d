"""The client against a real Postfix smtpd: delivery byte for byte, STARTTLS, AUTH.

Postfix (tests/peers/, ``Postfix``) offers PIPELINING, SIZE, STARTTLS, AUTH
PLAIN LOGIN, 8BITMIME, DSN, SMTPUTF8 and CHUNKING on ``port``, without requiring
TLS or AUTH from loopback; ``submission_port`` requires STARTTLS, then AUTH. It
takes recipients in the test domains only (554 5.7.1 for others) and delivers
each message, once per recipient, as sent plus three trace fields. Each test
runs with the blocking ``Client`` and with the ``AsyncClient``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from tests.client.drivers import (
    KINDS,
    Driver,
    Sender,
    drive,
    exchange,
    fixed_boundaries,
    sent_verbs,
)
from tests.peers import AUTH_PASSWORD, AUTH_USER, Postfix, TlsCerts, strip_trace_headers

from smtpx.client import (
    AuthFailed,
    NotSupported,
    PermanentFailure,
    RecipientsRefused,
    SendResult,
    TemporaryFailure,
    TLSFailure,
    compose,
)
from smtpx.client._message import flatten

SENDER = "alice@example.com"
RECIPIENT = "bob@example.org"
OUTSIDE = "eve@elsewhere.invalid"  # not a test domain: 554 5.7.1 Relay access denied
SIMPLE = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: postfix\r\n\r\nHello.\r\n"
# Attached as message/rfc822, 7-bit, so compose() puts it on the wire as it is: a
# line of 998 octets (RFC 5321 §4.5.3.1.6) and lines that need dot-stuffing.
FORWARDED = (
    b"From: carol@example.net\r\nSubject: forwarded\r\n\r\n"
    b".a line with a dot\r\n.\r\n" + b"z" * 998 + b"\r\n"
)
PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 4


@pytest.fixture(params=KINDS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    yield from drive(request.param)


def plain(driver: Driver, postfix: Postfix, **options: object) -> Sender:
    return driver.sender(postfix.host, postfix.port, tls="none", **options)


def delivered_as_sent(postfix: Postfix, n: int) -> list[bytes]:
    return [strip_trace_headers(message) for message in postfix.wait_for_delivery(n)]


def received_with(postfix: Postfix) -> list[bytes]:
    """The protocol word of each delivery's Received field: ESMTP, ESMTPS, ESMTPSA..."""
    words = []
    for message in postfix.wait_for_delivery(1):
        received = message.split(b"\r\n\r\n", 1)[0].split(b" with ", 1)[1]
        words.append(received.split(b" ", 1)[0])
    return words


def test_a_composed_message_is_delivered_byte_for_byte(
    driver: Driver, fresh_postfix: Postfix
) -> None:
    message = fixed_boundaries(
        compose(
            sender="Alice Müller <alice@example.com>",
            to=RECIPIENT,
            bcc="carol@example.net",
            subject="Grüße — a composed message",
            text="Hello,\n.a line that starts with a dot\n..and two\n",
            attachments=[
                ("forwarded.eml", FORWARDED, "message/rfc822"),
                ("pixel.png", PNG, None),
            ],
        )
    )
    sent = flatten(message).data
    # What this test is about is on the wire: stuffed lines, a 998-octet line, no Bcc.
    assert b"\r\n.a line that starts with a dot\r\n" in sent
    assert b"\r\n" + b"z" * 998 + b"\r\n" in sent
    assert b"Bcc" not in sent
    with plain(driver, fresh_postfix) as smtp:
        result = smtp.send_message(message)
    assert result.ok
    assert list(result.accepted) == [RECIPIENT, "carol@example.net"]
    assert result.reply is not None
    assert (result.reply.code, result.reply.status) == (250, "2.0.0")
    # RFC 3030: Postfix offers CHUNKING, so the content went as one BDAT LAST,
    # pipelined with MAIL and the RCPTs (RFC 2920).
    assert exchange(smtp.transcript)[:5] == ["MAIL", "RCPT", "RCPT", "BDAT", "content"]
    assert "DATA" not in sent_verbs(smtp.transcript)
    # One delivery per recipient, the Bcc recipient's too.
    assert delivered_as_sent(fresh_postfix, 2) == [sent, sent]


def test_partly_accepted_recipients_get_the_message(driver: Driver, fresh_postfix: Postfix) -> None:
    with plain(driver, fresh_postfix) as smtp:
        result = smtp.send_message(SIMPLE, SENDER, [RECIPIENT, OUTSIDE, "carol@example.net"])
    assert not result.ok
    assert list(result.accepted) == [RECIPIENT, "carol@example.net"]
    assert [(reply.code, reply.status) for reply in result.refused.values()] == [(554, "5.7.1")]
    assert list(result.refused) == [OUTSIDE]
    assert result.reply is not None
    assert result.reply.code == 250
    assert delivered_as_sent(fresh_postfix, 2) == [SIMPLE, SIMPLE]


def test_after_a_refused_transaction_the_next_message_goes(
    driver: Driver, fresh_postfix: Postfix
) -> None:
    with plain(driver, fresh_postfix) as smtp:
        with pytest.raises(RecipientsRefused) as caught:
            smtp.send_message(SIMPLE, SENDER, [OUTSIDE])
        assert [reply.code for reply in caught.value.result.refused.values()] == [554]
        result = smtp.send_message(SIMPLE, SENDER, [RECIPIENT])
    assert result.ok
    verbs = [verb for verb in sent_verbs(smtp.transcript) if verb in ("MAIL", "RSET")]
    assert verbs == ["MAIL", "RSET", "MAIL"]
    assert exchange(smtp.transcript, "RSET")[:3] == ["RSET", "<- 250", "MAIL"]
    assert delivered_as_sent(fresh_postfix, 1) == [SIMPLE]


def test_a_message_over_the_size_limit_is_not_sent(driver: Driver, fresh_postfix: Postfix) -> None:
    # RFC 1870: Postfix says SIZE 10240000; a bigger message is refused before MAIL.
    big = SIMPLE + (b"x" * 998 + b"\r\n") * 10_300
    with plain(driver, fresh_postfix) as smtp:
        assert smtp.extensions.size == 10_240_000
        with pytest.raises(NotSupported, match="10240000"):
            smtp.send_message(big, SENDER, [RECIPIENT])
        assert "MAIL" not in sent_verbs(smtp.transcript)
        assert smtp.send_message(SIMPLE, SENDER, [RECIPIENT]).ok


def test_utf8_addresses_are_delivered_with_smtputf8(driver: Driver, fresh_postfix: Postfix) -> None:
    message = compose(sender="André <andré@example.org>", to="jürgen@example.org", text="Hallo\n")
    with plain(driver, fresh_postfix) as smtp:
        assert smtp.send_message(message).ok
    assert any(
        line.startswith("-> MAIL FROM:<andré@example.org> ") and "SMTPUTF8" in line
        for line in smtp.transcript
    )
    assert delivered_as_sent(fresh_postfix, 1) == [flatten(message).data]
    assert received_with(fresh_postfix) == [b"UTF8SMTP"]


def test_dsn_requests_go_when_offered(driver: Driver, fresh_postfix: Postfix) -> None:
    with plain(driver, fresh_postfix) as smtp:
        smtp.send_message(
            SIMPLE, SENDER, [RECIPIENT], ret="hdrs", envid="QQ314159", notify=["failure", "delay"]
        )
    mail = next(line for line in smtp.transcript if line.startswith("-> MAIL"))
    rcpt = next(line for line in smtp.transcript if line.startswith("-> RCPT"))
    assert "RET=HDRS" in mail
    assert "ENVID=QQ314159" in mail
    assert rcpt == f"-> RCPT TO:<{RECIPIENT}> NOTIFY=FAILURE,DELAY"
    assert delivered_as_sent(fresh_postfix, 1) == [SIMPLE]


# --- STARTTLS ---------------------------------------------------------------------------------


def test_starttls_with_the_test_ca_delivers_inside_tls(
    driver: Driver, fresh_postfix: Postfix, tls_certs: TlsCerts
) -> None:
    smtp = driver.sender(
        fresh_postfix.host, fresh_postfix.port, tls="starttls", ca_file=str(tls_certs.ca_pem)
    )
    with smtp:
        assert smtp.send_message(SIMPLE, SENDER, [RECIPIENT]).ok
        assert smtp.tls_info is not None
        assert smtp.tls_info.version is not None
        assert smtp.tls_info.version.startswith("TLS")
        assert smtp.tls_info.certificate != {}  # verified, so the certificate is known
        # RFC 3207 §4.2: nothing learned before TLS is kept; EHLO again.
        assert not smtp.extensions.starttls
    assert sent_verbs(smtp.transcript)[:3] == ["EHLO", "STARTTLS", "EHLO"]
    assert delivered_as_sent(fresh_postfix, 1) == [SIMPLE]
    assert received_with(fresh_postfix) == [b"ESMTPS"]


def test_starttls_with_an_unknown_ca_fails_closed(driver: Driver, fresh_postfix: Postfix) -> None:
    # The system trust store does not know the test CA: no mail may go, not even in clear.
    smtp = driver.sender(fresh_postfix.host, fresh_postfix.port, tls="starttls")
    with pytest.raises(TLSFailure, match="certificate") as caught:
        smtp.connect()
    assert isinstance(caught.value, TemporaryFailure)
    assert sent_verbs(smtp.transcript) == ["EHLO", "STARTTLS"]
    assert smtp.tls_info is None


def test_starttls_without_verification_delivers(driver: Driver, fresh_postfix: Postfix) -> None:
    smtp = driver.sender(fresh_postfix.host, fresh_postfix.port, tls="starttls", verify=False)
    with smtp:
        assert smtp.send_message(SIMPLE, SENDER, [RECIPIENT]).ok
        assert smtp.tls_info is not None
        assert smtp.tls_info.certificate == {}  # not verified, so not known
    assert delivered_as_sent(fresh_postfix, 1) == [SIMPLE]


# --- AUTH on the submission port -------------------------------------------------------------


def submission(
    driver: Driver, postfix: Postfix, certs: TlsCerts, password: str, mechanism: str | None
) -> Sender:
    return driver.sender(
        postfix.host,
        postfix.submission_port,
        tls="starttls",
        ca_file=str(certs.ca_pem),
        username=AUTH_USER,
        password=password,
        auth_mechanism=mechanism,
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_on_the_submission_port_delivers(
    driver: Driver, fresh_postfix: Postfix, tls_certs: TlsCerts, mechanism: str
) -> None:
    smtp = submission(driver, fresh_postfix, tls_certs, AUTH_PASSWORD, mechanism)
    with smtp:
        assert smtp.send_message(SIMPLE, SENDER, [RECIPIENT]).ok
    assert f"** authenticated as {AUTH_USER} with {mechanism}" in smtp.transcript
    assert sent_verbs(smtp.transcript)[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]
    assert_no_secret(smtp.transcript, AUTH_PASSWORD)
    assert delivered_as_sent(fresh_postfix, 1) == [SIMPLE]
    assert received_with(fresh_postfix) == [b"ESMTPSA"]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_wrong_password_is_auth_failed_535(
    driver: Driver, fresh_postfix: Postfix, tls_certs: TlsCerts, mechanism: str
) -> None:
    smtp = submission(driver, fresh_postfix, tls_certs, "looking-glass", mechanism)
    with pytest.raises(AuthFailed) as caught:
        smtp.connect()
    assert isinstance(caught.value, PermanentFailure)
    assert caught.value.reply is not None
    assert (caught.value.reply.code, caught.value.reply.status) == (535, "5.7.8")
    assert "MAIL" not in sent_verbs(smtp.transcript)
    assert_no_secret(smtp.transcript, "looking-glass")


def test_credentials_are_not_sent_in_clear_unless_allowed(
    driver: Driver, fresh_postfix: Postfix
) -> None:
    # RFC 4954 §4: the port offers AUTH in clear, but the client keeps the password.
    smtp = plain(driver, fresh_postfix, username=AUTH_USER, password=AUTH_PASSWORD)
    with pytest.raises(AuthFailed, match="without TLS") as caught:
        smtp.connect()
    assert caught.value.reply is None
    assert sent_verbs(smtp.transcript) == ["EHLO"]
    assert not any(line.startswith("-> AUTH") for line in smtp.transcript)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_credentials_go_in_clear_when_allowed(
    driver: Driver, fresh_postfix: Postfix, mechanism: str
) -> None:
    smtp = plain(
        driver,
        fresh_postfix,
        username=AUTH_USER,
        password=AUTH_PASSWORD,
        auth_mechanism=mechanism,
        allow_auth_without_tls=True,
    )
    with smtp:
        assert smtp.send_message(SIMPLE, SENDER, [RECIPIENT]).ok
    assert f"-> AUTH {mechanism}" in " ".join(smtp.transcript)
    assert_no_secret(smtp.transcript, AUTH_PASSWORD)
    assert received_with(fresh_postfix) == [b"ESMTPA"]


def assert_no_secret(transcript: list[str], password: str) -> None:
    """Neither the password nor a base64 form of it (alone, or PLAIN's triple)."""
    forms = [
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(f"\0{AUTH_USER}\0{password}".encode()).decode(),
    ]
    text = "\n".join(transcript)
    assert [form for form in forms if form in text] == []


def test_send_messages_delivers_around_a_refused_message(
    driver: Driver, fresh_postfix: Postfix
) -> None:
    second = SIMPLE.replace(b"postfix", b"second")
    with plain(driver, fresh_postfix) as smtp:
        outcomes = smtp.send_messages(
            [
                (SIMPLE, SENDER, [RECIPIENT]),
                (SIMPLE, SENDER, [OUTSIDE]),
                (second, SENDER, [RECIPIENT]),
            ]
        )
    assert isinstance(outcomes[0], SendResult)
    assert isinstance(outcomes[1], RecipientsRefused)
    assert isinstance(outcomes[2], SendResult)
    assert [reply.code for reply in outcomes[1].result.refused.values()] == [554]
    # The refused BDAT left the transaction open: RSET before the next MAIL.
    verbs = [verb for verb in sent_verbs(smtp.transcript) if verb in ("MAIL", "RSET")]
    assert verbs == ["MAIL", "MAIL", "RSET", "MAIL"]
    assert sorted(delivered_as_sent(fresh_postfix, 2)) == sorted([SIMPLE, second])
