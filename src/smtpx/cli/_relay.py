"""`smtpx serve --relay`: the options of the relay, and the RelayConfig they make."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..client import TLSMode
from ._options import password

if TYPE_CHECKING:  # the relay (and dnspython) is imported only by `smtpx serve --relay`
    from ..relay import RelayConfig, RelayHost

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")


def duration(value: str, what: str) -> float:
    """``90``, ``90s``, ``5m``, ``4h``, ``5d`` in seconds."""
    match = _DURATION.fullmatch(value.strip().lower())
    if match is None:
        raise click.BadParameter(
            f"{value!r}: give a duration such as 30s, 5m, 4h or 5d", param_hint=what
        )
    return float(match[1]) * _UNITS[match[2] or "s"]


def relay_options(function: F) -> F:
    """Every ``--relay*`` option of ``smtpx serve``."""
    decorators = [
        click.option(
            "--relay", is_flag=True, help="Send mail for other domains on (store and forward)."
        ),
        click.option(
            "--relay-domain",
            multiple=True,
            metavar="DOMAIN",
            help="Anyone may send mail for DOMAIN through us, to be relayed.",
        ),
        click.option(
            "--route",
            multiple=True,
            metavar="DOMAIN=HOST:PORT",
            help="Mail for DOMAIN goes to HOST:PORT (.DOMAIN: its subdomains).",
        ),
        click.option(
            "--relay-host",
            metavar="HOST:PORT",
            help="Send every other message through this smarthost.",
        ),
        click.option(
            "--relay-host-tls",
            type=click.Choice([mode.value for mode in TLSMode]),
            help="TLS to the relay host [starttls with --relay-user, else auto].",
        ),
        click.option("--relay-user", help="AUTH user name at the relay host."),
        click.option(
            "--relay-password-env", metavar="VAR", help="The relay host password from $VAR."
        ),
        click.option(
            "--relay-password-file",
            type=click.Path(dir_okay=False),
            help="The relay host password from the first line of this file.",
        ),
        click.option(
            "--require-tls",
            multiple=True,
            metavar="DOMAIN",
            help="Mail for DOMAIN only over TLS with a verified certificate.",
        ),
        click.option(
            "--relay-ca-file",
            type=click.Path(exists=True, dir_okay=False),
            help="CA (PEM) for verified TLS, instead of the system's.",
        ),
        click.option(
            "--retry",
            default="1m,5m,15m,30m,1h,2h",
            show_default=True,
            metavar="LIST",
            help="Waits between attempts; the last repeats.",
        ),
        click.option(
            "--max-lifetime", default="5d", show_default=True, help="Give up after this long."
        ),
        click.option(
            "--delay-warning",
            default="4h",
            show_default=True,
            help="Warn the sender after this long (0: never).",
        ),
        click.option(
            "--max-received",
            type=click.IntRange(min=1),
            default=50,
            show_default=True,
            help="More Received headers: a loop (554 5.4.6).",
        ),
        click.option(
            "--per-destination",
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            help="Connections to one destination at once.",
        ),
        click.option(
            "--max-deliveries",
            type=click.IntRange(min=1),
            default=100,
            show_default=True,
            help="Deliveries at once, in all.",
        ),
        click.option(
            "--dns-server",
            multiple=True,
            metavar="HOST:PORT",
            help="Ask this DNS server for MX records [/etc/resolv.conf].",
        ),
        click.option(
            "--dns-timeout",
            default="5s",
            show_default=True,
            help="How long one DNS lookup may take.",
        ),
        click.option(
            "--mx-port",
            type=click.IntRange(1, 65535),
            default=25,
            show_default=True,
            help="The port of MX hosts.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


# Options that mean nothing without --relay.
RELAY_ONLY = ("route", "relay_host", "relay_domain", "require_tls", "dns_server", "relay_user")


def relay_config(
    options: dict[str, Any], hostname: str, local_names: frozenset[str]
) -> RelayConfig:
    """The RelayConfig the options describe; a malformed one is a usage error."""
    from ..relay import RelayConfig, RouteError, Schedule, parse_host, parse_route  # noqa: PLC0415

    try:
        routes = dict(parse_route(spec) for spec in options["route"])
        relay_host = _relay_host(options)
        nameservers = [parse_host(spec, 53) for spec in options["dns_server"]]
    except RouteError as error:
        raise click.UsageError(str(error)) from None
    for server in nameservers:
        if not server.is_address:  # a resolver is asked by address, never by name
            raise click.BadParameter(
                f"{server.host!r}: give an IP address", param_hint="--dns-server"
            )
    intervals = [
        duration(value, "--retry") for value in options["retry"].split(",") if value.strip()
    ]
    if not intervals or min(intervals) < 1:
        raise click.BadParameter("give waits of at least 1s", param_hint="--retry")
    warning = duration(options["delay_warning"], "--delay-warning")
    schedule = Schedule(
        intervals=tuple(intervals[:-1]),
        then=intervals[-1],
        lifetime=duration(options["max_lifetime"], "--max-lifetime"),
        delay_warning=warning or None,
    )
    return RelayConfig(
        hostname=hostname,
        routes=routes,
        relay_host=relay_host,
        tls_required=frozenset(domain.lower() for domain in options["require_tls"]),
        ca_file=options["relay_ca_file"],
        schedule=schedule,
        local_names=local_names,
        nameservers=[(server.host, server.port) for server in nameservers] or None,
        smtp_port=options["mx_port"],
        dns_timeout=duration(options["dns_timeout"], "--dns-timeout") or 5.0,
        per_destination=options["per_destination"],
        concurrency=options["max_deliveries"],
        max_received=options["max_received"],
    )


def _relay_host(options: dict[str, Any]) -> RelayHost | None:
    from ..relay import RelayHost, parse_host  # noqa: PLC0415 - see TYPE_CHECKING above

    spec = options["relay_host"]
    secret = password(options["relay_password_env"], options["relay_password_file"])
    user = options["relay_user"]
    if spec is None:
        if user or secret or options["relay_host_tls"]:
            raise click.UsageError(
                "--relay-user, --relay-password-* and --relay-host-tls need --relay-host"
            )
        return None
    if (user is None) != (secret is None):
        raise click.UsageError(
            "give --relay-user with --relay-password-env or --relay-password-file"
        )
    # A password goes only to a host whose certificate was checked.
    tls = TLSMode(options["relay_host_tls"] or ("starttls" if user else "auto"))
    if user and tls in (TLSMode.AUTO, TLSMode.NONE):
        raise click.UsageError("--relay-user needs --relay-host-tls starttls or implicit")
    default_port = 465 if tls is TLSMode.IMPLICIT else 25
    return RelayHost(parse_host(spec, default_port), tls, user, secret)
