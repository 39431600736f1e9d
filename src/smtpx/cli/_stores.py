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

from ..store import SQLiteStore, StoreError
from ._exits import EX_CONFIG, EX_NOINPUT, EX_TEMPFAIL

__all__ = ["DEFAULT_DATA_DIR", "data_dir_option", "fail", "with_store"]

T = TypeVar("T")

DEFAULT_DATA_DIR = "./smtpx-data"
# --data-dir may come before the subcommand (as in `smtpx messages --data-dir D list`)
# or after it; the later one wins.
data_dir_option = click.option("--data-dir", help="The store `smtpx serve` keeps.")


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
    # A file where the directory should be: open() says so (EX_CONFIG).
    if not create and not SQLiteStore.exists(data_dir) and not Path(data_dir).is_file():
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
