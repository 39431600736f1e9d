"""`smtpx sendmail`: the /usr/sbin/sendmail interface, relaying to an SMTP server.

Programs written for sendmail pipe a message to it: ``sendmail -t -i`` takes
the recipients from To/Cc/Bcc; otherwise they are the arguments. The server
comes from ``--server``, else ``$SMTPX_SERVER``, else ``server = "host:port"``
in the ``[sendmail]`` table of ``$SMTPX_CONFIG`` (default
``~/.config/smtpx/config.toml``).
"""

from __future__ import annotations

import getpass
import os
import sys
import tomllib
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Any

import click

from ..client import MessageError
from ._exits import exit_code
from ._options import connection_options, make_client
from ._send import deliver, prepared


def _configured_server() -> str | None:
    server = os.environ.get("SMTPX_SERVER")
    if server:
        return server
    path = Path(os.environ.get("SMTPX_CONFIG", "~/.config/smtpx/config.toml")).expanduser()
    try:
        with path.open("rb") as file:
            config = tomllib.load(file)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise click.UsageError(f"{path}: {error}") from None
    value = config.get("sendmail", {}).get("server")
    return str(value) if value else None


def _read_stdin(ignore_dots: bool) -> bytes:
    """The message on stdin; without -i a line of a single "." ends it (sendmail(8))."""
    data = sys.stdin.buffer.read()
    if ignore_dots:
        return data
    lines = data.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.rstrip(b"\r\n") == b".":
            return b"".join(lines[:index])
    return data


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("recipients", nargs=-1, metavar="[RCPT ...]")
@click.option("-t", "from_headers", is_flag=True, help="Recipients from To, Cc and Bcc.")
@click.option("-i", "-oi", "ignore_dots", is_flag=True, help="A lone '.' does not end input.")
@click.option("-f", "-r", "sender", metavar="FROM", help="The envelope sender.")
@click.option("-N", "notify", metavar="WHEN", help="DSN: NEVER, or SUCCESS,FAILURE,DELAY.")
@click.option("-R", "ret", type=click.Choice(["full", "hdrs"], case_sensitive=False), help="DSN.")
@click.option("-V", "envid", metavar="ID", help="DSN: the envelope id.")
@click.option("-o", "ignored_o", multiple=True, hidden=True, help="sendmail -oX: ignored.")
@click.option("-B", "ignored_b", hidden=True, help="sendmail -B type: ignored (smtpx decides).")
@click.option(
    "-b",
    "mode",
    type=click.Choice(["m"]),
    default="m",
    hidden=True,
    help="Only -bm (deliver mail) is supported.",
)
@click.option("-F", "full_name", metavar="NAME", help="The sender's full name, for From.")
@click.option("--server", metavar="HOST[:PORT]", help="The SMTP server to relay to.")
@click.option("-v", "--transcript", is_flag=True, help="Show the whole dialogue.")
@connection_options
def sendmail(**options: Any) -> None:
    """Read a message on stdin and send it, as sendmail(8) does."""
    server = options["server"] or _configured_server()
    if not server:
        raise click.UsageError("no server: give --server, set $SMTPX_SERVER, or a config file")
    recipients = list(options["recipients"])
    if not options["from_headers"] and not recipients:
        raise click.UsageError("give recipients, or -t to take them from the headers")
    client = make_client(server, options)
    try:
        submission = prepared(
            _message(options),
            options["sender"],
            None if options["from_headers"] else recipients,
            options,
        )
    except MessageError as error:
        click.echo(f"smtpx sendmail: {error}", err=True)
        raise SystemExit(exit_code(error)) from None
    raise SystemExit(deliver(client, submission, options["transcript"], "smtpx sendmail"))


def _message(options: dict[str, Any]) -> EmailMessage:
    data = _read_stdin(options["ignore_dots"])
    message = BytesParser(policy=policy.SMTP).parsebytes(data)
    assert isinstance(message, EmailMessage)
    if options["from_headers"] and options["recipients"]:
        # sendmail -t with arguments: the arguments are added to the headers' list.
        message["Bcc"] = ", ".join(options["recipients"])
    if message["From"] is None:
        sender = options["sender"] or f"{os.environ.get('USER') or getpass.getuser()}@localhost"
        message["From"] = formataddr((options["full_name"] or "", sender))
    if message["Date"] is None:
        message["Date"] = formatdate(localtime=True)
    if message["Message-ID"] is None:
        message["Message-ID"] = make_msgid()
    return message
