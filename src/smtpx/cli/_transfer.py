"""`smtpx messages export` and `import`: the store to .eml files, and back.

Export writes each message's exact bytes, ``ID.eml``, streamed from the store.
Import takes .eml files (a directory of them, or one) or an mbox file (the
stdlib ``mailbox`` module reads it); the envelope is what the headers say
(Return-Path for the sender when present; To, Cc and Bcc for the recipients),
since a file keeps no SMTP envelope.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import mailbox
import shutil
from collections.abc import Iterator
from pathlib import Path

import click

from ..client import MessageError, envelope_of
from ..store import Envelope, Origin, QueryError, Recipient, SQLiteStore
from ._exits import EX_DATAERR, EX_NOINPUT
from ._messages import messages
from ._stores import data_dir_option, with_store

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
    target.mkdir(parents=True, exist_ok=True)

    async def work(store: SQLiteStore) -> int:
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
                with source, (target / f"{stored.id}.eml").open("wb") as out:
                    shutil.copyfileobj(source, out)
                written += 1
            if len(page) < _PAGE:
                return written
            before = page[-1].id

    try:
        written = with_store("messages", data_dir, work)
    except QueryError as error:
        raise click.BadParameter(str(error), param_hint="--search") from None
    click.echo(f"exported {written} messages to {target}", err=True)


@messages.command("import")
@data_dir_option
@click.argument("source", type=click.Path(exists=True))
def import_(data_dir: str | None, source: str) -> None:
    """Keep the messages of SOURCE: a directory of .eml files, an .eml file or an mbox."""
    items = list(_read(Path(source)))

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
        files = sorted(source.glob("*.eml"))
        if not files:
            click.echo(f"smtpx messages import: no .eml files in {source}", err=True)
            raise SystemExit(EX_NOINPUT)
        for path in files:
            yield path.name, path.read_bytes(), _envelope(path.name, path.read_bytes())
    elif source.suffix.lower() == ".eml":
        yield source.name, source.read_bytes(), _envelope(source.name, source.read_bytes())
    else:
        box = mailbox.mbox(source, create=False)
        for index, key in enumerate(box.keys(), 1):
            data = box.get_bytes(key)
            yield f"{source.name} #{index}", data, _envelope(f"{source.name} #{index}", data)


def _envelope(name: str, data: bytes) -> Envelope:
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        data, headersonly=True
    )
    try:
        found = envelope_of(parsed)
    except MessageError as error:
        click.echo(f"smtpx messages import: {name}: {error}", err=True)
        raise SystemExit(EX_DATAERR) from None
    sender = found.sender
    if parsed["Return-Path"] is not None:
        sender = email.utils.parseaddr(str(parsed["Return-Path"]))[1]
    return Envelope(sender, tuple(Recipient(address) for address in found.recipients))
