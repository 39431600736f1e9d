"""What the server tests share: a storing server in a thread, a raw-socket client, and
the one rule for reading what was stored.

Theory of operation. :class:`StoringServer` runs ``Server(StoringHandler(SQLiteStore))``
on 127.0.0.1 and a port the system picks, in a thread with its own event loop (as
``smtpx.server.capture.CapturingServer`` does), so blocking clients, subprocesses and
asyncio code can all send to it. Store coroutines run on the server's loop through
``asyncio.run_coroutine_threadsafe``: the store and its writer belong to that loop.

A 250 after the content is sent only once the message is committed, so a test that
got its 250 reads the store at once; nothing here sleeps to wait.

:func:`without_received` takes off the one ``Received:`` header the server puts in
front of each message (RFC 5321 §4.4), so the rest compares byte for byte with what
the client sent. :class:`Wire` speaks SMTP by hand on a socket, to see exact replies,
in and out of sequence, and what the server does with bytes no client library sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.peers import LOOPBACK

from smtpx.protocol import Extensions
from smtpx.server import Server, ServerConfig, StoringHandler
from smtpx.store import SQLiteStore, StoredMessage

T = TypeVar("T")

# Seconds any one step may take (each takes milliseconds here): a server that leaves a
# client waiting fails the test quickly, never hangs it.
STEP_TIMEOUT = 3.0
SENDER = "alice@example.org"
RECIPIENT = "bob@example.org"
# A Date and a Message-ID, so that no client adds its own (msmtp would); CRLF line
# ends, a line that starts with "." (dot-stuffed on the wire, unstuffed
# in the store), 8-bit UTF-8, and a last line with its CRLF.
MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: over the wire\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
    b"Message-ID: <wire@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hello Bob,\r\n"
    b".a line that starts with a dot\r\n"
    b"..and one with two\r\n"
    b"caf\xc3\xa9 cr\xc3\xa8me\r\n"
    b"\r\n"
    b"-- \r\n"
    b"Alice\r\n"
)


def message(subject: str, body: str = "Hello.") -> bytes:
    """A small message with CRLF line ends, told apart by ``subject``."""
    return f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


# --- reading what was stored ----------------------------------------------------------

_RECEIVED_FIRST = re.compile(rb"Received: from \S+ \(\[[0-9A-Fa-f.:IPv]+\]\)\r\n")


def split_received(raw: bytes) -> tuple[str, bytes]:
    """The server's ``Received:`` header (unfolded, as text), and the rest of ``raw``.

    The header must come first, folded over two or three lines: ``Received: from
    ...``, then ``\\tby ... with ... id ...``, and ``\\tfor <rcpt>`` with exactly one
    recipient (RFC 5321 §4.4).
    """
    assert _RECEIVED_FIRST.match(raw), raw[:200]
    lines = raw.split(b"\r\n")
    folded = 1
    while lines[folded].startswith(b"\t"):
        folded += 1
    assert folded in (2, 3), raw[:300]
    assert lines[1].startswith(b"\tby "), lines[1]
    assert b" (smtpx) with " in lines[1], lines[1]
    header = b"\r\n".join(lines[:folded]).decode().replace("\r\n\t", " ")
    return header, b"\r\n".join(lines[folded:])


def without_received(raw: bytes) -> bytes:
    """``raw`` without the server's ``Received:`` header, to compare with what was sent."""
    return split_received(raw)[1]


# --- a storing server in a thread ---------------------------------------------------------


class StoringServer:
    """``Server(StoringHandler(SQLiteStore))`` on 127.0.0.1 in a background event loop."""

    def __init__(self, data_dir: Path, config: ServerConfig) -> None:
        self.data_dir = data_dir
        self.config = config
        self.host = LOOPBACK
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self.store = self.run(SQLiteStore.open(data_dir))
        except BaseException:
            self._end_loop()
            raise
        self.server = Server(StoringHandler(self.store), config)

    def start(self) -> None:
        ((self.host, self.port),) = self.run(self.server.start([(LOOPBACK, 0)]))

    def offer(self, extensions: Extensions) -> None:
        """Advertise ``extensions`` in the EHLO reply instead of the configured ones.

        ServerConfig has no switch for CHUNKING; the engine reads what it offered
        from the EHLO reply it sends, so changing that reply is enough.
        """
        reply = extensions.ehlo_reply(self.config.hostname)
        self.server.ehlo_replies = (reply, reply)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coroutine`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            self.run(self.server.stop(deadline=5))
        finally:
            with contextlib.suppress(Exception):
                self.run(self.store.close())
            self._end_loop()

    def _end_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    # --- what the store holds ------------------------------------------------------------

    def count(self) -> int:
        return self.run(self.store.count())

    def stored(self) -> list[StoredMessage]:
        """Every message, oldest first."""
        return list(reversed(self.run(self.store.list(limit=10_000))))

    def raw(self, message_id: str) -> bytes:
        data = self.run(self.store.raw(message_id))
        assert data is not None, message_id
        return data

    def raws(self) -> list[bytes]:
        """The exact bytes of every message, oldest first."""
        return [self.raw(stored.id) for stored in self.stored()]

    def only(self) -> tuple[StoredMessage, bytes]:
        """The one message in the store, and its bytes."""
        stored = self.stored()
        assert len(stored) == 1, [message.summary.subject for message in stored]
        return stored[0], self.raw(stored[0].id)

    def wait_for_connections(self, count: int, timeout: float = STEP_TIMEOUT) -> None:
        """Poll until the server counts ``count`` open connections."""
        deadline = time.monotonic() + timeout
        while len(self.server.connections) != count:
            assert time.monotonic() < deadline, f"{len(self.server.connections)} connections"
            time.sleep(0.005)


@contextlib.contextmanager
def storing_server(data_dir: Path, config: ServerConfig) -> Iterator[StoringServer]:
    """A started :class:`StoringServer`, stopped (store closed) on leaving."""
    server = StoringServer(data_dir, config)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --- SMTP by hand ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One reply as it came: the code and the text of each line (after "250-"/"250 ")."""

    code: int
    lines: tuple[str, ...]

    @property
    def status(self) -> str:
        """The enhanced status code (RFC 2034) that opens the first line, or ""."""
        first = self.lines[0].split(" ", 1)[0] if self.lines else ""
        return first if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", first) else ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class Wire:
    """A client that writes exactly the bytes it is given and parses each reply.

    After :meth:`start_tls` the same methods go through TLS, run over memory BIOs so
    the test decides what goes into each write (see ``start_tls``).
    """

    def __init__(self, host: str, port: int, timeout: float = STEP_TIMEOUT) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._buffer = b""

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    # --- bytes, in clear or through TLS ------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.tls is not None:
            self.tls.write(data)
            data = self._outgoing.read()
        self.sock.sendall(data)

    def _recv(self) -> bytes:
        """The next bytes from the server; b"" once it has closed."""
        if self.tls is None:
            try:
                return self.sock.recv(65536)
            except ConnectionResetError:
                return b""
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                try:
                    data = self.sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    return b""
                self._incoming.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def start_tls(
        self,
        context: ssl.SSLContext,
        server_hostname: str = "localhost",
        *,
        first: bytes = b"",
        settle: bool = True,
    ) -> None:
        """The TLS handshake, after a 220 to STARTTLS.

        ``first`` goes over TLS in the same write as the client's last handshake
        message, as a client that does not wait may send it. With ``settle`` (and no
        ``first``), TLS 1.3's session tickets are read before returning: the server
        has then finished its side of the handshake, so what is sent next can only
        arrive after that.
        """
        assert not self._buffer, self._buffer
        tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self._outgoing.read())
                data = self.sock.recv(65536)
                assert data, "closed by the server during the TLS handshake"
                self._incoming.write(data)
        self.tls = tls
        if first:
            tls.write(first)
        self.sock.sendall(self._outgoing.read())
        if settle and not first and tls.version() == "TLSv1.3":
            self._incoming.write(self.sock.recv(65536))
            with contextlib.suppress(ssl.SSLWantReadError):
                self._buffer += tls.read(65536)

    # --- replies ----------------------------------------------------------------------------

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            data = self._recv()
            if not data:
                raise ConnectionError(f"closed by the server; unread: {self._buffer!r}")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def reply(self) -> Answer:
        """The next reply, every line of it."""
        lines: list[str] = []
        while True:
            line = self._line().decode("utf-8")
            assert re.fullmatch(r"[2-5][0-9][0-9]([- ].*)?", line), line
            lines.append(line[4:])
            if line[3:4] != "-":
                return Answer(int(line[:3]), tuple(lines))

    def command(self, line: str | bytes) -> Answer:
        """Send one command line (CRLF added) and read its reply."""
        data = line if isinstance(line, bytes) else line.encode("utf-8")
        self.send(data + b"\r\n")
        return self.reply()

    def replies(self, count: int) -> list[Answer]:
        return [self.reply() for _ in range(count)]

    def hello(self, name: str = "client.example") -> Answer:
        """Read the greeting, then EHLO; both must be positive."""
        greeting = self.reply()
        assert greeting.code == 220, greeting
        ehlo = self.command(f"EHLO {name}")
        assert ehlo.code == 250, ehlo
        return ehlo

    def until_closed(self) -> list[Answer]:
        """Every reply up to the server's close (each read bounded by the socket timeout)."""
        answers: list[Answer] = []
        while True:
            try:
                answers.append(self.reply())
            except ConnectionError:
                assert not self._buffer, self._buffer
                return answers

    def closed(self, timeout: float = STEP_TIMEOUT) -> bool:
        """True once the server has closed the connection (within ``timeout``), with
        nothing more sent; False if it stays open that long."""
        self.sock.settimeout(timeout)
        try:
            data = self._recv()
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(STEP_TIMEOUT)
        assert not self._buffer + data, self._buffer + data
        return True
