"""Implicit TLS listeners (RFC 8314 §3.3): TLS from the first byte, no STARTTLS offered."""

from __future__ import annotations

import asyncio

import pytest
from tests.peers import TlsCerts

from smtpx.client import AsyncClient
from smtpx.server import BaseHandler, Server, ServerConfig


def test_implicit_tls_listener_takes_mail_and_offers_no_starttls(tls_certs: TlsCerts) -> None:
    async def run() -> tuple[str | None, bool, list[str]]:
        config = ServerConfig(hostname="mx.test", tls=tls_certs.server_ssl_context())
        server = Server(BaseHandler(), config)
        ((host, port),) = await server.start([], [("127.0.0.1", 0)])
        try:
            async with AsyncClient(
                host, port, tls="implicit", ca_file=str(tls_certs.ca_pem), timeout=10
            ) as client:
                await client.send_message(
                    b"Subject: x\r\n\r\ny\r\n", "a@example.org", ["b@example.org"]
                )
                version = client.tls_info.version if client.tls_info else None
                return version, client.extensions.starttls, client.transcript
        finally:
            await server.stop(deadline=5)

    version, starttls, transcript = asyncio.run(run())
    assert version is not None
    assert version.startswith("TLS")
    assert starttls is False
    assert any(line.startswith("<- 250 2.0.0") for line in transcript)


def test_implicit_tls_listener_needs_a_certificate() -> None:
    async def run() -> None:
        await Server(BaseHandler(), ServerConfig()).start([], [("127.0.0.1", 0)])

    with pytest.raises(ValueError, match="need"):
        asyncio.run(run())
