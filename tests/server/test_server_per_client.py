"""One client address cannot take every connection slot."""

from __future__ import annotations

import asyncio
import socket

from smtpx.server import BaseHandler, Server, ServerConfig


def _greeting(host: str, port: int, source: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection((host, port), timeout=5, source_address=(source, 0))
    return sock, sock.recv(512)


def test_a_client_beyond_its_share_gets_421_while_others_are_served() -> None:
    async def run() -> list[bytes]:
        config = ServerConfig(
            hostname="mx.test", max_connections_per_client=2, per_client_exempt=()
        )
        server = Server(BaseHandler(), config)
        ((host, port),) = await server.start([("127.0.0.1", 0)])
        try:

            def clients() -> list[bytes]:
                opened = [_greeting(host, port, "127.0.0.1") for _ in range(3)]
                other = _greeting(host, port, "127.0.0.2")
                greetings = [greeting for _, greeting in [*opened, other]]
                for sock, _ in [*opened, other]:
                    sock.close()
                return greetings

            return await asyncio.to_thread(clients)
        finally:
            await server.stop(deadline=5)

    first, second, third, other = asyncio.run(run())
    assert first.startswith(b"220 ")
    assert second.startswith(b"220 ")
    assert third.startswith(b"421 4.7.0")
    assert other.startswith(b"220 ")


def test_loopback_is_exempt_by_default() -> None:
    config = ServerConfig(max_connections_per_client=1)
    assert not config.limits_client("127.0.0.1")
    assert not config.limits_client("::1")
    assert config.limits_client("192.0.2.7")
