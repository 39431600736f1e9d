"""Both clients behind one blocking face, so each peer test is written once.

Theory of operation: a test asks its ``driver`` fixture (parametrized over
"blocking" and "async") for a :class:`Sender`, which wraps a ``Client`` or an
``AsyncClient`` made with the same options. Every method is a plain call: the
blocking sender calls the client directly, the asyncio one runs the coroutine
on the test's single event loop (an ``asyncio.Runner`` kept for the whole
test, since asyncio streams belong to the loop that opened them). Used as a
context manager a sender connects and, on leaving, QUITs (or just closes after
an exception), as the clients' own ``with`` / ``async with`` do. Every sender
is closed when the test ends, connected or not.

Also here: :func:`exchange` and :func:`sent_verbs` read a transcript's order of
commands and replies; :func:`fixed_boundaries` makes a composed message flatten
to the same bytes every time, so a test can know what was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from email.message import EmailMessage, Message
from types import TracebackType
from typing import Any

from smtpx.client import AsyncClient, Client, SendResult, SMTPError, TLSInfo
from smtpx.client._base import ClientBase
from smtpx.protocol import Extensions, Reply

# Seconds for every step unless a test says otherwise: a broken peer fails the test
# quickly instead of hanging it for RFC 5321's five minutes.
TIMEOUT = 10.0
CLIENT_NAME = "client.example"
KINDS = ["blocking", "async"]
# What send_messages takes: a message, or raw bytes with their envelope.
Item = Message | bytes | tuple[bytes, str, Iterable[str]]


class Sender:
    """A ``Client`` or an ``AsyncClient``, driven by blocking calls."""

    client: ClientBase

    def connect(self) -> Reply:
        raise NotImplementedError

    def send_message(
        self,
        message: Message | bytes,
        sender: str | None = None,
        recipients: Iterable[str] | None = None,
        *,
        ret: str | None = None,
        envid: str | None = None,
        notify: Iterable[str] | None = None,
    ) -> SendResult:
        raise NotImplementedError

    def send_messages(self, messages: Iterable[Item]) -> list[SendResult | SMTPError]:
        raise NotImplementedError

    def noop(self) -> Reply:
        raise NotImplementedError

    def rset(self) -> Reply:
        raise NotImplementedError

    def quit(self) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _exit(self, error: BaseException | None) -> None:
        raise NotImplementedError

    # --- what both clients expose as attributes -----------------------------------------

    @property
    def transcript(self) -> list[str]:
        return self.client.transcript

    @property
    def esmtp(self) -> bool:
        return self.client.esmtp

    @property
    def extensions(self) -> Extensions:
        return self.client.extensions

    @property
    def tls_info(self) -> TLSInfo | None:
        return self.client.tls_info

    def __enter__(self) -> Sender:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exit(error)


class BlockingSender(Sender):
    def __init__(self, client: Client) -> None:
        self.client = self._client = client

    def connect(self) -> Reply:
        return self._client.connect()

    def send_message(
        self,
        message: Message | bytes,
        sender: str | None = None,
        recipients: Iterable[str] | None = None,
        *,
        ret: str | None = None,
        envid: str | None = None,
        notify: Iterable[str] | None = None,
    ) -> SendResult:
        return self._client.send_message(
            message, sender, recipients, ret=ret, envid=envid, notify=notify
        )

    def send_messages(self, messages: Iterable[Item]) -> list[SendResult | SMTPError]:
        return self._client.send_messages(messages)

    def noop(self) -> Reply:
        return self._client.noop()

    def rset(self) -> Reply:
        return self._client.rset()

    def quit(self) -> Reply:
        return self._client.quit()

    def close(self) -> None:
        self._client.close()

    def _exit(self, error: BaseException | None) -> None:
        traceback = error.__traceback__ if error is not None else None
        self._client.__exit__(type(error) if error else None, error, traceback)


class AsyncSender(Sender):
    def __init__(self, client: AsyncClient, runner: asyncio.Runner) -> None:
        self.client = self._client = client
        self._runner = runner

    def connect(self) -> Reply:
        return self._runner.run(self._client.connect())

    def send_message(
        self,
        message: Message | bytes,
        sender: str | None = None,
        recipients: Iterable[str] | None = None,
        *,
        ret: str | None = None,
        envid: str | None = None,
        notify: Iterable[str] | None = None,
    ) -> SendResult:
        return self._runner.run(
            self._client.send_message(
                message, sender, recipients, ret=ret, envid=envid, notify=notify
            )
        )

    def send_messages(self, messages: Iterable[Item]) -> list[SendResult | SMTPError]:
        return self._runner.run(self._client.send_messages(messages))

    def noop(self) -> Reply:
        return self._runner.run(self._client.noop())

    def rset(self) -> Reply:
        return self._runner.run(self._client.rset())

    def quit(self) -> Reply:
        return self._runner.run(self._client.quit())

    def close(self) -> None:
        self._runner.run(self._client.close())

    def _exit(self, error: BaseException | None) -> None:
        traceback = error.__traceback__ if error is not None else None
        self._runner.run(self._client.__aexit__(type(error) if error else None, error, traceback))


class Driver:
    """Makes senders of one kind, and closes them all at the end of the test."""

    def __init__(self, kind: str, runner: asyncio.Runner | None = None) -> None:
        self.kind = kind
        self._runner = runner
        self._made: list[Sender] = []

    def sender(self, host: str, port: int, **options: Any) -> Sender:
        """A sender, not yet connected; ``options`` are the clients' keyword arguments."""
        options.setdefault("timeout", TIMEOUT)
        options.setdefault("local_hostname", CLIENT_NAME)
        made: Sender
        if self._runner is None:
            made = BlockingSender(Client(host, port, **options))
        else:
            made = AsyncSender(AsyncClient(host, port, **options), self._runner)
        self._made.append(made)
        return made

    def close_all(self) -> None:
        for made in self._made:
            made.close()


def drive(kind: str) -> Iterator[Driver]:
    """The body of a ``driver`` fixture: ``yield from drive(request.param)``."""
    if kind == "blocking":
        driver = Driver(kind)
        yield driver
        driver.close_all()
        return
    with asyncio.Runner() as runner:
        driver = Driver(kind, runner)
        yield driver
        driver.close_all()


# --- reading a transcript -------------------------------------------------------------------


def exchange(transcript: list[str], start: str = "MAIL") -> list[str]:
    """The dialogue from the first command ``start`` on, one entry per command or reply.

    A command is its verb (``"MAIL"``, ``"RCPT"``, ``"."``; message content is
    ``"content"``), a reply is ``"<- 250"``: the continuation lines of a
    multi-line reply are folded into its last. Notes (``**``) are left out.
    """
    out: list[str] = []
    started = False
    for line in transcript:
        if line.startswith("-> "):
            text = line[3:]
            verb = "content" if text.startswith("(") else text.split(" ", 1)[0].split(":")[0]
            verb = verb if verb == "content" else verb.upper()
            started = started or verb == start
            if started:
                out.append(verb)
        elif line.startswith("<- ") and started and line[6:7] != "-":
            out.append(line[:6])
    return out


def sent_verbs(transcript: list[str]) -> list[str]:
    """Every command verb sent, in order."""
    return [
        line[3:].split(" ", 1)[0].split(":")[0].upper()
        for line in transcript
        if line.startswith("-> ") and not line.startswith("-> (")
    ]


# --- messages ----------------------------------------------------------------------------------


def fixed_boundaries(message: EmailMessage) -> EmailMessage:
    """``message`` with a set boundary on every multipart, so it flattens the same each time.

    compose() leaves boundaries unset and flatten() works on a copy, so each
    flatten (each send) draws new random boundaries: the bytes sent could not
    be predicted by the test otherwise.
    """
    for number, part in enumerate(message.walk()):
        if part.is_multipart() and part.get_boundary() is None:
            part.set_boundary(f"smtpx-test-boundary-{number}")
    return message
