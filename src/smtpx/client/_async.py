"""``AsyncClient``: the asyncio sender, the same procedures as ``Client``.

It runs the procedures of ``_steps`` with asyncio streams: ``Write`` is a write
and a drain, ``Read`` a read under that step's timeout, ``UpgradeTls`` is
``StreamWriter.start_tls``. Errors are mapped as in the blocking client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from email.message import Message
from types import TracebackType
from typing import TypeVar

from ..protocol import Expn, Help, Noop, Quit, Reply, Rset, Vrfy
from . import _steps
from ._base import ClientBase
from ._errors import ConnectionFailed, ProtocolFailure, SMTPError, TLSFailure
from ._result import SendResult
from ._session import TLSMode
from ._steps import Transaction
from ._submission import Item, transaction, transactions
from ._sync import io_errors
from ._tls import TLSInfo

T = TypeVar("T")
_READ = 65536


class AsyncClient(ClientBase):
    """Send mail over SMTP from asyncio code.

    >>> async with AsyncClient("mx.example", 25) as smtp:  # doctest: +SKIP
    ...     result = await smtp.send_message(message)
    """

    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    async def connect(self) -> Reply:
        """Connect, read the greeting, EHLO, STARTTLS and AUTH as configured."""
        options = self._session.options
        implicit = options.tls is TLSMode.IMPLICIT
        try:
            with io_errors(options.host, options.port):
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        options.host,
                        options.port,
                        ssl=self.ssl_context if implicit else None,
                        server_hostname=self.server_hostname if implicit else None,
                        local_addr=options.source_address,
                    ),
                    options.timeouts.connect,
                )
            if implicit:
                self._note_tls()
            await self._run(_steps.open_session(self._session))
        except SMTPError:
            await self.close()
            raise
        assert self._session.greeting is not None
        return self._session.greeting

    async def close(self) -> None:
        """Close the connection without QUIT."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 5)

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # After a refusal the session is still good: end it politely.
        if self._writer is not None and (error is None or isinstance(error, SMTPError)):
            with contextlib.suppress(SMTPError):
                await self.quit()
        await self.close()

    # --- commands --------------------------------------------------------------------

    async def send_message(
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
        return await self._run(_steps.transaction(self._session, prepared))

    async def send_messages(self, messages: Iterable[Item]) -> list[SendResult | SMTPError]:
        """Send several messages, one round trip each where PIPELINING allows.

        Each item is a message (envelope from its headers), a prepared
        Transaction, or ``(bytes, sender, recipients)``. The outcomes come back
        in order: a SendResult, or the refusal (an SMTPError) for that message.
        Errors that end the connection are raised.
        """
        return await self._run(_steps.batch(self._session, transactions(messages)))

    async def noop(self) -> Reply:
        return await self._run(_steps.simple(self._session, Noop()))

    async def rset(self) -> Reply:
        return await self._run(_steps.simple(self._session, Rset()))

    async def vrfy(self, address: str) -> Reply:
        return await self._run(_steps.simple(self._session, Vrfy(address)))

    async def expn(self, mailing_list: str) -> Reply:
        return await self._run(_steps.simple(self._session, Expn(mailing_list)))

    async def help(self, topic: str = "") -> Reply:
        return await self._run(_steps.simple(self._session, Help(topic)))

    async def quit(self) -> Reply:
        """QUIT, then close."""
        try:
            return await self._run(_steps.simple(self._session, Quit()))
        finally:
            await self.close()

    # --- I/O -----------------------------------------------------------------------------

    async def _run(self, step: _steps.Step[T]) -> T:
        if self._writer is None:
            raise ConnectionFailed("not connected")
        options = self._session.options
        try:
            with io_errors(options.host, options.port):
                try:
                    request = next(step)
                    while True:
                        request = step.send(await self._do(request))
                except StopIteration as stop:
                    done: T = stop.value
        except (ConnectionFailed, ProtocolFailure):
            await self.close()
            raise
        return done

    async def _do(self, request: _steps.IO) -> bytes:
        reader, writer = self._reader, self._writer
        assert reader is not None
        assert writer is not None
        if isinstance(request, _steps.Read):
            async with asyncio.timeout(request.timeout):
                return await reader.read(_READ)
        if isinstance(request, _steps.Write):
            writer.write(request.data)
            if writer.transport.get_write_buffer_size() > _READ:
                async with asyncio.timeout(self._session.options.timeouts.data_block):
                    await writer.drain()
            return b""
        try:
            await writer.start_tls(self.ssl_context, server_hostname=self.server_hostname)
        except ConnectionError as error:
            # A server that hangs up mid-handshake: asyncio says reset where the
            # blocking client sees an SSL error. Either way the handshake failed.
            raise TLSFailure(f"the TLS handshake with {self.host} failed: {error!r}") from None
        self._note_tls()
        return b""

    def _note_tls(self) -> None:
        assert self._writer is not None
        ssl_object = self._writer.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._tls_started(TLSInfo.of(ssl_object))
