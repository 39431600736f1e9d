"""An in-process SMTP server that keeps what it receives, for test suites.

``CapturingServer`` runs smtpx's server on 127.0.0.1 and a port the system
picks, in a thread with its own event loop, so both blocking and asyncio code
under test can send to it; ``smtpx.testing`` wraps it in a pytest fixture.
"""

from __future__ import annotations

import asyncio
import email.message
import email.parser
import email.policy
import threading
from dataclasses import dataclass

from ..protocol import Reply
from ._config import ServerConfig
from ._handler import BaseHandler, Content, SessionInfo
from ._server import Server

__all__ = ["CapturedMessage", "CapturingServer"]


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One message as the server took it: the envelope and the exact bytes."""

    sender: str
    recipients: list[str]
    data: bytes  # with the server's Received header first
    client_address: str
    helo: str

    def as_email(self) -> email.message.EmailMessage:
        parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(self.data)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


class _Buffer:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)

    def discard(self) -> None:
        self.chunks.clear()


class _Capture(BaseHandler):
    """A handler that keeps every message in memory."""

    def __init__(self, server: CapturingServer) -> None:
        self.server = server

    def incoming(self) -> Content:
        return _Buffer()

    async def on_message(self, session: SessionInfo, content: Content) -> Reply:
        assert isinstance(content, _Buffer)
        message = CapturedMessage(
            session.sender or "",
            [address for address, _ in session.recipients],
            b"".join(content.chunks),
            session.client_address,
            session.helo,
        )
        self.server.received(message)
        return Reply(250, "2.0.0", f"OK: kept as #{len(self.server.messages)}")


class CapturingServer:
    """An smtpx server in a background thread; ``messages`` holds what arrived."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig(hostname="smtpx.test")
        self.messages: list[CapturedMessage] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._arrived = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server = Server(_Capture(self), self.config)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._server.start([(self.host, 0)]), self._loop)
        ((self.host, self.port),) = started.result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(deadline=5), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def received(self, message: CapturedMessage) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedMessage]:
        """The first ``count`` messages, waiting up to ``timeout`` seconds for them."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"{len(self.messages)} of {count} messages in {timeout} s")
            return self.messages[:count]
