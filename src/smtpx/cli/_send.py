"""`smtpx send`: compose or read a message and send it, saying what became of it."""

from __future__ import annotations

from email.message import Message
from typing import Any

import click

from ..client import (
    Client,
    MessageError,
    MissingInput,
    SendResult,
    SMTPError,
    Transaction,
    compose,
    prepare,
)
from ..client._message import read_message
from ..protocol import Limits, mailbox_problem
from ._exits import EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE, exit_code
from ._options import connection_options, make_client

# The engine's own limits, as the client's session holds MAIL and RCPT to them.
_LIMITS = Limits()

# The options that build a message, which --message does not.
_COMPOSING = {
    "subject": "--subject",
    "body": "--body",
    "body_file": "--body-file",
    "html_file": "--html-file",
    "attach": "--attach",
    "header": "--header",
}


def _header(value: str) -> tuple[str, str]:
    name, colon, text = value.partition(":")
    if not colon or not name.strip():
        raise click.BadParameter(f"{value!r}: expected 'Name: value'")
    return name.strip(), text.strip()


@click.command()
@click.option("--server", required=True, metavar="HOST[:PORT]", help="The SMTP server.")
@click.option("--from", "sender", metavar="ADDR", help="Envelope sender and From header.")
@click.option("--to", multiple=True, metavar="ADDR", help="A recipient (To); repeatable.")
@click.option("--cc", multiple=True, metavar="ADDR", help="A recipient (Cc); repeatable.")
@click.option("--bcc", multiple=True, metavar="ADDR", help="A hidden recipient; repeatable.")
@click.option("--subject", help="The Subject header.")
@click.option("--body", help="The text body.")
@click.option("--body-file", type=click.Path(dir_okay=False), help="Read the text body here.")
@click.option("--html-file", type=click.Path(dir_okay=False), help="An HTML body.")
@click.option("--attach", multiple=True, type=click.Path(dir_okay=False), help="Attach a file.")
@click.option("--header", multiple=True, metavar="'Name: value'", help="An extra header.")
@click.option(
    "--message",
    "message_file",
    type=click.Path(dir_okay=False),
    help="Send this .eml file as it is (the envelope from its headers unless given).",
)
@click.option("--notify", metavar="WHEN", help="DSN: NEVER, or SUCCESS,FAILURE,DELAY.")
@click.option("--ret", type=click.Choice(["FULL", "HDRS"], case_sensitive=False), help="DSN.")
@click.option("--envid", metavar="ID", help="DSN: an envelope id to be returned in reports.")
@click.option("-v", "--transcript", is_flag=True, help="Show the whole dialogue.")
@connection_options
def send(**options: Any) -> None:
    """Send one message and print one line per recipient."""
    client = make_client(options["server"], options)
    try:
        message, sender, recipients = _message(options)
        submission = prepared(message, sender, recipients, options)
    except MessageError as error:
        click.echo(f"smtpx send: {error}", err=True)
        raise SystemExit(exit_code(error)) from None
    raise SystemExit(deliver(client, submission, options["transcript"], "smtpx send"))


def _message(options: dict[str, Any]) -> tuple[Message, str | None, list[str] | None]:
    recipients = [*options["to"], *options["cc"], *options["bcc"]]
    if options["message_file"]:
        # The file is sent as it is: an option that would change it is a mistake,
        # not something to drop in silence.
        for name, option in _COMPOSING.items():
            if options[name] not in (None, ()):
                raise click.UsageError(f"--message sends the file as it is: drop {option}")
        message = read_message(options["message_file"])
        return message, options["sender"], recipients or None
    if not options["sender"]:
        raise click.UsageError("--from is required unless --message is given")
    if not recipients:
        raise click.UsageError("give at least one --to, --cc or --bcc")
    if options["body"] is not None and options["body_file"]:
        raise click.UsageError("give --body or --body-file, not both")
    text = options["body"]
    if options["body_file"]:
        text = _read_text(options["body_file"])
    html = _read_text(options["html_file"]) if options["html_file"] else None
    message = compose(
        sender=options["sender"],
        to=options["to"],
        cc=options["cc"],
        bcc=options["bcc"],
        subject=options["subject"] or "",
        text=text if text is not None or html is not None else "",
        html=html,
        attachments=options["attach"],
        headers=[_header(value) for value in options["header"]],
    )
    return message, None, None


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        raise MissingInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MessageError(f"{path}: cannot read it as UTF-8 text: {error}") from None


def prepared(
    message: Message, sender: str | None, recipients: list[str] | None, options: dict[str, Any]
) -> Transaction:
    """The message checked before connecting (a bad one costs the server nothing),
    with the DSN requests of --notify/--ret/--envid (sendmail's -N/-R/-V)."""
    notify = options["notify"]
    submission = prepare(
        message,
        sender,
        recipients,
        ret=options["ret"],
        envid=options["envid"],
        notify=notify.split(",") if notify else None,
    )
    # The null sender and a bare postmaster have nothing to be too long or malformed.
    _check_path("sender", submission.sender)
    for recipient in submission.recipients:
        _check_path("recipient", recipient)
    return submission


def _check_path(role: str, address: str) -> None:
    """Refuse now an address the engine would refuse to write in MAIL or RCPT:
    prepare() matched it to RFC 5321's grammar; the engine also holds it to the
    sizes of §4.5.3.1 and the address literals of §4.1.3. Refused once connected,
    it would end the session (75) where the input is at fault (65)."""
    problem = mailbox_problem(address, _LIMITS)
    if problem is not None:
        raise MessageError(f"the {role} address {_shortened(address)}: {problem}")


def _shortened(text: str, limit: int = 60) -> str:
    """``text`` quoted for a one-line message, cut short if long."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def deliver(client: Client, submission: Transaction, transcript: bool, command: str) -> int:
    """Send a prepared message; print the outcome; the exit code (sysexits.h)."""
    result: SendResult | None = None
    failure: SMTPError | None = None
    try:
        with client:
            result = client.send_message(submission)
    except SMTPError as error:
        failure = error
        result = getattr(error, "result", None)
    if transcript:
        for line in client.transcript:
            click.echo(line)
    if result is not None:
        _report(result)
    if failure is not None:
        click.echo(f"{command}: {failure}", err=True)
        return exit_code(failure)
    assert result is not None
    if result.refused:
        total = len(result.refused) + len(result.accepted)
        click.echo(f"{command}: {len(result.refused)} of {total} recipients refused", err=True)
        transient = any(reply.is_transient for reply in result.refused.values())
        return EX_TEMPFAIL if transient else EX_UNAVAILABLE
    return EX_OK


def _report(result: SendResult) -> None:
    for address, reply in result.accepted.items():
        click.echo(f"accepted  {address}  {reply}")
    for address, reply in result.refused.items():
        click.echo(f"refused   {address}  {reply}")
    if result.reply is not None and result.accepted:
        click.echo(f"message   {result.reply}")
