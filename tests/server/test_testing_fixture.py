"""The `smtpx_server` pytest fixture, as a project that installed smtpx would use it."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from smtpx.client import AsyncClient, compose
from smtpx.server.capture import CapturingServer


def test_fixture_keeps_what_smtplib_sends(smtpx_server: CapturingServer) -> None:
    with smtplib.SMTP(smtpx_server.host, smtpx_server.port, timeout=10) as client:
        client.sendmail("app@example.org", ["new@example.org"], b"Subject: Welcome\r\n\r\nHi\r\n")
    (message,) = smtpx_server.wait_for(1)
    assert message.sender == "app@example.org"
    assert message.recipients == ["new@example.org"]
    assert message.as_email()["Subject"] == "Welcome"
    # Our Received header first, then the message exactly as sent.
    assert message.data.startswith(b"Received: from ")
    assert message.data.endswith(b"\r\nSubject: Welcome\r\n\r\nHi\r\n")


def test_fixture_takes_pipelined_bdat_from_the_async_client(
    smtpx_server: CapturingServer,
) -> None:
    message = compose(sender="app@example.org", to=["a@example.org", "b@example.org"], text="x")

    async def send() -> list[str]:
        async with AsyncClient(smtpx_server.host, smtpx_server.port, tls="none") as client:
            await client.send_message(message)
            return client.transcript

    transcript = asyncio.run(send())
    assert any(line.startswith("-> BDAT ") for line in transcript)
    (kept,) = smtpx_server.wait_for(1)
    assert kept.recipients == ["a@example.org", "b@example.org"]


def test_wait_for_gives_up_after_its_timeout(smtpx_server: CapturingServer) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        smtpx_server.wait_for(1, timeout=0.05)


def test_received_header_names_utf8smtp_for_an_smtputf8_transaction(
    smtpx_server: CapturingServer,
) -> None:
    message = compose(sender="jürgen@example.org", to=["b@example.org"], text="x")

    async def send() -> None:
        async with AsyncClient(smtpx_server.host, smtpx_server.port, tls="none") as client:
            await client.send_message(message)

    asyncio.run(send())
    (kept,) = smtpx_server.wait_for(1)
    received = kept.data.split(b"\r\n\r\n", 1)[0]
    assert b" with UTF8SMTP id " in received  # RFC 6531 §4.3
    assert kept.sender == "jürgen@example.org"
