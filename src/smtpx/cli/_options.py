"""Options shared by `smtpx send`, `probe` and `sendmail`: where, how, as whom.

Theory of operation: every option is checked before a connection is made, so a
mistake costs the server nothing and the user hears of it in one line. A mistake
on the command line itself is click's UsageError (EX_USAGE); a file or setting
the command reads that turns out wrong is an :class:`InputError`, whose
subclasses carry the sysexits code that fits it.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import ssl
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from ..client import Client, TLSMode, client_context
from ..client._auth import MECHANISMS
from ..protocol import ip_literal
from ._exits import EX_CONFIG, EX_DATAERR, EX_NOINPUT

F = TypeVar("F", bound=Callable[..., Any])

# RFC 1123 §2.1: a host name's labels are letters, digits and inner hyphens, at
# most 63 each (RFC 1035 §2.3.4). Underscores are let through, as resolvers do:
# container and Windows networks name hosts with them.
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
# RFC 1035 §2.3.4: 255 octets on the wire, 253 characters written out.
_MAX_NAME = 253
_MAX_PORT = 65535
# RFC 5321 §4.5.3.2's longest wait is 10 minutes; a day is past any server's
# patience, and far inside what a socket timeout can hold (1e12 overflows it).
_MAX_TIMEOUT = 86400.0


class InputError(click.ClickException):
    """A file or setting the command read is wrong: one line, ``smtpx <command>: ...``.

    Raised inside a command, it remembers the command's name, as click's own
    UsageError does; a subclass says which sysexits code it earns.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        context = click.get_current_context(silent=True)
        self.command = context.command_path if context is not None else "smtpx"

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{self.command}: {self.format_message()}", file=file, err=True)


class BadData(InputError):
    """What a file holds cannot be used (EX_DATAERR)."""

    exit_code = EX_DATAERR


class NoInput(InputError):
    """A file is not there, or cannot be read (EX_NOINPUT)."""

    exit_code = EX_NOINPUT


class BadConfig(InputError):
    """A configuration file, or a certificate, is wrong (EX_CONFIG)."""

    exit_code = EX_CONFIG


def parse_server(value: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[IPv6]`` or ``[IPv6]:port``; the port is None when
    not given. click.BadParameter says what is wrong with anything else.

    An IPv6 address takes brackets: in ``::1:25`` the last group could be a port.
    """
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket:
            raise click.BadParameter(f"{value!r}: no ']' to close the '['")
        if rest and not rest.startswith(":"):
            raise click.BadParameter(
                f"{value!r}: {rest!r} after ']' (a port goes after a colon: [::1]:25)"
            )
        port = rest[1:] if rest else None
    elif value.count(":") > 1:
        raise click.BadParameter(f"{value!r}: {_brackets_needed(value)}")
    else:
        host, colon, text = value.partition(":")
        port = text if colon else None
    if not host:
        raise click.BadParameter(f"{value!r}: no host name")
    if _is_ip(host) is None and not _is_host_name(host):
        raise click.BadParameter(f"{value!r}: {host!r} is not a host name or IP address")
    return host, None if port is None else _port(value, port)


def _brackets_needed(value: str) -> str:
    """What to say of an unbracketed value with several colons."""
    if _is_ip(value) is None:
        return "more than one ':' (give HOST:PORT, or [IPv6]:PORT)"
    head, _, tail = value.rpartition(":")
    if tail.isascii() and tail.isdigit() and _is_ip(head) is not None:
        return f"an IPv6 address goes in brackets: [{head}]:{tail}, or [{value}] without a port"
    return f"an IPv6 address goes in brackets: [{value}], or [{value}]:PORT"


def _port(value: str, text: str) -> int:
    """The port in ``value``: ASCII digits, 1 to 65535 (str.isdigit takes "²" and "٣")."""
    if not text:
        raise click.BadParameter(f"{value!r}: no port after the ':'")
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= _MAX_PORT):
        raise click.BadParameter(
            f"{value!r}: the port {text!r} is not a number from 1 to {_MAX_PORT}"
        )
    return int(text)


def _is_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_host_name(name: str) -> bool:
    """Dot-separated labels (U-labels are checked as their A-labels), a final dot allowed."""
    try:
        ascii_name = name.encode("idna").decode("ascii").removesuffix(".")
    except UnicodeError:  # an empty or over-long label
        return False
    return 0 < len(ascii_name) <= _MAX_NAME and all(
        _LABEL.match(label) for label in ascii_name.split(".")
    )


class Seconds(click.FloatRange):
    """A number of seconds: a FloatRange that also refuses NaN and infinity.

    FloatRange alone lets ``nan`` through (every comparison with it is false),
    and ``socket.settimeout`` then fails with a traceback, once connected.
    """

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not math.isfinite(click.FLOAT.convert(value, param, ctx)):
            self.fail(f"{value!r}: give a number of seconds", param, ctx)
        return super().convert(value, param, ctx)


def connection_options(function: F) -> F:
    """--tls, --insecure, --ca-file, --user, --password-env, --password-file, --helo, --timeout."""
    decorators = [
        click.option(
            "--tls",
            type=click.Choice([mode.value for mode in TLSMode]),
            default="auto",
            show_default=True,
            help="auto: STARTTLS when offered; starttls: required; implicit: TLS from the start.",
        ),
        click.option("--insecure", is_flag=True, help="Do not verify the server's certificate."),
        click.option(
            "--ca-file",
            type=click.Path(exists=True, dir_okay=False),
            help="Trust this CA (PEM) instead of the system's.",
        ),
        click.option("--user", help="AUTH user name."),
        click.option("--password-env", metavar="VAR", help="Read the password from $VAR."),
        click.option(
            "--password-file",
            type=click.Path(dir_okay=False),
            help="Read the password from the first line of this file.",
        ),
        click.option(
            "--auth-mechanism",
            type=click.Choice(list(MECHANISMS), case_sensitive=False),
            metavar="NAME",
            help="PLAIN, LOGIN, CRAM-MD5 or XOAUTH2 [the strongest offered].",
        ),
        click.option(
            "--auth-without-tls",
            is_flag=True,
            help="Send credentials even without TLS (for test servers on loopback).",
        ),
        click.option("--helo", metavar="NAME", help="The name to give in EHLO/HELO (ASCII)."),
        click.option(
            "--timeout",
            type=Seconds(min=0.1, max=_MAX_TIMEOUT),
            help="Seconds for each step.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def password(password_env: str | None, password_file: str | None) -> str | None:
    """The password from $VAR or a file's first line; None when neither is given."""
    if password_env and password_file:
        raise click.UsageError("give --password-env or --password-file, not both")
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise click.UsageError(f"${password_env} is not set (from --password-env)")
        if not value:
            raise click.UsageError(f"${password_env} is empty (from --password-env)")
        return value
    if password_file:
        return _first_line(password_file)
    return None


def _first_line(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NoInput(f"cannot read a password from {path}: no such file") from None
    except OSError as error:
        raise NoInput(f"cannot read a password from {path}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadData(f"{path} is not UTF-8 text, so it holds no password") from None
    # Lines end at LF (CRLF from Windows editors too), not at str.splitlines()'s
    # form feeds and Unicode separators, which a password may contain.
    line = text.partition("\n")[0].removesuffix("\r")
    if not line:
        raise BadData(f"{path}: the first line is empty; put the password there")
    return line


def _check_helo(name: str | None) -> str | None:
    """``name`` if EHLO can carry it: a host name or an address literal, in ASCII.

    RFC 5321 §4.1.1.1 and §2.3.5: a domain in EHLO is ASCII (A-labels); the
    name is refused rather than converted, so what is sent is what was typed.
    """
    if name is None:
        return None
    if not name.isascii():
        hint = ""
        if _is_host_name(name):
            hint = f" ({name.encode('idna').decode('ascii')})"
        raise click.BadParameter(
            f"{name!r} is not ASCII: give the name in IDNA A-labels{hint}", param_hint="--helo"
        )
    if ip_literal(name) is None and (
        name.startswith("[") or _is_ip(name) is not None or not _is_host_name(name)
    ):
        raise click.BadParameter(
            f"{name!r}: give one host name, such as mail.example.org, "
            "or an address literal, such as [192.0.2.1]",
            param_hint="--helo",
        )
    return name


def tls_context(
    ca_file: str | None, option: str = "--ca-file", *, verify: bool = True
) -> ssl.SSLContext:
    """A client TLS context, its CA file loaded now: a bad one is EX_CONFIG before
    connecting, or at the start of `smtpx serve` (not at every delivery)."""
    try:
        return client_context(verify=verify, ca_file=ca_file)
    except ssl.SSLError as error:
        reason = f"no CA certificate in it ({error.reason}): give PEM certificates"
    except OSError as error:
        reason = error.strerror or str(error)
    raise BadConfig(f"cannot load {option} {ca_file}: {reason}")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character other than tab (CR, LF, NUL, ESC,
    DEL, C1...): in a header or a command line each would break or forge a line."""
    return any(unicodedata.category(char) == "Cc" and char != "\t" for char in text)


def make_client(server: str, options: dict[str, Any]) -> Client:
    """A Client for ``server`` from the command line's options (``connection_options``)."""
    tls = TLSMode(options["tls"])
    host, port = parse_server(server)
    helo = _check_helo(options["helo"])
    secret = password(options["password_env"], options["password_file"])
    user = options["user"]
    if (user is None) != (secret is None):
        raise click.UsageError("--user needs --password-env or --password-file, and back")
    if user is not None and tls is TLSMode.NONE and not options["auth_without_tls"]:
        raise click.UsageError(
            "--tls none with --user would send the password in clear; "
            "add --auth-without-tls if that is really meant"
        )
    return Client(
        host,
        port,
        tls=tls,
        ssl_context=tls_context(options["ca_file"], verify=not options["insecure"]),
        timeout=options["timeout"],
        local_hostname=helo,
        username=user,
        password=secret,
        auth_mechanism=options["auth_mechanism"],
        allow_auth_without_tls=options["auth_without_tls"],
    )
