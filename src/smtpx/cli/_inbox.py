"""`smtpx serve`'s inbox options: the web UI and API, release, inboxes, retention."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..client import TLSMode
from ..server import AuthFileError, InboxRule, InboxRuleError, Users
from ._exits import EX_CONFIG
from ._options import has_control, parse_server, password, tls_context
from ._relay import duration

if TYPE_CHECKING:  # the web stack is imported only when the inbox is served
    from ..web import InboxConfig, ReleaseTarget

F = TypeVar("F", bound=Callable[..., Any])

HTTP_DEFAULT = "127.0.0.1:8025"
# A catch-all inbox keeps this many messages unless told otherwise; a server
# with --domain or --relay is a mail server, which prunes nothing by default.
CATCH_ALL_KEEPS = 5000


@dataclass(frozen=True, slots=True)
class Retention:
    max_messages: int | None
    max_age: float | None


def inbox_options(function: F) -> F:
    decorators = [
        click.option("--http", default=HTTP_DEFAULT, show_default=True, metavar="HOST:PORT",
                     help="Serve the inbox (web UI and JSON API) here."),
        click.option("--no-http", is_flag=True, help="No web UI or API."),
        click.option("--http-auth-file", type=click.Path(dir_okay=False),
                     help="Basic auth for the inbox: a users file (smtpx passwd)."),
        click.option("--http-tls-cert", type=click.Path(dir_okay=False), help="HTTPS certificate."),
        click.option("--http-tls-key", type=click.Path(dir_okay=False), help="HTTPS key."),
        click.option("--inbox", "inbox_rules", multiple=True, metavar="NAME=RULE",
                     help="Tag mail with an inbox: NAME=*@signup.test or NAME=auth:USER."),
        click.option("--max-messages", type=click.IntRange(min=0),
                     help=f"Keep at most this many (0: no limit) [{CATCH_ALL_KEEPS} catch-all]."),
        click.option("--max-age", metavar="DURATION", help="Delete mail older than this (7d)."),
        click.option("--release-to", metavar="HOST:PORT",
                     help="Where the inbox's Release sends a stored message."),
        click.option("--release-tls", type=click.Choice([m.value for m in TLSMode]),
                     default="auto", show_default=True),
        click.option("--release-insecure", is_flag=True, help="Do not verify its certificate."),
        click.option("--release-ca-file", type=click.Path(exists=True, dir_okay=False)),
        click.option("--release-user", help="AUTH user at the release server."),
        click.option("--release-password-env", metavar="VAR"),
        click.option("--release-password-file", type=click.Path(dir_okay=False)),
        click.option("--release-allow", multiple=True, metavar="PATTERN",
                     help="Recipients Release may send to (e.g. *@example.com) [all]."),
    ]  # fmt: skip
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def http_address(options: dict[str, Any]) -> tuple[str, int] | None:
    if options["no_http"] or options["sink"]:
        return None
    host, port = parse_server(options["http"])
    if port is None:
        raise click.BadParameter(f"{options['http']!r}: give HOST:PORT", param_hint="--http")
    if bool(options["http_tls_cert"]) != bool(options["http_tls_key"]):
        raise click.UsageError("give both --http-tls-cert and --http-tls-key")
    if options["http_tls_cert"]:
        # Loaded now, so a bad one stops the start before anything listens.
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(options["http_tls_cert"], options["http_tls_key"])
        except (OSError, ssl.SSLError) as error:
            cert = options["http_tls_cert"]
            click.echo(f"smtpx serve: cannot load the HTTPS certificate {cert}: {error}", err=True)
            raise SystemExit(EX_CONFIG) from None
    return host, port


def inbox_config(options: dict[str, Any]) -> InboxConfig:
    from ..web import InboxConfig  # noqa: PLC0415 - see TYPE_CHECKING above

    users = None
    if options["http_auth_file"]:
        try:
            users = Users.load(options["http_auth_file"])
        except AuthFileError as error:
            click.echo(f"smtpx serve: {error}", err=True)
            raise SystemExit(EX_CONFIG) from None
    names = tuple(dict.fromkeys(rule.name for rule in inbox_rules(options)))
    return InboxConfig(inboxes=names, users=users, release=_release(options))


def inbox_rules(options: dict[str, Any]) -> list[InboxRule]:
    for text in options["inbox_rules"]:
        # An inbox's name is stored, shown and sent in JSON and headers: one line.
        if has_control(text):
            raise click.BadParameter(f"{text!r}: no control characters", param_hint="--inbox")
    try:
        return [InboxRule.parse(text) for text in options["inbox_rules"]]
    except InboxRuleError as error:
        raise click.BadParameter(str(error), param_hint="--inbox") from None


def retention(options: dict[str, Any]) -> Retention:
    catch_all = not options["domain"] and not options["relay"]
    limit = options["max_messages"]
    if limit is None:
        limit = CATCH_ALL_KEEPS if catch_all else 0
    age = duration(options["max_age"], "--max-age") if options["max_age"] else None
    return Retention(limit or None, age or None)


def _release(options: dict[str, Any]) -> ReleaseTarget | None:
    if not options["release_to"]:
        return None
    host, port = parse_server(options["release_to"])
    secret = password(options["release_password_env"], options["release_password_file"])
    if bool(options["release_user"]) != (secret is not None):
        raise click.UsageError("give --release-user with --release-password-env or -file")
    if options["release_user"] and has_control(options["release_user"]):
        raise click.BadParameter("no control characters", param_hint="--release-user")
    if options["release_ca_file"]:
        tls_context(options["release_ca_file"], "--release-ca-file")
    tls = TLSMode(options["release_tls"])
    from ..web import ReleaseTarget  # noqa: PLC0415 - see TYPE_CHECKING above

    return ReleaseTarget(
        host,
        port or (465 if tls is TLSMode.IMPLICIT else 25),
        allow=tuple(options["release_allow"]) or ("*",),
        tls=tls,
        verify=not options["release_insecure"],
        ca_file=options["release_ca_file"],
        username=options["release_user"],
        password=secret,
    )
