"""`smtpx messages export` and `import`: the store to .eml files, and back.

Export writes each message's exact bytes, ``ID.eml``, streamed from the store.
Import takes .eml files (a directory of them, or one) or an mbox file (the
stdlib ``mailbox`` module reads it); the envelope is what the headers say
(Return-Path for the sender when present; To, Cc and Bcc for the recipients, or
failing those the Delivered-To or X-Original-To that delivery agents add), since
a file keeps no SMTP envelope. Every file is read and checked before the store
is opened: a bad one stops the import with nothing kept.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import email.utils
import mailbox
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import click

from ..client import MessageError, envelope_of, sender_of
from ..store import Envelope, Origin, QueryError, Recipient, SQLiteStore
from ._exits import EX_CANTCREAT, EX_DATAERR, EX_NOINPUT
from ._messages import messages
from ._stores import data_dir_option, fail, with_store

# Where imported messages say they came from (a file keeps no SMTP session).
IMPORTED = Origin("", 0, "smtpx-import")
_PAGE = 500


@messages.command("export")
@data_dir_option
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--search", "query", metavar="QUERY", help="Only messages matching QUERY.")
def export(data_dir: str | None, directory: str, query: str | None) -> None:
    """Write every message to DIRECTORY as ID.eml (the exact bytes kept)."""
    target = Path(directory)

    async def work(store: SQLiteStore) -> int:
        try:  # only once the store is open: no directory is left behind for nothing
            target.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            fail(
                "messages export",
                f"cannot create {target}: {error.strerror or error}",
                EX_CANTCREAT,
            )
        written = 0
        before = None
        while True:
            page = (
                await store.search(query, _PAGE, before)
                if query
                else await store.list(_PAGE, before)
            )
            for stored in page:
                source = await store.open_raw(stored.id)
                if source is None:  # deleted meanwhile
                    continue
                path = target / f"{stored.id}.eml"
                try:
                    with source, path.open("wb") as out:
                        shutil.copyfileobj(source, out)
                except OSError as error:
                    fail(
                        "messages export",
                        f"cannot write {path}: {error.strerror or error}",
                        EX_CANTCREAT,
                    )
                written += 1
            if len(page) < _PAGE:
                return written
            before = page[-1].id

    try:
        written = with_store("messages", data_dir, work)
    except QueryError as error:
        raise click.BadParameter(str(error), param_hint="--search") from None
    click.echo(f"exported {written} messages to {target}", err=True)


def _cannot_write(action: str, path: Path, error: OSError) -> NoReturn:
    fail("messages export", f"cannot {action} {path}: {error.strerror or error}", EX_CANTCREAT)


@messages.command("import")
@data_dir_option
@click.argument("source", type=click.Path(exists=True))
def import_(data_dir: str | None, source: str) -> None:
    """Keep the messages of SOURCE: a directory of .eml files, an .eml file or an mbox."""
    items = list(_read(Path(source)))
    if not items:
        fail("messages import", f"no messages in {source} (an .eml file or an mbox)", EX_DATAERR)

    async def work(store: SQLiteStore) -> int:
        for _, data, envelope in items:
            incoming = store.incoming()
            incoming.write(data)
            await store.add(incoming, envelope, IMPORTED)
        return len(items)

    click.echo(f"imported {with_store('messages', data_dir, work, create=True)} messages", err=True)


def _read(source: Path) -> Iterator[tuple[str, bytes, Envelope]]:
    """(name, bytes, envelope) of every message in ``source``; a bad one stops all."""
    if source.is_dir():
        files = sorted(path for path in source.glob("*.eml") if path.is_file())
        if not files:
            fail("messages import", f"no .eml files in {source}", EX_NOINPUT)
        for path in files:
            data = _bytes(path)
            yield path.name, data, _envelope(path.name, data)
    elif source.suffix.lower() == ".eml":
        data = _bytes(source)
        yield source.name, data, _envelope(source.name, data)
    else:
        try:
            box = mailbox.mbox(source, create=False)
            keys = box.keys()
        except OSError as error:
            fail("messages import", f"cannot read {source}: {error.strerror or error}", EX_NOINPUT)
        for index, key in enumerate(keys, 1):
            data = box.get_bytes(key)
            yield f"{source.name} #{index}", data, _envelope(f"{source.name} #{index}", data)


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        fail("messages import", f"cannot read {path}: {error.strerror or error}", EX_NOINPUT)


def _envelope(name: str, data: bytes) -> Envelope:
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        data, headersonly=True
    )
    try:
        sender = sender_of(parsed)
        try:
            recipients = envelope_of(parsed).recipients
        except MessageError as error:
            # What a delivery agent wrote down, for mail whose headers name nobody
            # (sent to Bcc only, or by `smtpx sendmail RCPT` without To).
            recipients = _addresses(parsed, "Delivered-To") or _addresses(parsed, "X-Original-To")
            if not recipients:
                raise MessageError(f"{error}, nor a Delivered-To or X-Original-To") from None
    except MessageError as error:
        fail("messages import", f"{name}: {error}", EX_DATAERR)
    if parsed["Return-Path"] is not None:
        sender = email.utils.parseaddr(str(parsed["Return-Path"]))[1]
    return Envelope(sender, tuple(Recipient(address) for address in recipients))


def _addresses(parsed: email.message.Message, field: str) -> tuple[str, ...]:
    """The addresses of every ``field`` header, each once, in order."""
    found = email.utils.getaddresses([str(value) for value in parsed.get_all(field) or []])
    return tuple(dict.fromkeys(address for _, address in found if "@" in address))
