"""DSN requests (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT.

smtp-sink advertises DSN and, with ``dump=True``, writes MAIL's and each RCPT's
argument verbatim (tests/peers/, ``parse_sink_dump``), so what went on the wire
can be read back. aiosmtpd does not advertise DSN (and refuses RCPT parameters
with 555): there the requests are dropped, with a note, and the message goes.
Each test runs with the blocking ``Client`` and the ``AsyncClient``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypedDict

import pytest
from tests.client.drivers import KINDS, AsyncSender, Driver, Sender, drive, sent_verbs
from tests.peers import SinkDump, StartAiosmtpd, StartSink, parse_sink_dump

from smtpx.client import Client, MessageError, PermanentFailure, SendResult, prepare

SENDER = "alice@example.com"
RECIPIENTS = ["b@example.org", "c@example.net"]
MESSAGE = b"From: alice@example.com\r\nTo: b@example.org\r\nSubject: dsn\r\n\r\nHello.\r\n"
DSN_NOTE = "** the server does not offer DSN; sending without DSN requests"


@pytest.fixture(params=KINDS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    yield from drive(request.param)


class Dsn(TypedDict, total=False):
    """The DSN keyword arguments of ``send_message``."""

    ret: str
    envid: str
    notify: list[str]
    orcpt: dict[str, str]


def send(
    smtp: Sender,
    recipients: Iterable[str] = RECIPIENTS,
    *,
    ret: str | None = None,
    envid: str | None = None,
    notify: Iterable[str] | None = None,
    orcpt: Mapping[str, str] | None = None,
) -> SendResult:
    """``send_message`` with ORCPT too, which the drivers' ``Sender`` does not pass on."""
    client = smtp.client
    if isinstance(client, Client):
        return client.send_message(
            MESSAGE, SENDER, recipients, ret=ret, envid=envid, notify=notify, orcpt=orcpt
        )
    assert isinstance(smtp, AsyncSender)
    coroutine = smtp._client.send_message(
        MESSAGE, SENDER, recipients, ret=ret, envid=envid, notify=notify, orcpt=orcpt
    )
    return smtp._runner.run(coroutine)


def parameters(args: str) -> list[str]:
    """``<a@example.com> RET=HDRS ENVID=x`` -> ``["RET=HDRS", "ENVID=x"]``."""
    return args.split(" ")[1:]


def only_dump(dumps: list[bytes]) -> SinkDump:
    [dump] = dumps
    return parse_sink_dump(dump)


# --- on the wire, to a server that offers DSN -------------------------------------------------


def test_every_dsn_parameter_goes_on_the_wire(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    with driver.sender(sink.host, sink.port, tls="none") as smtp:
        assert smtp.extensions.dsn
        result = send(
            smtp,
            ret="HDRS",
            envid="id+1 x",
            notify=["SUCCESS", "FAILURE"],
            orcpt={"b@example.org": "original@example.org"},
        )
    assert result.ok
    dump = only_dump(sink.dumps())
    assert dump.mail_args.split(" ")[0] == f"<{SENDER}>"
    # RFC 3461 §4.4: ENVID is xtext: "+" and the space as +2B and +20.
    assert parameters(dump.mail_args) == ["RET=HDRS", "ENVID=id+2B1+20x"]
    assert dump.rcpt_args == (
        "<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;original@example.org",
        "<c@example.net> NOTIFY=SUCCESS,FAILURE",  # no ORCPT asked for this one
    )
    assert DSN_NOTE not in smtp.transcript


def test_dsn_words_are_upper_cased(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    with driver.sender(sink.host, sink.port, tls="none") as smtp:
        assert send(smtp, ["b@example.org"], ret="full", notify=["delay", "Failure"]).ok
    dump = only_dump(sink.dumps())
    assert parameters(dump.mail_args) == ["RET=FULL"]
    assert dump.rcpt_args == ("<b@example.org> NOTIFY=DELAY,FAILURE",)


def test_an_orcpt_with_special_characters_is_xtext(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    with driver.sender(sink.host, sink.port, tls="none") as smtp:
        assert send(smtp, ["b@example.org"], orcpt={"b@example.org": "a+b=c@example.org"}).ok
    dump = only_dump(sink.dumps())
    assert parameters(dump.mail_args) == []
    assert dump.rcpt_args == ("<b@example.org> ORCPT=rfc822;a+2Bb+3Dc@example.org",)


def test_notify_never_alone(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    with driver.sender(sink.host, sink.port, tls="none") as smtp:
        assert smtp.send_message(MESSAGE, SENDER, RECIPIENTS, notify=["NEVER"]).ok
    dump = only_dump(sink.dumps())
    assert parameters(dump.mail_args) == []
    assert dump.rcpt_args == (
        "<b@example.org> NOTIFY=NEVER",
        "<c@example.net> NOTIFY=NEVER",
    )


def test_without_dsn_requests_no_dsn_parameters(driver: Driver, smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    with driver.sender(sink.host, sink.port, tls="none") as smtp:
        assert smtp.send_message(MESSAGE, SENDER, RECIPIENTS).ok
    dump = only_dump(sink.dumps())
    assert parameters(dump.mail_args) == []
    assert dump.rcpt_args == ("<b@example.org>", "<c@example.net>")


# --- the caller's mistakes: MessageError, and nothing sent -------------------------------------


BAD_REQUESTS = [
    pytest.param({"notify": ["SUCCESS", "SOMETIMES"]}, id="unknown-notify-word"),
    pytest.param({"ret": "BODY"}, id="unknown-ret"),
    # RFC 3461 §4.1: NEVER must appear alone; the list is never empty.
    pytest.param({"notify": ["NEVER", "FAILURE"]}, id="never-with-others"),
    pytest.param({"notify": []}, id="empty-notify"),
    # RFC 3461 §4.4: ENVID is at most 100 characters.
    pytest.param({"envid": "x" * 101}, id="envid-too-long"),
]


@pytest.mark.parametrize("request_", BAD_REQUESTS)
def test_a_bad_dsn_request_is_refused_before_connecting(request_: Dsn) -> None:
    with pytest.raises(MessageError):
        prepare(MESSAGE, SENDER, RECIPIENTS, **request_)


@pytest.mark.parametrize("request_", BAD_REQUESTS)
def test_a_bad_dsn_request_sends_nothing(
    driver: Driver, smtp_sink: StartSink, request_: Dsn
) -> None:
    sink = smtp_sink(dump=True)
    with driver.sender(sink.host, sink.port, tls="none") as smtp:
        with pytest.raises(MessageError):
            send(smtp, **request_)
        assert sent_verbs(smtp.transcript) == ["EHLO"]
        # The session is still good for the next message.
        assert smtp.send_message(MESSAGE, SENDER, RECIPIENTS).ok
    assert len(sink.dumps()) == 1


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_a_request_too_long_to_send_leaves_the_session_usable(
    driver: Driver, smtp_sink: StartSink, pipelining: bool
) -> None:
    # An ORCPT of 2000 characters makes an RCPT line longer than any server takes
    # (RFC 3461 §5: 500 octets more than RFC 5321's 512); the engine refuses to
    # write it. No RCPT may go, nor may the next message be stuck.
    sink = smtp_sink(*([] if pipelining else ["-p"]), dump=True)
    huge = "o" * 1990 + "@example.org"
    with driver.sender(sink.host, sink.port, tls="none") as smtp:
        with pytest.raises((MessageError, PermanentFailure)):
            send(smtp, ["b@example.org"], orcpt={"b@example.org": huge})
        assert "RCPT" not in sent_verbs(smtp.transcript)
        assert smtp.send_message(MESSAGE, SENDER, RECIPIENTS).ok
    assert len(sink.dumps()) == 1


# --- to a server without DSN --------------------------------------------------------------------


def test_without_dsn_offered_the_requests_are_dropped_and_said(
    driver: Driver, aiosmtpd_server: StartAiosmtpd
) -> None:
    server = aiosmtpd_server()
    with driver.sender(server.host, server.port, tls="none") as smtp:
        assert not smtp.extensions.dsn
        result = send(
            smtp,
            ret="HDRS",
            envid="id+1 x",
            notify=["SUCCESS", "FAILURE"],
            orcpt={"b@example.org": "original@example.org"},
        )
    assert result.ok
    assert list(result.accepted) == RECIPIENTS
    assert DSN_NOTE in smtp.transcript
    [envelope] = server.envelopes
    assert envelope.original_content == MESSAGE
    assert envelope.mail_options == (f"SIZE={len(MESSAGE)}",)
    assert envelope.rcpt_options == ()
    sent = "\n".join(smtp.transcript)
    for word in ("RET=", "ENVID=", "NOTIFY=", "ORCPT="):
        assert word not in sent


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"orcpt": {"b@example.org": "original@example.org"}}, id="orcpt-alone"),
        pytest.param({"notify": ["NEVER"]}, id="notify-alone"),
    ],
)
def test_any_one_dsn_request_dropped_is_said(
    driver: Driver, aiosmtpd_server: StartAiosmtpd, request_: Dsn
) -> None:
    server = aiosmtpd_server()
    with driver.sender(server.host, server.port, tls="none") as smtp:
        assert send(smtp, **request_).ok
    assert DSN_NOTE in smtp.transcript
    assert len(server.envelopes) == 1
