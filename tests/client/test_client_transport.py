"""Transports: IPv6 loopback, implicit TLS (RFC 8314, port 465 style), a source address."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from tests.client.drivers import KINDS, Driver, drive
from tests.peers import StartSink, TlsCerts, free_port

from smtpx.client import ConnectionFailed, SendResult, TLSFailure

MESSAGE = b"Subject: transport\r\n\r\nhello\r\n"


class Recorder:
    def __init__(self) -> None:
        self.peers: list[str] = []
        self.contents: list[bytes] = []

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        peer: object = session.peer  # a (host, port, ...) tuple for TCP
        assert isinstance(peer, tuple)
        self.peers.append(str(peer[0]))
        assert isinstance(envelope.original_content, bytes)
        self.contents.append(envelope.original_content)
        return "250 2.0.0 kept"


@pytest.fixture(params=KINDS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    yield from drive(request.param)


def _serve(host: str, ssl_context: ssl.SSLContext | None = None) -> tuple[Controller, Recorder]:
    recorder = Recorder()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    controller = Controller(recorder, hostname=host, port=port, ssl_context=ssl_context)
    controller.start()
    return controller, recorder


def test_ipv6_loopback_is_reached_by_address(driver: Driver) -> None:
    controller, recorder = _serve("::1")
    try:
        with driver.sender("::1", controller.port, tls="none") as sender:
            result = sender.send_message(MESSAGE, "a@example.org", ["b@example.org"])
        assert result.reply is not None
        assert result.reply.code == 250
        assert recorder.peers == ["::1"]
        assert recorder.contents == [MESSAGE]
    finally:
        controller.stop()


def test_implicit_tls_speaks_tls_from_the_first_byte(driver: Driver, tls_certs: TlsCerts) -> None:
    controller, recorder = _serve("127.0.0.1", tls_certs.server_ssl_context())
    try:
        with driver.sender(
            "127.0.0.1", controller.port, tls="implicit", ca_file=str(tls_certs.ca_pem)
        ) as sender:
            result = sender.send_message(MESSAGE, "a@example.org", ["b@example.org"])
            info = sender.tls_info
        assert result.reply is not None
        assert result.reply.code == 250
        assert info is not None
        assert info.version is not None
        assert info.version.startswith("TLS")
        assert recorder.contents == [MESSAGE]
    finally:
        controller.stop()


def test_implicit_tls_with_an_untrusted_certificate_fails_closed(
    driver: Driver, tls_certs: TlsCerts
) -> None:
    controller, recorder = _serve("127.0.0.1", tls_certs.server_ssl_context())
    try:
        sender = driver.sender("127.0.0.1", controller.port, tls="implicit")
        with pytest.raises(TLSFailure, match="certificate"):
            sender.connect()
        assert recorder.contents == []
    finally:
        controller.stop()


def test_source_address_is_the_one_the_server_sees(driver: Driver) -> None:
    controller, recorder = _serve("127.0.0.1")
    try:
        source = ("127.0.0.2", free_port("127.0.0.2"))
        with driver.sender(
            "127.0.0.1", controller.port, tls="none", source_address=source
        ) as sender:
            sender.send_message(MESSAGE, "a@example.org", ["b@example.org"])
        assert recorder.peers == ["127.0.0.2"]
    finally:
        controller.stop()


def test_send_messages_tells_what_was_taken_before_the_connection_dropped(
    driver: Driver, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-M", "2")  # smtp-sink exits after its second message
    items = [
        (b"Subject: %d\r\n\r\nx\r\n" % n, "a@example.org", ["b@example.org"]) for n in range(4)
    ]
    with (
        pytest.raises(ConnectionFailed) as caught,
        driver.sender(sink.host, sink.port, tls="none") as sender,
    ):
        sender.send_messages(items)
    outcomes = caught.value.outcomes
    assert outcomes is not None
    assert len(outcomes) == len(items)
    assert isinstance(outcomes[0], SendResult)
    assert outcomes[0].ok
    # What was in flight when the connection went is not known; nothing after it was sent.
    assert outcomes[-1] is None


def test_a_refused_connection_names_an_ipv6_host_in_brackets(driver: Driver) -> None:
    with socket.socket(socket.AF_INET6) as probe:  # a port with nobody listening on ::1
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionFailed) as caught, driver.sender("::1", port, tls="none"):
        pass
    assert str(caught.value).startswith(f"[::1]:{port}: "), caught.value
