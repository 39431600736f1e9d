"""``Client``: the blocking sender, on plain sockets, no event loop.

It runs the procedures of ``_steps`` with a socket: each ``Write`` is a
``sendall``, each ``Read`` a ``recv`` under that step's timeout, ``UpgradeTls``
wraps the socket. OS, TLS and timeout errors become smtpx errors in one place
(``io_errors``), as httpcore does.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping
from email.message import Message
from types import TracebackType
from typing import TypeVar

from ..protocol import Expn, Help, Noop, Quit, Reply, Rset, Vrfy
from . import _steps
from ._base import ClientBase
from ._errors import ConnectionFailed, ProtocolFailure, SMTPError, Timeout, TLSFailure
from ._result import SendResult
from ._session import TLSMode
from ._steps import Transaction
from ._submission import Item, transaction, transactions
from ._tls import TLSInfo

T = TypeVar("T")
_READ = 65536


def host_port(host: str, port: int) -> str:
    """``host:port`` as people write it: an IPv6 address in brackets (RFC 3986 §3.2.2)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@contextlib.contextmanager
def io_errors(host: str, port: int) -> Iterator[None]:
    """Map the OS's errors to smtpx's, which say whether to try again."""
    where = host_port(host, port)
    try:
        yield
    except TimeoutError as error:
        raise Timeout(f"{where} did not answer in time") from error
    except ssl.SSLCertVerificationError as error:
        raise TLSFailure(
            f"TLS certificate of {host} not accepted: {error.verify_message}"
        ) from error
    except ssl.SSLError as error:
        raise TLSFailure(f"TLS with {where} failed: {error.reason or error}") from error
    except OSError as error:
        raise ConnectionFailed(f"{where}: {error.strerror or error}") from error


class Client(ClientBase):
    """Send mail over SMTP from blocking code.

    >>> with Client("mx.example", 25) as smtp:  # doctest: +SKIP
    ...     result = smtp.send_message(message)
    """

    _sock: socket.socket | None = None

    # --- the session -------------------------------------------------------------

    def connect(self) -> Reply:
        """Connect, read the greeting, EHLO, STARTTLS and AUTH as configured."""
        options = self._session.options
        try:
            with io_errors(options.host, options.port):
                self._sock = socket.create_connection(
                    (options.host, options.port),
                    timeout=options.timeouts.connect,
                    source_address=options.source_address,
                )
                # Commands are small writes that wait for replies: Nagle's delay
                # would hold each behind the last one's ACK.
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if options.tls is TLSMode.IMPLICIT:
                    self._upgrade()
            self._run(_steps.open_session(self._session))
        except SMTPError:
            self.close()
            raise
        assert self._session.greeting is not None
        return self._session.greeting

    def close(self) -> None:
        """Close the connection without QUIT."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def __enter__(self) -> Client:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # After a refusal the session is still good: end it politely.
        if self._sock is not None and (error is None or isinstance(error, SMTPError)):
            with contextlib.suppress(SMTPError):
                self.quit()
        self.close()

    # --- commands --------------------------------------------------------------------

    def send_message(
        self,
        message: Message | bytes | Transaction,
        sender: str | None = None,
        recipients: Iterable[str] | None = None,
        *,
        ret: str | None = None,
        envid: str | None = None,
        notify: Iterable[str] | None = None,
        orcpt: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send one message; see ``smtpx.client`` for what is taken from where."""
        prepared = transaction(
            message, sender, recipients, ret=ret, envid=envid, notify=notify, orcpt=orcpt
        )
        return self._run(_steps.transaction(self._session, prepared))

    def send_messages(self, messages: Iterable[Item]) -> list[SendResult | SMTPError]:
        """Send several messages, one round trip each where PIPELINING allows.

        Each item is a message (envelope from its headers), a prepared
        Transaction, or ``(bytes, sender, recipients)``. The outcomes come back
        in order: a SendResult, or the refusal (an SMTPError) for that message.
        Errors that end the connection are raised.
        """
        return self._run(_steps.batch(self._session, transactions(messages)))

    def noop(self) -> Reply:
        return self._run(_steps.simple(self._session, Noop()))

    def rset(self) -> Reply:
        return self._run(_steps.simple(self._session, Rset()))

    def vrfy(self, address: str) -> Reply:
        return self._run(_steps.simple(self._session, Vrfy(address)))

    def expn(self, mailing_list: str) -> Reply:
        return self._run(_steps.simple(self._session, Expn(mailing_list)))

    def help(self, topic: str = "") -> Reply:
        return self._run(_steps.simple(self._session, Help(topic)))

    def quit(self) -> Reply:
        """QUIT, then close."""
        try:
            return self._run(_steps.simple(self._session, Quit()))
        finally:
            self.close()

    # --- I/O -----------------------------------------------------------------------------

    def _run(self, step: _steps.Step[T]) -> T:
        if self._sock is None:
            raise ConnectionFailed("not connected")
        options = self._session.options
        try:
            with io_errors(options.host, options.port):
                try:
                    request = next(step)
                    while True:
                        request = step.send(self._do(request))
                except StopIteration as stop:
                    done: T = stop.value
        except (ConnectionFailed, ProtocolFailure):
            self.close()
            raise
        return done

    def _do(self, request: _steps.IO) -> bytes:
        sock = self._sock
        assert sock is not None
        if isinstance(request, _steps.Read):
            sock.settimeout(request.timeout)
            return sock.recv(_READ)
        if isinstance(request, _steps.Write):
            sock.settimeout(self._session.options.timeouts.data_block)
            sock.sendall(request.data)
            return b""
        self._upgrade()
        return b""

    def _upgrade(self) -> None:
        assert self._sock is not None
        wrapped = self.ssl_context.wrap_socket(self._sock, server_hostname=self.server_hostname)
        self._sock = wrapped
        self._tls_started(TLSInfo.of(wrapped))
