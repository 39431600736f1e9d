"""`smtpx serve --relay`: the options of the relay, and the RelayConfig they make."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from ..client import TLSMode
from ..protocol import is_mailbox
from ._options import has_control, password, tls_context

if TYPE_CHECKING:  # the relay (and dnspython) is imported only by `smtpx serve --relay`
    from ..relay import RelayConfig, RelayHost

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
# The longest duration any option takes: ten years. Far beyond any real retry wait,
# queue lifetime (RFC 5321 §4.5.4.1 speaks of 4-5 days) or retention, and small
# enough that now + it is a date every consumer handles (datetime stops at year
# 9999: `smtpx queue list` overflowed on a 10^26-day --retry). relay/_config.py's
# Schedule holds itself to the same bound, LONGEST_WAIT.
MAX_DURATION_DAYS = 3650
MAX_DURATION = MAX_DURATION_DAYS * 86400.0
# The shortest --dns-timeout: as the shortest --idle-timeout. Zero cannot work (every
# lookup would fail at once, every message deferred), so it is refused, not replaced.
MIN_DNS_TIMEOUT = 0.1


def duration(value: str, what: str) -> float:
    """``90``, ``90s``, ``5m``, ``4h``, ``5d`` in seconds, at most MAX_DURATION."""
    match = _DURATION.fullmatch(value.strip().lower())
    if match is None:
        raise click.BadParameter(
            f"{value!r}: give a duration such as 30s, 5m, 4h or 5d", param_hint=what
        )
    seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds > MAX_DURATION:
        raise click.BadParameter(
            f"{value!r}: give at most {MAX_DURATION_DAYS}d (ten years)", param_hint=what
        )
    return seconds


class RelayOption(click.Option):
    """An option that means something only with ``--relay`` (see :func:`relay_only_given`)."""


def relay_only_given(ctx: click.Context) -> str | None:
    """The first relay option given on the command line (as ``--name``), if any."""
    for param in ctx.command.params:
        if isinstance(param, RelayOption) and param.name is not None:
            source = ctx.get_parameter_source(param.name)
            if source not in (None, ParameterSource.DEFAULT):
                return param.opts[0]
    return None


def check_domain(domain: str, what: str) -> str:
    """``domain``, lower-cased, if it is one an address can have (RFC 5321 §4.1.2)."""
    if not is_mailbox(f"postmaster@{domain}"):
        raise click.BadParameter(f"{domain!r}: give a domain such as example.org", param_hint=what)
    return domain.lower()


def _relay_option(*names: str, **settings: Any) -> Callable[[F], F]:
    """An option of the relay: given without --relay, a usage error (relay_only_given)."""
    return click.option(*names, cls=RelayOption, **settings)


def relay_options(function: F) -> F:
    """Every ``--relay*`` option of ``smtpx serve``."""
    decorators = [
        click.option(
            "--relay", is_flag=True, help="Send mail for other domains on (store and forward)."
        ),
        # Every option below means nothing without --relay: RelayOption marks them.
        _relay_option(
            "--relay-domain",
            multiple=True,
            metavar="DOMAIN",
            help="Anyone may send mail for DOMAIN through us, to be relayed.",
        ),
        _relay_option(
            "--route",
            multiple=True,
            metavar="DOMAIN=HOST:PORT",
            help="Mail for DOMAIN goes to HOST:PORT (.DOMAIN: its subdomains).",
        ),
        _relay_option(
            "--relay-host",
            metavar="HOST:PORT",
            help="Send every other message through this smarthost.",
        ),
        _relay_option(
            "--relay-host-tls",
            type=click.Choice([mode.value for mode in TLSMode]),
            help="TLS to the relay host [starttls with --relay-user, else auto].",
        ),
        _relay_option("--relay-user", help="AUTH user name at the relay host."),
        _relay_option(
            "--relay-password-env", metavar="VAR", help="The relay host password from $VAR."
        ),
        _relay_option(
            "--relay-password-file",
            type=click.Path(dir_okay=False),
            help="The relay host password from the first line of this file.",
        ),
        _relay_option(
            "--require-tls",
            multiple=True,
            metavar="DOMAIN",
            help="Mail for DOMAIN only over TLS with a verified certificate.",
        ),
        _relay_option(
            "--relay-ca-file",
            type=click.Path(exists=True, dir_okay=False),
            help="CA (PEM) for verified TLS, instead of the system's.",
        ),
        _relay_option(
            "--retry",
            default="1m,5m,15m,30m,1h,2h",
            show_default=True,
            metavar="LIST",
            help="Waits between attempts; the last repeats.",
        ),
        _relay_option(
            "--max-lifetime", default="5d", show_default=True, help="Give up after this long."
        ),
        _relay_option(
            "--delay-warning",
            default="4h",
            show_default=True,
            help="Warn the sender after this long (0: never).",
        ),
        _relay_option(
            "--max-received",
            type=click.IntRange(min=1),
            default=50,
            show_default=True,
            help="More Received headers: a loop (554 5.4.6).",
        ),
        _relay_option(
            "--per-destination",
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            help="Connections to one destination at once.",
        ),
        _relay_option(
            "--max-deliveries",
            type=click.IntRange(min=1),
            default=100,
            show_default=True,
            help="Deliveries at once, in all.",
        ),
        _relay_option(
            "--dns-server",
            multiple=True,
            metavar="HOST:PORT",
            help="Ask this DNS server for MX records [/etc/resolv.conf].",
        ),
        _relay_option(
            "--dns-timeout",
            default="5s",
            show_default=True,
            help="How long one DNS lookup may take.",
        ),
        _relay_option(
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
    dns_timeout = duration(options["dns_timeout"], "--dns-timeout")
    if dns_timeout < MIN_DNS_TIMEOUT:
        raise click.BadParameter(
            f"{options['dns_timeout']!r}: give at least {MIN_DNS_TIMEOUT}s",
            param_hint="--dns-timeout",
        )
    tls_required = frozenset(
        check_domain(domain, "--require-tls") for domain in options["require_tls"]
    )
    if options["relay_ca_file"]:
        tls_context(options["relay_ca_file"], "--relay-ca-file")
    return RelayConfig(
        hostname=hostname,
        routes=routes,
        relay_host=relay_host,
        tls_required=tls_required,
        ca_file=options["relay_ca_file"],
        schedule=schedule,
        local_names=local_names,
        nameservers=[(server.host, server.port) for server in nameservers] or None,
        smtp_port=options["mx_port"],
        dns_timeout=dns_timeout,
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
    if user is not None and has_control(user):
        raise click.BadParameter("no control characters", param_hint="--relay-user")
    # A password goes only to a host whose certificate was checked.
    tls = TLSMode(options["relay_host_tls"] or ("starttls" if user else "auto"))
    if user and tls in (TLSMode.AUTO, TLSMode.NONE):
        raise click.UsageError("--relay-user needs --relay-host-tls starttls or implicit")
    default_port = 465 if tls is TLSMode.IMPLICIT else 25
    return RelayHost(parse_host(spec, default_port), tls, user, secret)
