"""``Server``: listening sockets, the connections on them, and a clean stop.

Theory of operation: ``start()`` opens one asyncio server per listen address,
each making an ``SMTPProtocol`` per connection. The server counts connections
(beyond ``max_connections`` a client gets 421 at once) and keeps the tasks that
commit messages, so that ``stop()`` can stop accepting, answer 421 to idle
sessions, and let messages already being committed finish up to a deadline:
a message is never acknowledged unless it is stored.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
from collections.abc import Sequence

from ._config import ServerConfig
from ._handler import Handler
from ._protocol import SMTPProtocol
from ._stats import Stats

log = logging.getLogger("smtpx.server")


class Server:
    """An SMTP receiver: ``await Server(handler, config).start([("127.0.0.1", 2525)])``."""

    def __init__(self, handler: Handler, config: ServerConfig | None = None) -> None:
        self.handler = handler
        self.config = config or ServerConfig()
        self.ehlo_replies = self.config.ehlo_replies()
        self.connections: set[SMTPProtocol] = set()
        self.stats = Stats()
        self.per_client: collections.Counter[str] = collections.Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.listeners: list[asyncio.Server] = []
        # The loop start() ran in: its connections' loop (asking asyncio for the
        # running loop costs a getpid() system call each time).
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(
        self,
        addresses: Sequence[tuple[str, int]],
        tls_addresses: Sequence[tuple[str, int]] = (),
    ) -> list[tuple[str, int]]:
        """Listen on every address; returns the addresses bound (port 0 picks one).

        ``tls_addresses`` speak TLS from the first byte (RFC 8314 §3.3, port 465).
        """
        loop = self.loop = asyncio.get_running_loop()
        bound: list[tuple[str, int]] = []
        if tls_addresses and self.config.tls is None:
            raise ValueError("implicit TLS listeners need ServerConfig.tls")
        plain: list[tuple[str, int, ssl.SSLContext | None]] = [(h, p, None) for h, p in addresses]
        wrapped = [(host, port, self.config.tls) for host, port in tls_addresses]
        for host, port, context in plain + wrapped:
            listener = await loop.create_server(
                lambda: SMTPProtocol(self),
                host,
                port,
                reuse_address=True,
                backlog=1024,
                ssl=context,
                ssl_handshake_timeout=min(self.config.idle_timeout, 60.0) if context else None,
            )
            self.listeners.append(listener)
            for sock in listener.sockets:
                name = sock.getsockname()
                bound.append((str(name[0]), int(name[1])))
        return bound

    def admit(self, connection: SMTPProtocol) -> bool:
        client = connection.session.client_address
        if len(self.connections) >= self.config.max_connections:
            return False
        limit = self.config.max_connections_per_client
        if self.per_client[client] >= limit and self.config.limits_client(client):
            return False
        self.connections.add(connection)
        self.per_client[client] += 1
        return True

    def forget(self, connection: SMTPProtocol) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            client = connection.session.client_address
            self.per_client[client] -= 1
            if self.per_client[client] <= 0:
                del self.per_client[client]

    def track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self, deadline: float = 30.0) -> None:
        """Stop accepting; 421 to idle sessions; let commits finish within ``deadline``."""
        for listener in self.listeners:
            listener.close()
        for connection in list(self.connections):
            connection.shut_down()
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=deadline)
            for task in pending:
                task.cancel()
        for connection in list(self.connections):
            connection.shut_down()
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                await listener.wait_closed()
        self.listeners.clear()
