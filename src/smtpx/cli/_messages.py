"""`smtpx messages`: look at what `smtpx serve` kept, from the shell."""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import sys
import unicodedata
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import click

from ..store import QueryError, SQLiteStore, StoredMessage
from ._exits import EX_DATAERR
from ._stores import (
    DEFAULT_DATA_DIR,
    MAX_LIMIT,
    data_dir_option,
    fail,
    message_id_option,
    with_store,
)

T = TypeVar("T")


def _with_store(given: str | None, work: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    return with_store("messages", given, work)


def _missing(message_id: str) -> NoReturn:
    fail("messages", f"no message {message_id}", EX_DATAERR)


@click.group()
@click.option(
    "--data-dir", default=DEFAULT_DATA_DIR, show_default=True, help="The store `smtpx serve` keeps."
)
@click.pass_context
def messages(ctx: click.Context, data_dir: str) -> None:
    """List, show and delete the messages `smtpx serve` kept."""
    ctx.ensure_object(dict)["data_dir"] = data_dir


@messages.command("list")
@data_dir_option
@click.option("--limit", type=click.IntRange(min=1, max=MAX_LIMIT), default=50, show_default=True)
@click.option(
    "--before", metavar="ID", callback=message_id_option, help="Older than this message (paging)."
)
@click.option(
    "--search",
    "text",
    metavar="QUERY",
    help="Only matches: words, from:, subject:, has:attachment...",
)
def list_(data_dir: str | None, limit: int, before: str | None, text: str | None) -> None:
    """Newest first: id, time, from, to, subject, size."""

    async def work(store: SQLiteStore) -> list[StoredMessage]:
        if text:
            return await store.search(text, limit, before)
        return await store.list(limit, before)

    try:
        found = _with_store(data_dir, work)
    except QueryError as error:
        raise click.BadParameter(str(error), param_hint="--search") from None

    for message in found:
        recipients = ",".join(r.address for r in message.envelope.recipients)
        when = message.received_at.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{message.id}  {when}  {message.envelope.sender or '<>'}  {recipients}  "
            f"{message.summary.subject!r}  {message.size}"
        )


@messages.command()
@data_dir_option
@click.argument("message_id", metavar="ID")
def show(data_dir: str | None, message_id: str) -> None:
    """The envelope, the headers and the text body."""

    async def work(store: SQLiteStore) -> tuple[StoredMessage | None, bytes | None]:
        return await store.get(message_id), await store.raw(message_id)

    message, raw = _with_store(data_dir, work)
    if message is None or raw is None:
        _missing(message_id)
    lines = [
        f"id:         {message.id}",
        f"received:   {message.received_at.isoformat()}",
        f"client:     {message.origin.client_address} ({message.origin.helo})",
        f"mail from:  <{message.envelope.sender}>",
        *(f"rcpt to:    <{recipient.address}>" for recipient in message.envelope.recipients),
        "",
    ]
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(parsed, email.message.EmailMessage)
    lines += [f"{name}: {value}" for name, value in parsed.items()]
    lines.append("")
    body = parsed.get_body(preferencelist=("plain",))
    text = _text(body).replace("\r\n", "\n") if body is not None else "(no text part)"
    lines.append(text.rstrip("\n"))
    # Whoever sent the mail wrote these lines: no escape sequence of theirs reaches
    # the terminal.
    click.echo("\n".join(_visible(line) for line in lines))


def _text(part: email.message.MIMEPart) -> str:
    """A text part's content; with a charset Python does not know, its bytes read as
    UTF-8 (what cannot be read shown as U+FFFD), not an error."""
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _visible(line: str) -> str:
    """``line`` with control characters (ESC and the rest, but tab and newline) written
    as ``\\xNN``, so a message cannot drive the terminal showing it."""
    return "".join(
        f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" and c not in "\t\n" else c
        for c in line
    )


@messages.command()
@data_dir_option
@click.argument("message_id", metavar="ID")
def raw(data_dir: str | None, message_id: str) -> None:
    """The exact bytes as kept (with our Received header first)."""
    data = _with_store(data_dir, lambda store: store.raw(message_id))
    if data is None:
        _missing(message_id)
    sys.stdout.buffer.write(data)


@messages.command()
@data_dir_option
@click.argument("message_id", metavar="ID")
def delete(data_dir: str | None, message_id: str) -> None:
    """Delete one message."""
    if not _with_store(data_dir, lambda store: store.delete(message_id)):
        _missing(message_id)
    click.echo(f"deleted {message_id}")


@messages.command()
@data_dir_option
def count(data_dir: str | None) -> None:
    """How many messages are kept."""
    click.echo(str(_with_store(data_dir, lambda store: store.count())))
