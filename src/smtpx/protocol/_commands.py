"""Command lines: reading them (server) and writing them (client).

Theory of operation: a command line is a verb, then an argument, ended by CRLF
(RFC 5321 §4.1.1). Verbs are case-insensitive. ``read_command`` turns one line
(without its CRLF) into an event, raising Refused with the reply a server gives
for a recoverable mistake; ``write_command`` turns an event back into a line,
refusing (LocalProtocolError) any argument that could smuggle a second command.
Both sides share the address and parameter rules of ``_address``/``_params``,
so what one role writes the other reads back equal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import _ascii
from ._address import NEEDS_SMTPUTF8, parse_path
from ._errors import LocalProtocolError, Refused
from ._events import (
    Auth,
    Bdat,
    Command,
    Data,
    Ehlo,
    Expn,
    Helo,
    Help,
    MailFrom,
    Noop,
    Quit,
    RcptTo,
    Reply,
    Rset,
    StartTls,
    Vrfy,
)
from ._extensions import Extensions
from ._limits import Limits
from ._params import mail_params, parse_mail_params, parse_rcpt_params, rcpt_params

UNRECOGNIZED = Reply(500, "5.5.2", "Command unrecognized")
UNKNOWN_MECHANISM = Reply(504, "5.5.4", "Unrecognized authentication type")  # RFC 4954 §4
# RFC 4422 §3.1: a SASL mechanism name is 1-20 of A-Z 0-9 - _.
_MECHANISM = re.compile(r"[A-Za-z0-9_-]{1,20}\Z")
# RFC 4954 §4: the initial response is base64, or "=" for an empty one.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z|=\Z")
_CONTROL = re.compile(r"[\r\n\0]")
_BDAT = re.compile(r"([0-9]{1,20})(?: +(LAST))? *\Z", re.IGNORECASE | re.ASCII)


class Context:
    """What the reader needs to know about the session."""

    __slots__ = ("extensions", "limits", "smtputf8")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.extensions = Extensions()
        # The current transaction's MAIL carried SMTPUTF8 (RFC 6531 §3.4).
        self.smtputf8 = False


def _syntax(usage: str) -> Refused:
    return Refused(Reply(501, "5.5.4", f"Syntax: {usage}"))


def _no_argument(verb: str, event: Command) -> Callable[[str, Context], Command]:
    def read(argument: str, ctx: Context) -> Command:
        if argument.strip():
            raise _syntax(verb)
        return event

    return read


def _hello(cls: type[Ehlo] | type[Helo]) -> Callable[[str, Context], Command]:
    def read(argument: str, ctx: Context) -> Command:
        domain = argument.strip(" ")
        if not domain or " " in domain:
            raise _syntax(f"{cls.verb} hostname")
        return cls(domain)

    return read


def _mail(argument: str, ctx: Context) -> Command:
    if _ascii.upper(argument[:5]) != "FROM:":
        raise _syntax("MAIL FROM:<address>")
    mailbox, params = parse_path(argument[5:].lstrip(" "), ctx.limits, sender=True)
    if not params:
        if not mailbox.isascii():
            raise Refused(NEEDS_SMTPUTF8)
        return MailFrom(mailbox)
    fields = parse_mail_params(params, ctx.extensions, ctx.limits)
    if not mailbox.isascii() and "smtputf8" not in fields:
        raise Refused(NEEDS_SMTPUTF8)
    return MailFrom(mailbox, **fields)


def _rcpt(argument: str, ctx: Context) -> Command:
    if _ascii.upper(argument[:3]) != "TO:":
        raise _syntax("RCPT TO:<address>")
    mailbox, params = parse_path(argument[3:].lstrip(" "), ctx.limits, sender=False)
    if not mailbox.isascii() and not ctx.smtputf8:
        raise Refused(NEEDS_SMTPUTF8)
    if not params:
        return RcptTo(mailbox)
    return RcptTo(mailbox, **parse_rcpt_params(params, ctx.extensions))


def _bdat(argument: str, ctx: Context) -> Command:
    match = _BDAT.match(argument.lstrip(" "))
    if match is None:
        # The caller cannot know where the chunk ends: this one is fatal.
        raise _syntax("BDAT size [LAST]")
    return Bdat(int(match.group(1)), match.group(2) is not None)


def _auth(argument: str, ctx: Context) -> Command:
    words = argument.split()
    if not 1 <= len(words) <= 2 or _MECHANISM.match(words[0]) is None:
        raise _syntax("AUTH mechanism [initial-response]")
    if len(words) == 2 and not is_base64(words[1]):
        raise Refused(Reply(501, "5.5.2", "Initial response is not base64"))
    mechanism = words[0].upper()
    if mechanism not in (ctx.extensions.auth or ()):
        raise Refused(UNKNOWN_MECHANISM)
    return Auth(mechanism, words[1] if len(words) == 2 else None)


def is_base64(text: str) -> bool:
    return _BASE64.match(text) is not None


def _needs_argument(cls: type[Vrfy] | type[Expn]) -> Callable[[str, Context], Command]:
    def read(argument: str, ctx: Context) -> Command:
        if not argument.strip():
            raise _syntax(f"{cls.verb} string")
        return cls(argument.strip())

    return read


READERS: dict[str, Callable[[str, Context], Command]] = {
    "EHLO": _hello(Ehlo),
    "HELO": _hello(Helo),
    "MAIL": _mail,
    "RCPT": _rcpt,
    "DATA": _no_argument("DATA", Data()),
    "BDAT": _bdat,
    "RSET": _no_argument("RSET", Rset()),
    "QUIT": _no_argument("QUIT", Quit()),
    "STARTTLS": _no_argument("STARTTLS", StartTls()),
    "NOOP": lambda argument, ctx: Noop(argument.strip()),
    "HELP": lambda argument, ctx: Help(argument.strip()),
    "VRFY": _needs_argument(Vrfy),
    "EXPN": _needs_argument(Expn),
    "AUTH": _auth,
}


# --- writing -------------------------------------------------------------------


def _line(*words: str) -> bytes:
    return _encoded(" ".join(w for w in words if w) + "\r\n")


def _write_path(event: MailFrom | RcptTo, ctx: Context) -> bytes:
    """MAIL or RCPT, checked with the server's own rules before it is written."""
    sender = isinstance(event, MailFrom)
    path = event.reverse_path if isinstance(event, MailFrom) else event.forward_path
    words = mail_params(event) if isinstance(event, MailFrom) else rcpt_params(event)
    try:
        mailbox, rest = parse_path(f"<{path}>", ctx.limits, sender=sender)
        if rest:  # a ">" inside the address
            raise Refused(Reply(501, "5.1.3", "Bad address syntax"))
        params = " ".join(words)
        if isinstance(event, MailFrom):
            fields = parse_mail_params(params, ctx.extensions, ctx.limits) if words else {}
            smtputf8 = "smtputf8" in fields
        else:
            if words:
                parse_rcpt_params(params, ctx.extensions)
            smtputf8 = ctx.smtputf8
        if not smtputf8 and not mailbox.isascii():
            raise Refused(NEEDS_SMTPUTF8)
    except Refused as refused:
        raise LocalProtocolError(f"{event.verb} refused before sending: {refused}") from None
    head = "MAIL FROM:<" if sender else "RCPT TO:<"
    line = f"{head}{path}> {params}\r\n" if words else f"{head}{path}>\r\n"
    return _encoded(line)


def _encoded(line: str) -> bytes:
    """The line as UTF-8, refusing a CR, LF or NUL before its end: each would
    end the command early or hide a second one (command injection)."""
    if _CONTROL.search(line, 0, len(line) - 2) is not None:
        raise LocalProtocolError(f"CR, LF or NUL in command argument: {line!r}")
    return line.encode("utf-8")


def _write_hello(event: Ehlo | Helo, ctx: Context) -> bytes:
    if not event.domain or " " in event.domain:
        raise LocalProtocolError(f"{event.verb} needs one hostname, got {event.domain!r}")
    return _line(event.verb, event.domain)


def _write_bdat(event: Bdat, ctx: Context) -> bytes:
    if event.size < 0:
        raise LocalProtocolError("BDAT size must not be negative")
    return _line("BDAT", str(event.size), "LAST" if event.last else "")


def _write_auth(event: Auth, ctx: Context) -> bytes:
    try:
        _auth(f"{event.mechanism} {event.initial_response or ''}", ctx)
    except Refused as refused:
        raise LocalProtocolError(f"AUTH refused before sending: {refused}") from None
    return _line("AUTH", event.mechanism, event.initial_response or "")


def _write_argument(event: Vrfy | Expn | Noop | Help, ctx: Context) -> bytes:
    if isinstance(event, Vrfy | Expn) and not event.argument.strip():
        raise LocalProtocolError(f"{event.verb} needs an argument")
    return _line(event.verb, event.argument)


def _write_verb(event: Command, ctx: Context) -> bytes:
    return _line(event.verb)


_WRITERS: dict[str, Callable[[Any, Context], bytes]] = {
    "MAIL": _write_path,
    "RCPT": _write_path,
    "EHLO": _write_hello,
    "HELO": _write_hello,
    "BDAT": _write_bdat,
    "AUTH": _write_auth,
    "VRFY": _write_argument,
    "EXPN": _write_argument,
    "NOOP": _write_argument,
    "HELP": _write_argument,
}


def write_command(event: Command, ctx: Context) -> bytes:
    """The wire form of ``event``, validated (LocalProtocolError on bad input)."""
    return _WRITERS.get(event.verb, _write_verb)(event, ctx)
