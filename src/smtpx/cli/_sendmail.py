"""`smtpx sendmail`: the /usr/sbin/sendmail interface, relaying to an SMTP server.

Programs written for sendmail pipe a message to it: ``sendmail -t -i`` takes
the recipients from To/Cc/Bcc; otherwise they are the arguments. The server
comes from ``--server``, else ``$SMTPX_SERVER``, else ``server = "host:port"``
in the ``[sendmail]`` table of ``$SMTPX_CONFIG`` (default
``~/.config/smtpx/config.toml``). ``-f ''`` and ``-f '<>'`` give the null
sender, as Postfix's sendmail does.
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
from ..protocol import is_mailbox
from ._exits import exit_code
from ._options import BadConfig, connection_options, has_control, make_client, parse_server
from ._send import deliver, prepared

# Postfix's cleanup(8) writes this From for a message with the null sender and none.
_MAILER_DAEMON = "MAILER-DAEMON@localhost"


def _configured_server() -> str | None:
    """$SMTPX_SERVER, else the [sendmail] table's server in $SMTPX_CONFIG: None when
    neither names one. A config that is there but wrong is EX_CONFIG, naming it."""
    server = os.environ.get("SMTPX_SERVER")
    if server:
        _check_server(server, "$SMTPX_SERVER")
        return server
    path = Path(os.environ.get("SMTPX_CONFIG", "~/.config/smtpx/config.toml")).expanduser()
    try:
        with path.open("rb") as file:
            config = tomllib.load(file)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise BadConfig(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise BadConfig(f"{path} is not UTF-8 text, so not TOML") from None
    except tomllib.TOMLDecodeError as error:
        raise BadConfig(f"{path} is not valid TOML: {error}") from None
    table = config.get("sendmail", {})
    if not isinstance(table, dict):
        raise BadConfig(f"{path}: sendmail should be a table, [sendmail], not {_kind(table)}")
    value = table.get("server")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadConfig(
            f'{path}: [sendmail] server should be a string such as "mail.example.org:587", '
            f"not {value!r}"
        )
    _check_server(value, str(path))
    return value


def _kind(value: object) -> str:
    """A TOML value's kind, for a message: "a string", "an integer", "an array"..."""
    kinds: dict[type, str] = {
        str: "a string",
        int: "an integer",
        float: "a float",
        bool: "a boolean",
        list: "an array",
    }
    return kinds.get(type(value), f"a {type(value).__name__}")  # a date, a time...


def _check_server(server: str, source: str) -> None:
    try:
        parse_server(server)
    except click.BadParameter as error:
        raise BadConfig(f"{source}: {error.message}") from None


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
@click.option(
    "-f",
    "-r",
    "sender",
    metavar="FROM",
    help="The envelope sender ('' or '<>': none, for bounces).",
)
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
        sender = _envelope_sender(options["sender"])
        submission = prepared(
            _message(options, sender),
            sender,
            None if options["from_headers"] else recipients,
            options,
        )
    except MessageError as error:
        click.echo(f"smtpx sendmail: {error}", err=True)
        raise SystemExit(exit_code(error)) from None
    raise SystemExit(deliver(client, submission, options["transcript"], "smtpx sendmail"))


def _envelope_sender(given: str | None) -> str | None:
    """-f as Postfix's sendmail(1) reads it: ``<a@b>`` is a@b, and ``""`` and ``<>``
    are the null sender (RFC 5321 §4.5.5: bounces and auto-replies, which must
    not be answered). None when -f is not given: the sender is then From's."""
    if given is None:
        return None
    if has_control(given):
        raise MessageError(f"-f {given!r}: an address has no line breaks or control characters")
    text = given.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text


def _author(sender: str | None, full_name: str | None) -> str:
    """The From field for a message without one, as Postfix's cleanup(8) writes it:
    the envelope sender (the login name at localhost unless -f) named by -F;
    for the null sender, MAILER-DAEMON with no name."""
    if sender == "":
        return _MAILER_DAEMON
    if sender is None:
        user = os.environ.get("USER") or getpass.getuser()
        sender = f"{user}@localhost"
        if has_control(user) or not is_mailbox(sender):
            raise MessageError(
                f"the login name {user!r} does not make a sender address: give -f ADDRESS"
            )
    return formataddr((full_name or "", sender))


def _message(options: dict[str, Any], sender: str | None) -> EmailMessage:
    full_name = options["full_name"]
    if full_name is not None and has_control(full_name):
        raise MessageError(f"-F {full_name!r}: a name has no line breaks or control characters")
    data = _read_stdin(options["ignore_dots"])
    message = BytesParser(policy=policy.SMTP).parsebytes(data)
    assert isinstance(message, EmailMessage)
    if options["from_headers"] and options["recipients"]:
        # sendmail -t with arguments: the arguments are added to the headers' list.
        message["Bcc"] = ", ".join(options["recipients"])
    if message["From"] is None:
        message["From"] = _author(sender, full_name)
    if message["Date"] is None:
        message["Date"] = formatdate(localtime=True)
    if message["Message-ID"] is None:
        message["Message-ID"] = make_msgid()
    return message
