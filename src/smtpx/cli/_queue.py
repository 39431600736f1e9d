"""`smtpx queue`: the relay's queue from the shell (Postfix's mailq/postqueue).

Theory of operation: `smtpx serve --relay` keeps one delivery per recipient in
the store, next to the message, and its queue runner re-reads the store every
few seconds. So this command needs no signal and no socket: it opens the same
store from another process (SQLite in WAL mode lets both in), reads
``Store.queue``/``Store.deliveries``, or writes ``Store.retry``/``Store.delete``,
and a running relay picks the change up on its next look.

A data directory without a store is EX_NOINPUT, one that cannot be opened
EX_CONFIG, one that fails once open EX_TEMPFAIL (``_stores.py``, as for `smtpx
messages`); an unknown id is EX_DATAERR.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn, TypeVar

import click

from ..store import Delivery, DeliveryStatus, SQLiteStore, StoredMessage
from ._exits import EX_DATAERR, EX_USAGE
from ._stores import DEFAULT_DATA_DIR, MAX_LIMIT, data_dir_option, fail, with_store

T = TypeVar("T")

Entry = tuple[StoredMessage, list[Delivery]]

# `list` colours each status; click.echo drops the colours when stdout is not a terminal.
STATUS_COLOURS = {
    DeliveryStatus.QUEUED: "cyan",
    DeliveryStatus.DEFERRED: "yellow",
    DeliveryStatus.DELIVERED: "green",
    DeliveryStatus.FAILED: "red",
}
# A last reply is cut to what is left of the terminal's line, but never below this.
MIN_REPLY_WIDTH = 20


def _fail(message: str, code: int) -> NoReturn:
    fail("queue", message, code)


def _with_store(given: str | None, work: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    return with_store("queue", given, work)


async def _queued(store: SQLiteStore, message_id: str) -> list[Delivery]:
    """The message's deliveries; the command ends (EX_DATAERR) if it has none."""
    deliveries = await store.deliveries(message_id)
    if deliveries:
        return deliveries
    if await store.get(message_id) is None:
        _fail(f"no message {message_id}", EX_DATAERR)
    _fail(f"message {message_id} is not in the queue (see `smtpx messages`)", EX_DATAERR)


def _when(epoch: float | None, *, zone: bool = False) -> str:
    """Local time to the second; "-" for none (a final delivery has no next attempt)."""
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S" + (" %z" if zone else ""), time.localtime(epoch))


def one_line(reply: str, width: int | None) -> str:
    """A reply (multi-line, perhaps) on one line, cut to ``width`` characters."""
    flat = " ".join(reply.split())
    if width is None or len(flat) <= width:
        return flat
    return flat[: max(width - 1, 0)] + "…"


def _params(params: Sequence[tuple[str, str]]) -> str:
    return "".join(f" {key}={value}" if value else f" {key}" for key, value in params)


def _pending(entry: Entry) -> bool:
    return any(delivery.status.pending for delivery in entry[1])


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@click.group(invoke_without_command=True)
@click.option(
    "--data-dir", default=DEFAULT_DATA_DIR, show_default=True, help="The store `smtpx serve` keeps."
)
@click.pass_context
def queue(ctx: click.Context, data_dir: str) -> None:
    """The relay's queue: per-recipient status, attempts, last reply, next attempt.

    Changes (retry, flush, delete) are picked up by a running `smtpx serve --relay`
    within seconds.
    """
    if ctx.invoked_subcommand is None:  # as bare `smtpx` does: the help, but EX_USAGE
        click.echo(ctx.get_help(), err=True)
        ctx.exit(EX_USAGE)
    ctx.ensure_object(dict)["data_dir"] = data_dir


@queue.command("list")
@data_dir_option
@click.option("--pending", is_flag=True, help="Only messages with a recipient still to send to.")
@click.option("--limit", type=click.IntRange(min=1, max=MAX_LIMIT), default=100, show_default=True)
def list_(data_dir: str | None, pending: bool, limit: int) -> None:
    """Messages with pending recipients first, then newest.

    One line per message (id, received, size, sender, subject), then one per
    recipient: address, status, attempts, next attempt ("-" once delivered or
    failed), remote host, last reply (cut to the terminal's width).
    """
    # One more than shown, to tell whether there are more; pending messages come
    # first, so --pending keeps a prefix of the page.
    page = _with_store(data_dir, lambda store: store.queue(limit + 1))
    if pending:
        page = [entry for entry in page if _pending(entry)]
    if not page:
        click.echo("nothing pending in the queue" if pending else "queue is empty")
        return
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    for message, deliveries in page[:limit]:
        when = _when(message.received_at.timestamp())
        click.echo(
            f"{message.id}  {when}  {message.size} octets  <{message.envelope.sender}>"
            f"  {message.summary.subject!r}"
        )
        pad = max(len(delivery.recipient) for delivery in deliveries)
        for delivery in deliveries:
            status = f"{delivery.status.value:<9}"  # "delivered" is the longest
            rest = (
                f"  attempts {delivery.attempts}  next {_when(delivery.next_attempt):<19}"
                f"  {delivery.remote or '-'}  "
            )
            head = f"    {delivery.recipient:<{pad}}  "
            used = len(head) + len(status) + len(rest)
            room = None if width is None else max(width - used - 1, MIN_REPLY_WIDTH)
            status = click.style(status, fg=STATUS_COLOURS[delivery.status])
            click.echo(head + status + rest + one_line(delivery.last_reply or "-", room))
    if len(page) > limit:
        click.echo(f"smtpx queue: showing the first {limit} messages only (--limit)", err=True)


@queue.command()
@data_dir_option
@click.argument("message_id", metavar="ID")
def show(data_dir: str | None, message_id: str) -> None:
    """One message's envelope and origin, and each recipient's record."""

    async def work(store: SQLiteStore) -> tuple[StoredMessage | None, list[Delivery]]:
        deliveries = await _queued(store, message_id)
        return await store.get(message_id), deliveries

    message, deliveries = _with_store(data_dir, work)
    if message is None:  # deleted between the two reads
        _fail(f"no message {message_id}", EX_DATAERR)
    origin, envelope = message.origin, message.envelope
    click.echo(f"id:            {message.id}")
    click.echo(f"received:      {_when(message.received_at.timestamp(), zone=True)}")
    click.echo(f"size:          {message.size} octets")
    click.echo(f"client:        {origin.client_address} port {origin.client_port} ({origin.helo})")
    click.echo(f"tls:           {origin.tls or 'none'}")
    click.echo(f"auth:          {origin.auth_user or 'none'}")
    click.echo(f"mail from:     <{envelope.sender}>{_params(envelope.params)}")
    for recipient in envelope.recipients:
        click.echo(f"rcpt to:       <{recipient.address}>{_params(recipient.params)}")
    click.echo(f"subject:       {message.summary.subject}")
    for delivery in deliveries:
        click.echo("")
        click.echo(f"to <{delivery.recipient}>")
        click.echo(f"  status:        {delivery.status.value}")
        click.echo(f"  attempts:      {delivery.attempts}")
        click.echo(f"  next attempt:  {_when(delivery.next_attempt, zone=True)}")
        click.echo(f"  updated:       {_when(delivery.updated, zone=True)}")
        click.echo(f"  warned:        {'yes' if delivery.warned else 'no'}")
        click.echo(f"  remote:        {delivery.remote or '-'}")
        lines = (delivery.last_reply or "-").splitlines() or ["-"]
        click.echo(f"  last reply:    {lines[0]}")
        for line in lines[1:]:
            click.echo(f"                 {line}")


def _retry(data_dir: str | None, message_id: str | None) -> None:
    async def work(store: SQLiteStore) -> int:
        if message_id is not None:
            await _queued(store, message_id)
        return await store.retry(message_id, time.time())

    rescheduled = _with_store(data_dir, work)
    if rescheduled == 0:
        click.echo("nothing pending to retry")
    else:
        click.echo(f"rescheduled {_plural(rescheduled, 'recipient')}: due now")


@queue.command()
@data_dir_option
@click.argument("message_id", metavar="[ID]", required=False)
def retry(data_dir: str | None, message_id: str | None) -> None:
    """Make pending recipients due now: those of ID, or all.

    Queued and deferred recipients only: delivered and failed ones are final.
    """
    _retry(data_dir, message_id)


@queue.command()
@data_dir_option
def flush(data_dir: str | None) -> None:
    """Retry every pending recipient now, like Postfix's `postqueue -f`.

    The same as `retry` with no ID.
    """
    _retry(data_dir, None)


@queue.command()
@data_dir_option
@click.argument("message_id", metavar="ID")
def delete(data_dir: str | None, message_id: str) -> None:
    """Delete a queued message and its deliveries, sent or not."""

    async def work(store: SQLiteStore) -> bool:
        await _queued(store, message_id)
        return await store.delete(message_id)

    if not _with_store(data_dir, work):  # deleted by someone else meanwhile
        _fail(f"no message {message_id}", EX_DATAERR)
    click.echo(f"deleted {message_id}")
