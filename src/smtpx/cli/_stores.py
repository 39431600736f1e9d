"""The store a command reads: `smtpx messages` and `smtpx queue` open what `smtpx serve` keeps.

Theory of operation: these commands open the same SQLite store as a running
`smtpx serve`, from another process (WAL mode lets both in). A data directory
with no store in it is an error (EX_NOINPUT), not a store to create: a mistyped
--data-dir would otherwise show nothing and leave a new empty store behind.
Only `smtpx messages import` makes a store where there is none. A store that
cannot be opened is EX_CONFIG; one that fails once open (locked, disk full) is
EX_TEMPFAIL: try again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from ..store import SQLiteStore, StoreError, is_message_id
from ._exits import EX_CONFIG, EX_NOINPUT, EX_TEMPFAIL

__all__ = [
    "DEFAULT_DATA_DIR",
    "MAX_LIMIT",
    "data_dir_option",
    "fail",
    "message_id_option",
    "with_store",
]

T = TypeVar("T")

DEFAULT_DATA_DIR = "./smtpx-data"
# The most messages a listing shows at once (--limit).
MAX_LIMIT = 100_000
# --data-dir may come before the subcommand (as in `smtpx messages --data-dir D list`)
# or after it; the later one wins.
data_dir_option = click.option("--data-dir", help="The store `smtpx serve` keeps.")


def message_id_option(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    """A --before ID (or similar) option: a message id as `smtpx messages list` prints."""
    if value is not None and not is_message_id(value):
        raise click.BadParameter(f"{value!r} is not a message id (20 hex digits, see `list`)")
    return value


def fail(command: str, message: str, code: int) -> NoReturn:
    """End `smtpx COMMAND`: one line on standard error, and exit ``code``."""
    click.echo(f"smtpx {command}: {message}", err=True)
    raise SystemExit(code)


def with_store(
    command: str,
    given: str | None,
    work: Callable[[SQLiteStore], Awaitable[T]],
    *,
    create: bool = False,
) -> T:
    """Open the store (``given``, else the group's --data-dir), run ``work`` on it, close it."""
    data_dir = given or _group_data_dir()
    try:
        found = SQLiteStore.exists(data_dir)
    except OSError as error:  # a directory we may not enter
        fail(command, f"cannot read {data_dir}: {error.strerror or error}", EX_NOINPUT)
    # A file where the directory should be: open() says so (EX_CONFIG).
    if not create and not found and not Path(data_dir).is_file():
        fail(command, f"no store in {data_dir}: give the --data-dir `smtpx serve` uses", EX_NOINPUT)

    async def run() -> T:
        try:
            store = await SQLiteStore.open(data_dir)
        except StoreError as error:
            fail(command, str(error), EX_CONFIG)
        try:
            return await work(store)
        except StoreError as error:  # opened, then failed: busy, disk full... try again
            fail(command, str(error), EX_TEMPFAIL)
        finally:
            await store.close()

    return asyncio.run(run())


def _group_data_dir() -> str:
    parent = click.get_current_context().find_object(dict)
    return str((parent or {}).get("data_dir") or DEFAULT_DATA_DIR)
