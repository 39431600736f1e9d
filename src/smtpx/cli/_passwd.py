"""`smtpx passwd`: add or change a user in the file `smtpx serve --auth-file` reads."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from ..server import (
    AuthFileError,
    Users,
    check_password,
    check_user_name,
    hash_password,
    users_file_lines,
)
from ._exits import EX_CANTCREAT, EX_CONFIG, EX_DATAERR


@click.command()
@click.argument("auth_file", type=click.Path(dir_okay=False))
@click.argument("user")
@click.option(
    "--clear",
    is_flag=True,
    help="Keep the password itself, not a hash: only such users can use CRAM-MD5.",
)
def passwd(auth_file: str, user: str, clear: bool) -> None:
    """Set USER's password in AUTH_FILE (asked for, or one line on stdin)."""
    try:
        check_user_name(user)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="USER") from None
    path = Path(auth_file)
    lines = _read(path)
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    try:
        check_password(password, clear=clear)
    except ValueError as error:
        click.echo(f"smtpx passwd: {error}", err=True)
        raise SystemExit(EX_DATAERR) from None
    secret = "{PLAIN}" + password if clear else hash_password(password)
    entry = f"{user}:{secret}"
    kept = [line for line in lines if line.partition(":")[0] != user]
    changed = len(kept) != len(lines)
    _write(path, [*kept, entry])
    click.echo(f"smtpx passwd: {'changed' if changed else 'added'} {user} in {path}", err=True)


def _read(path: Path) -> list[str]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        click.echo(f"smtpx passwd: cannot read {path}: {error}", err=True)
        raise SystemExit(EX_CONFIG) from None
    lines = users_file_lines(text)
    try:
        Users.from_lines(lines, str(path))  # never rewrite a file we do not understand
    except AuthFileError as error:
        click.echo(f"smtpx passwd: {error}", err=True)
        raise SystemExit(EX_CONFIG) from None
    return lines


def _write(path: Path, lines: list[str]) -> None:
    """Replace the file in one rename, readable by its owner only."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write("".join(f"{line}\n" for line in lines))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        click.echo(f"smtpx passwd: cannot write {path}: {error.strerror or error}", err=True)
        raise SystemExit(EX_CANTCREAT) from None
