"""The client against Postfix's smtp-sink: the ESMTP choices it makes, and every fault.

smtp-sink offers PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES and DSN unless told not
to, and injects faults on command: ``-f CMD`` 500, ``-r CMD`` 450, ``-q CMD`` a
dropped connection, ``-Q CMD`` 421 and a dropped connection, ``-w N`` N seconds
before the reply to DATA (tests/peers/, ``Sink``). Each test runs with the
blocking ``Client`` and with the ``AsyncClient`` (tests/client/drivers.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.client.drivers import KINDS, Driver, Sender, drive, exchange, sent_verbs
from tests.peers import Sink, StartSink, parse_sink_dump

from smtpx.client import (
    ConnectionFailed,
    NotSupported,
    PermanentFailure,
    RecipientsDeferred,
    RecipientsRefused,
    SendResult,
    SMTPError,
    TemporaryFailure,
    Timeout,
)
from smtpx.protocol import Reply

SENDER = "alice@example.com"
RECIPIENTS = ["bob@example.org", "carol@example.net"]
SEVEN_BIT = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
EIGHT_BIT = (
    b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: hi\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n"
)


@pytest.fixture(params=KINDS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    yield from drive(request.param)


def plain(driver: Driver, sink: Sink, **options: object) -> Sender:
    return driver.sender(sink.host, sink.port, tls="none", **options)


def send_default(smtp: Sender) -> None:
    smtp.send_message(SEVEN_BIT, SENDER, RECIPIENTS)


# --- a message goes, with or without the extensions -------------------------------------


def test_a_message_to_two_recipients_is_pipelined(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink()
    with plain(driver, sink) as smtp:
        result = smtp.send_message(SEVEN_BIT, SENDER, RECIPIENTS)
        assert smtp.extensions.pipelining
    assert result.ok
    assert result.sender == SENDER
    assert list(result.accepted) == RECIPIENTS
    assert [reply.code for reply in result.accepted.values()] == [250, 250]
    assert result.reply is not None
    assert (result.reply.code, result.reply.status) == (250, "2.0.0")
    # RFC 2920 §3.1: MAIL, every RCPT and DATA in one group, then the replies in order.
    assert exchange(smtp.transcript)[:9] == [
        *("MAIL", "RCPT", "RCPT", "DATA"),
        *("<- 250", "<- 250", "<- 250", "<- 354"),
        "content",
    ]
    assert exchange(smtp.transcript)[9:11] == [".", "<- 250"]


def test_without_pipelining_each_command_waits_for_its_reply(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-p")
    with plain(driver, sink) as smtp:
        result = smtp.send_message(SEVEN_BIT, SENDER, RECIPIENTS)
        assert not smtp.extensions.pipelining
    assert list(result.accepted) == RECIPIENTS
    assert exchange(smtp.transcript) == [
        *("MAIL", "<- 250", "RCPT", "<- 250", "RCPT", "<- 250", "DATA", "<- 354"),
        *("content", ".", "<- 250", "QUIT", "<- 221"),
    ]


def test_a_server_without_esmtp_gets_helo_and_seven_bit_mail_only(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-e")
    with plain(driver, sink) as smtp:
        assert not smtp.esmtp
        assert sent_verbs(smtp.transcript) == ["EHLO", "HELO"]
        # RFC 6152: 8-bit content needs BODY=8BITMIME, which only EHLO can offer.
        with pytest.raises(NotSupported, match="8BITMIME"):
            smtp.send_message(EIGHT_BIT, SENDER, RECIPIENTS)
        result = smtp.send_message(SEVEN_BIT, SENDER, RECIPIENTS)
    assert list(result.accepted) == RECIPIENTS
    assert result.reply is not None
    assert result.reply.code == 250
    assert sent_verbs(smtp.transcript).count("MAIL") == 1
    # No ESMTP, so no SIZE or BODY parameter on MAIL (RFC 5321 §4.1.1.2).
    assert f"-> MAIL FROM:<{SENDER}>" in smtp.transcript


def test_without_enhancedstatuscodes_the_message_still_goes(
    driver: Driver, smtp_sink: StartSink
) -> None:
    # smtp-sink -E stops advertising ENHANCEDSTATUSCODES but still prefixes its
    # replies with "2.1.0" etc., so it cannot show replies without a status; the
    # aiosmtpd tests do (test_client_aiosmtpd.py).
    sink = smtp_sink("-E")
    with plain(driver, sink) as smtp:
        result = smtp.send_message(SEVEN_BIT, SENDER, RECIPIENTS)
        assert not smtp.extensions.enhancedstatuscodes
    assert result.ok
    assert list(result.accepted) == RECIPIENTS


def test_eight_bit_content_goes_with_body_8bitmime(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    with plain(driver, sink) as smtp:
        result = smtp.send_message(EIGHT_BIT, SENDER, RECIPIENTS)
    assert result.ok
    (dump,) = sink.dumps()
    record = parse_sink_dump(dump)
    assert record.mail_args == f"<{SENDER}> BODY=8BITMIME"
    assert record.rcpt_args == tuple(f"<{rcpt}>" for rcpt in RECIPIENTS)
    # smtp-sink drops every CR (tests/peers/, parse_sink_dump).
    assert record.message == EIGHT_BIT.replace(b"\r", b"")


def test_eight_bit_content_is_not_sent_without_8bitmime(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-8")
    with plain(driver, sink) as smtp:
        with pytest.raises(NotSupported, match="8BITMIME") as caught:
            smtp.send_message(EIGHT_BIT, SENDER, RECIPIENTS)
        assert caught.value.reply is None
        assert "MAIL" not in sent_verbs(smtp.transcript)
        # Nothing was started, so the connection is still good for 7-bit mail.
        assert smtp.send_message(SEVEN_BIT, SENDER, RECIPIENTS).ok


def test_several_messages_go_over_one_connection(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    with plain(driver, sink) as smtp:
        results = [
            smtp.send_message(SEVEN_BIT.replace(b"hi", b"hi %d" % n), SENDER, RECIPIENTS)
            for n in range(3)
        ]
    assert [result.ok for result in results] == [True, True, True]
    assert sent_verbs(smtp.transcript).count("EHLO") == 1
    assert sent_verbs(smtp.transcript).count("MAIL") == 3
    # Each transaction ended with its 250, so none needed RSET.
    assert "RSET" not in sent_verbs(smtp.transcript)
    # Sorted: dumps written in the same clock tick come back in no particular order.
    subjects = sorted(parse_sink_dump(dump).message.split(b"\n")[2] for dump in sink.dumps())
    assert subjects == [b"Subject: hi 0", b"Subject: hi 1", b"Subject: hi 2"]


def test_a_transaction_left_open_is_reset_before_the_next(
    driver: Driver, smtp_sink: StartSink
) -> None:
    # -r RCPT: MAIL is accepted and every RCPT deferred, so DATA is never sent and
    # the server still holds the sender; the next MAIL would get 503 without RSET.
    sink = smtp_sink("-r", "RCPT")
    with plain(driver, sink) as smtp:
        for _ in range(3):
            with pytest.raises(RecipientsDeferred):
                send_default(smtp)
        assert smtp.noop().code == 250
    verbs = [verb for verb in sent_verbs(smtp.transcript) if verb in ("MAIL", "RSET")]
    assert verbs == ["MAIL", "RSET", "MAIL", "RSET", "MAIL"]
    # Each RSET got its 250 before the next MAIL went (RFC 5321 §4.1.1.5).
    assert exchange(smtp.transcript, "RSET")[:3] == ["RSET", "<- 250", "MAIL"]


# --- refusals -----------------------------------------------------------------------------


def test_recipients_deferred_is_a_temporary_failure_with_each_reply(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-r", "RCPT")
    with plain(driver, sink) as smtp, pytest.raises(RecipientsDeferred) as caught:
        send_default(smtp)
    assert isinstance(caught.value, TemporaryFailure)
    result = caught.value.result
    assert result.accepted == {}
    assert list(result.refused) == RECIPIENTS
    assert [(reply.code, reply.status) for reply in result.refused.values()] == [
        (450, "4.3.0"),
        (450, "4.3.0"),
    ]
    # RFC 5321 §3.3: with no recipient accepted, DATA is not sent (-r implies -p).
    assert "DATA" not in sent_verbs(smtp.transcript)


def test_recipients_refused_is_a_permanent_failure_with_each_reply(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-f", "RCPT")
    with plain(driver, sink) as smtp, pytest.raises(RecipientsRefused) as caught:
        send_default(smtp)
    assert isinstance(caught.value, PermanentFailure)
    result = caught.value.result
    assert result.accepted == {}
    assert [(reply.code, reply.status) for reply in result.refused.values()] == [
        (500, "5.3.0"),
        (500, "5.3.0"),
    ]
    assert not result.ok
    assert "DATA" not in sent_verbs(smtp.transcript)


@pytest.mark.parametrize(
    ("fault", "code", "error"),
    [
        (("-f", "MAIL"), 500, PermanentFailure),
        (("-r", "MAIL"), 450, TemporaryFailure),
        (("-f", "DATA"), 500, PermanentFailure),
        (("-r", "DATA"), 450, TemporaryFailure),
        (("-f", "."), 500, PermanentFailure),
        (("-r", "."), 450, TemporaryFailure),
    ],
)
def test_a_refusal_is_permanent_for_5yz_and_temporary_for_4yz(
    driver: Driver,
    smtp_sink: StartSink,
    fault: tuple[str, str],
    code: int,
    error: type[SMTPError],
) -> None:
    sink = smtp_sink(*fault)
    with plain(driver, sink) as smtp:
        with pytest.raises(error) as caught:
            send_default(smtp)
        assert type(caught.value) is error  # not a RecipientsRefused/Deferred
        assert caught.value.reply is not None
        assert caught.value.reply.code == code
        # The session survives a refused transaction.
        assert smtp.noop().code == 250
    if fault[1] == "MAIL":
        # RFC 5321 §3.3: no RCPT after a refused MAIL (-f and -r imply -p).
        assert "RCPT" not in sent_verbs(smtp.transcript)


# --- the connection breaks ------------------------------------------------------------------


def test_a_421_greeting_is_a_temporary_failure(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink("-Q", "CONNECT")
    smtp = plain(driver, sink)
    with pytest.raises(TemporaryFailure) as caught:
        smtp.connect()
    assert caught.value.reply is not None
    assert caught.value.reply.code == 421
    assert sent_verbs(smtp.transcript) == []


def test_a_421_in_a_pipelined_group_is_a_temporary_failure_with_that_reply(
    driver: Driver, smtp_sink: StartSink
) -> None:
    # RFC 5321 §3.8: 421 says the server is closing; the exception must say so,
    # not only that the connection went away.
    sink = smtp_sink("-Q", "MAIL")
    with plain(driver, sink) as smtp:
        with pytest.raises(TemporaryFailure) as caught:
            send_default(smtp)
        assert caught.value.reply is not None
        assert caught.value.reply.code == 421
        # RFC 5321 §3.8: after 421 the server is gone; so is the client's connection.
        with pytest.raises(ConnectionFailed):
            smtp.noop()


def test_a_421_without_pipelining_is_a_temporary_failure_with_that_reply(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-p", "-Q", "RCPT")
    with plain(driver, sink) as smtp:
        with pytest.raises(TemporaryFailure) as caught:
            send_default(smtp)
        assert caught.value.reply is not None
        assert caught.value.reply.code == 421
        assert sent_verbs(smtp.transcript).count("RCPT") == 1  # none after the 421
        with pytest.raises(ConnectionFailed):
            smtp.noop()


def test_after_a_421_the_next_message_is_a_temporary_failure(
    driver: Driver, smtp_sink: StartSink
) -> None:
    # A 421 to any command ends the session (RFC 5321 §3.8). Whatever NOOP makes
    # of it, a message sent next must fail as "try again later": a relay that
    # took it as permanent would bounce mail because a server restarted.
    sink = smtp_sink("-Q", "NOOP")
    with plain(driver, sink) as smtp:
        reply = reply_or_refusal(smtp.noop)
        assert reply is not None
        assert reply.code == 421
        with pytest.raises(TemporaryFailure):
            send_default(smtp)


def reply_or_refusal(call: Callable[[], Reply]) -> Reply | None:
    """The reply a command returned, or the one its TemporaryFailure holds."""
    try:
        return call()
    except TemporaryFailure as error:
        return error.reply


def test_a_dropped_connection_is_connection_failed(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink("-q", "RCPT")
    with plain(driver, sink) as smtp:
        with pytest.raises(ConnectionFailed, match="closed the connection") as caught:
            send_default(smtp)
        assert isinstance(caught.value, TemporaryFailure)
        # The client let go of the broken connection.
        with pytest.raises(ConnectionFailed, match="not connected"):
            smtp.noop()


def test_no_reply_in_time_is_timeout(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink("-w", "3")  # 3 s before the reply to DATA
    with plain(driver, sink, timeout=1) as smtp:
        with pytest.raises(Timeout) as caught:
            send_default(smtp)
        assert isinstance(caught.value, TemporaryFailure)
        assert caught.value.reply is None
        with pytest.raises(ConnectionFailed, match="not connected"):
            smtp.noop()


# --- several messages in one call -------------------------------------------------------------


def numbered(n: int, template: bytes = SEVEN_BIT) -> tuple[bytes, str, list[str]]:
    return template.replace(b"Subject: hi", b"Subject: hi %d" % n), SENDER, RECIPIENTS


def test_send_messages_pipelines_each_envelope_behind_the_previous_content(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink(dump=True)
    with plain(driver, sink) as smtp:
        outcomes = smtp.send_messages([numbered(n) for n in range(3)])
    assert [type(outcome).__name__ for outcome in outcomes] == ["SendResult"] * 3
    for outcome in outcomes:
        assert isinstance(outcome, SendResult)
        assert outcome.ok
        assert list(outcome.accepted) == RECIPIENTS
    # RFC 2920 §3.1: the end of data may open a group; the next MAIL rides with it,
    # ahead of the reply to the end of data.
    dialogue = exchange(smtp.transcript)
    first_end = dialogue.index(".")
    assert dialogue[first_end : first_end + 6] == [".", "MAIL", "RCPT", "RCPT", "DATA", "<- 250"]
    assert sent_verbs(smtp.transcript).count("MAIL") == 3
    subjects = sorted(parse_sink_dump(dump).message.split(b"\n")[2] for dump in sink.dumps())
    assert subjects == [b"Subject: hi 0", b"Subject: hi 1", b"Subject: hi 2"]


def test_send_messages_passes_over_a_message_the_server_cannot_take(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-8", dump=True)
    with plain(driver, sink) as smtp:
        outcomes = smtp.send_messages([numbered(0), numbered(1, EIGHT_BIT), numbered(2)])
    assert isinstance(outcomes[0], SendResult)
    assert isinstance(outcomes[1], NotSupported)
    assert isinstance(outcomes[2], SendResult)
    assert outcomes[0].ok
    assert outcomes[2].ok
    assert sent_verbs(smtp.transcript).count("MAIL") == 2
    assert len(sink.dumps()) == 2


def test_send_messages_holds_each_refusal_and_resets_between(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-r", "RCPT")  # implies -p: one command at a time
    with plain(driver, sink) as smtp:
        outcomes = smtp.send_messages([numbered(n) for n in range(3)])
        assert smtp.noop().code == 250
    assert [type(outcome) for outcome in outcomes] == [RecipientsDeferred] * 3
    verbs = [verb for verb in sent_verbs(smtp.transcript) if verb in ("MAIL", "RSET")]
    assert verbs == ["MAIL", "RSET", "MAIL", "RSET", "MAIL"]


def test_send_messages_raises_when_the_connection_drops(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-q", "DATA")
    with plain(driver, sink) as smtp:
        with pytest.raises(ConnectionFailed):
            smtp.send_messages([numbered(n) for n in range(3)])
        with pytest.raises(ConnectionFailed):
            smtp.noop()
