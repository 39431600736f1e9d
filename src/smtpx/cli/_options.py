"""Options shared by `smtpx send`, `probe` and `sendmail`: where, how, as whom."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..client import Client, TLSMode

F = TypeVar("F", bound=Callable[..., Any])


def parse_server(value: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise click.BadParameter(f"{value!r}: expected [IPv6]:PORT")
        port = rest[1:] or None
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, None
    if not host:
        raise click.BadParameter(f"{value!r}: no host name")
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        raise click.BadParameter(f"{value!r}: the port must be a number from 1 to 65535")
    return host, int(port) if port else None


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
        click.option("--auth-mechanism", metavar="NAME", help="PLAIN, LOGIN, CRAM-MD5 or XOAUTH2."),
        click.option(
            "--auth-without-tls",
            is_flag=True,
            help="Send credentials even without TLS (for test servers on loopback).",
        ),
        click.option("--helo", metavar="NAME", help="The name to give in EHLO/HELO."),
        click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds for each step."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def password(password_env: str | None, password_file: str | None) -> str | None:
    if password_env and password_file:
        raise click.UsageError("give --password-env or --password-file, not both")
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise click.UsageError(f"${password_env} is not set (from --password-env)")
        return value
    if password_file:
        try:
            return Path(password_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as error:
            raise click.UsageError(
                f"cannot read a password from {password_file}: {error}"
            ) from None
    return None


def make_client(server: str, options: dict[str, Any]) -> Client:
    """A Client for ``server`` from the command line's options (``connection_options``)."""
    tls = TLSMode(options["tls"])
    host, port = parse_server(server)
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
        verify=not options["insecure"],
        ca_file=options["ca_file"],
        timeout=options["timeout"],
        local_hostname=options["helo"],
        username=user,
        password=secret,
        auth_mechanism=options["auth_mechanism"],
        allow_auth_without_tls=options["auth_without_tls"],
    )
