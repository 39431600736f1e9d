"""The `smtpx` command: thin argument parsing over the packages below it.

Exit codes follow sysexits.h (DESIGN.md, Command line). A user's mistake on the
command line is EX_USAGE (64) and one line on stderr, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click

from . import _transfer  # noqa: F401 - registers `smtpx messages export` and `import`
from ._exits import EX_USAGE
from ._messages import messages
from ._passwd import passwd
from ._probe import probe
from ._queue import queue
from ._send import send
from ._sendmail import sendmail
from ._serve import serve

__all__ = ["EX_USAGE", "main"]


class _UsageError(click.UsageError):
    """A click usage error shown as one line and exiting with EX_USAGE."""

    exit_code = EX_USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        command = self.ctx.command_path if self.ctx is not None else "smtpx"
        message = " ".join(self.format_message().split())
        if not message.endswith((".", "?", "!")):
            message += "."
        click.echo(f"{command}: {message} Try '{command} --help'.", file=file, err=True)


@contextmanager
def _usage_errors_exit_64() -> Iterator[None]:
    try:
        yield
    except _UsageError:
        raise
    except click.UsageError as exc:
        raise _UsageError(exc.format_message(), exc.ctx) from exc


class _Group(click.Group):
    # Arguments are parsed in make_context; subcommands (and their own parsing) run
    # inside invoke. Between them they see every usage error before click prints it.
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _usage_errors_exit_64():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_errors_exit_64():
            return super().invoke(ctx)


@click.group(
    cls=_Group,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="smtpx", prog_name="smtpx", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """smtpx: move email over SMTP (sender, receiver, relay)."""
    if ctx.invoked_subcommand is None:
        # Bare `smtpx`: the help text is the useful answer, but no command was given.
        click.echo(ctx.get_help(), err=True)
        ctx.exit(EX_USAGE)


for _command in (send, probe, sendmail, serve, messages, queue, passwd):
    main.add_command(_command)
