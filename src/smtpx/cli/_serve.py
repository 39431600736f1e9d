"""`smtpx serve`: the receiver, on the embedded SQLite store (or --sink)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import resource
import signal
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from ..client import host_port
from ..protocol import Limits, is_mailbox
from ..server import (
    AuthFileError,
    FaultError,
    FaultRule,
    Handler,
    InboxRule,
    Server,
    ServerConfig,
    SessionInfo,
    SinkHandler,
    StoringHandler,
    Users,
    inbox_for,
)
from ..store import SQLiteStore, StoreError
from ._exits import EX_CONFIG, EX_UNAVAILABLE
from ._inbox import Retention, http_address, inbox_config, inbox_options, inbox_rules, retention
from ._logging import setup_logging
from ._options import Seconds, parse_server
from ._relay import check_domain, relay_config, relay_only_given, relay_options

if TYPE_CHECKING:
    from ..relay import RelayConfig
    from ..web import InboxConfig

log = logging.getLogger("smtpx.server")
# Seconds between two rounds of retention.
PRUNE_EVERY = 10.0
# RFC 1123 §2.1 host names: labels of letters, digits and hyphens, neither first nor
# last a hyphen, 63 characters at most (RFC 1035 §2.3.4), 253 in all.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
MAX_HOST_NAME = 253


def is_host_name(name: str) -> bool:
    """A host name as the greeting and EHLO carry it (RFC 5321 §4.1.2 Domain).

    Its last label is not all digits (RFC 3696 §2: no top-level domain is), so a
    mistyped IPv4 address such as 999.1.1.1 is not taken for a name.
    """
    return (
        len(name) <= MAX_HOST_NAME
        and _HOST_NAME.fullmatch(name) is not None
        and not name.rpartition(".")[2].isdigit()
    )


def _address(value: str, option: str) -> tuple[str, int]:
    """HOST:PORT to listen on: an IP address, or a host name that resolves."""
    try:
        host, port = parse_server(value)
    except click.BadParameter as error:
        raise click.BadParameter(error.message, param_hint=option) from None
    if port is None:
        raise click.BadParameter(f"{value!r}: give HOST:PORT", param_hint=option)
    _listen_host(host, value, option)
    return host, port


def _listen_host(host: str, value: str, option: str) -> None:
    """Checked before anything listens: a bad address is the user's mistake (64)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return
    if not is_host_name(host):
        raise click.BadParameter(
            f"{value!r}: {host!r} is neither an IP address nor a host name", param_hint=option
        )
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise click.BadParameter(
            f"{value!r}: cannot resolve {host}: {reason}", param_hint=option
        ) from None


@dataclass(frozen=True, slots=True)
class _Inbox:
    """The inbox's options, read and checked before anything listens."""

    rules: list[InboxRule]
    keep: Retention
    address: tuple[str, int] | None  # None: no web UI or API
    config: InboxConfig | None  # set when address is


def _inbox(options: dict[str, Any]) -> _Inbox:
    rules = inbox_rules(options)
    keep = retention(options)
    address = http_address(options)
    if address is None:
        return _Inbox(rules, keep, None, None)
    _listen_host(address[0], options["http"], "--http")
    return _Inbox(rules, keep, address, inbox_config(options))


@click.command()
@click.option(
    "--listen", multiple=True, metavar="HOST:PORT", help="Where to listen [127.0.0.1:2525]."
)
@click.option(
    "--tls-listen", multiple=True, metavar="HOST:PORT", help="Listen with TLS from the start (465)."
)
@click.option("--data-dir", default="./smtpx-data", show_default=True, help="The store.")
@click.option("--domain", multiple=True, help="Take mail for this domain (default: any).")
@click.option("--trusted-network", multiple=True, metavar="CIDR", help="Clients that may relay.")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="Certificate chain (PEM).")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="Private key (PEM).")
@click.option(
    "--auth-file",
    type=click.Path(dir_okay=False),
    help="Users who may AUTH: name:secret lines (smtpx passwd writes them).",
)
@click.option(
    "--allow-insecure-auth", is_flag=True, help="Allow AUTH before TLS (passwords in clear)."
)
@click.option(
    "--mailbox",
    multiple=True,
    metavar="ADDRESS",
    help="A local mailbox: when given, VRFY and RCPT check local addresses against them.",
)
@click.option("--idle-timeout", type=Seconds(min=0.1), default=300.0, show_default=True)
@click.option("--command-timeout", type=Seconds(min=0.1), default=300.0, show_default=True)
@click.option("--max-size", type=click.IntRange(min=1), default=33_554_432, show_default=True)
@click.option("--max-recipients", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--max-connections", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--max-connections-per-client", type=click.IntRange(min=1), default=100, show_default=True
)
@click.option("--hostname", help="The name in the greeting and Received headers.")
@click.option("--sink", is_flag=True, help="Accept and discard every message (load tests).")
@click.option(
    "--fault",
    multiple=True,
    metavar="RULE",
    help="Inject a reply, e.g. 'RCPT 550 match=fail-550@*', 'MAIL 451 fraction=0.1 seed=7'.",
)
@click.option(
    "--event-loop",
    type=click.Choice(["auto", "uvloop", "asyncio"]),
    default="auto",
    show_default=True,
    help="auto: uvloop when installed.",
)
@relay_options
@inbox_options
def serve(**options: Any) -> None:
    """Receive mail and keep it (SQLite in --data-dir), until SIGTERM or Ctrl-C."""
    setup_logging()
    # Every option is read and checked here, before anything listens (_run).
    given = relay_only_given(click.get_current_context())
    if given and not options["relay"]:
        raise click.UsageError(f"{given} is for relaying: add --relay")
    config = _config(options)
    tls_listen = [_address(value, "--tls-listen") for value in options["tls_listen"]]
    listen = [_address(value, "--listen") for value in options["listen"]]
    if not listen and not tls_listen:
        listen = [("127.0.0.1", 2525)]
    if tls_listen and config.tls is None:
        raise click.UsageError("--tls-listen needs --tls-cert and --tls-key")
    if config.users is not None and config.tls is None and not config.allow_insecure_auth:
        # RFC 4954 §4: PLAIN and LOGIN send the password; without TLS no AUTH could succeed.
        raise click.UsageError("--auth-file needs --tls-cert/--tls-key, or --allow-insecure-auth")
    if options["relay"] and options["sink"]:
        raise click.UsageError("--relay keeps mail until it is sent on: not with --sink")
    relaying = None
    if options["relay"]:
        names = {config.hostname} | {host for host, _ in listen + tls_listen if not _wildcard(host)}
        relaying = relay_config(options, config.hostname, frozenset(names))
    elif not options["domain"] and any(not _loopback(host) for host, _ in listen + tls_listen):
        # Never an open relay: beyond loopback, name the domains to take mail for.
        raise click.UsageError("listening beyond loopback needs --domain (no catch-all there)")
    inbox = _inbox(options)
    _raise_open_files(config.max_connections)
    main = _run(config, listen, tls_listen, options, relaying=relaying, inbox=inbox)
    raise SystemExit(_event_loop(options["event_loop"])(main))


def _event_loop(name: str) -> Callable[[Coroutine[Any, Any, int]], int]:
    """uvloop when installed (a fraction of asyncio's cost per wake-up), else asyncio's."""
    if name != "asyncio":
        try:
            import uvloop  # noqa: PLC0415 - optional
        except ImportError:
            if name == "uvloop":
                raise click.UsageError("--event-loop uvloop: uvloop is not installed") from None
        else:
            return uvloop.run
    return asyncio.run


def _raise_open_files(connections: int) -> None:
    """Room for every connection allowed (a socket each), up to the hard limit."""
    wanted = connections + 256  # listeners, the store's files, spill files
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
        if target < wanted:
            log.warning("open files limited to %d: fewer than %d connections", hard, connections)


def _wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _config(options: dict[str, Any]) -> ServerConfig:
    try:
        networks = tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in options["trusted_network"]
        )
    except ValueError as error:
        raise click.UsageError(f"--trusted-network: {error}") from None
    if options["relay"] and not networks:
        # As Postfix's mynetworks: programs on this machine may relay through it.
        networks = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    tls = None
    if options["tls_cert"] or options["tls_key"]:
        if not (options["tls_cert"] and options["tls_key"]):
            raise click.UsageError("give both --tls-cert and --tls-key")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls.load_cert_chain(options["tls_cert"], options["tls_key"])
        except (OSError, ssl.SSLError) as error:
            click.echo(f"smtpx serve: cannot load the TLS certificate: {error}", err=True)
            raise SystemExit(EX_CONFIG) from None
    config = ServerConfig(
        limits=Limits(message_size=options["max_size"], recipients=options["max_recipients"]),
        tls=tls,
        domains=frozenset(check_domain(domain, "--domain") for domain in options["domain"]),
        relay=options["relay"],
        relay_domains=frozenset(
            check_domain(domain, "--relay-domain") for domain in options["relay_domain"]
        ),
        trusted_networks=networks,
        max_connections=options["max_connections"],
        max_connections_per_client=options["max_connections_per_client"],
        idle_timeout=options["idle_timeout"],
        command_timeout=options["command_timeout"],
        users=_users(options["auth_file"]),
        allow_insecure_auth=options["allow_insecure_auth"],
        mailboxes=frozenset(_mailbox(box) for box in options["mailbox"]) or None,
    )
    try:
        config.faults.replace(FaultRule.parse(rule) for rule in options["fault"])
    except FaultError as error:
        raise click.UsageError(f"--fault: {error}") from None
    if options["hostname"] is not None:
        if not is_host_name(options["hostname"]):
            # It is sent in the greeting and EHLO reply: CR LF there would forge a reply.
            raise click.BadParameter(
                f"{options['hostname']!r}: give a host name such as mx.example.org"
                " (letters, digits, dots and hyphens)",
                param_hint="--hostname",
            )
        config.hostname = options["hostname"]
    return config


def _mailbox(address: str) -> str:
    if not is_mailbox(address):
        raise click.BadParameter(
            f"{address!r}: give an address such as postmaster@example.org", param_hint="--mailbox"
        )
    return address.lower()


def loop_task(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(coroutine)


async def _prune(store: SQLiteStore, keep: Retention, arrived: asyncio.Event) -> None:
    """Retention: the oldest go first, a few at a time, never blocking receiving;
    a round when mail arrives (at most one a second), and every PRUNE_EVERY."""
    while True:
        arrived.clear()
        try:
            pruned = await store.prune(
                max_messages=keep.max_messages, max_age=keep.max_age, now=time.time()
            )
        except StoreError as error:
            log.warning("retention: %s", error)
        else:
            if pruned:
                log.info("retention: deleted %d old messages", pruned)
        await asyncio.sleep(1.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PRUNE_EVERY):
                await arrived.wait()


def _users(path: str | None) -> Users | None:
    if path is None:
        return None
    try:
        return Users.load(path)
    except AuthFileError as error:
        click.echo(f"smtpx serve: {error}", err=True)
        raise SystemExit(EX_CONFIG) from None


async def _run(
    config: ServerConfig,
    listen: list[tuple[str, int]],
    tls_listen: list[tuple[str, int]],
    options: dict[str, Any],
    *,
    relaying: RelayConfig | None,
    inbox: _Inbox,
) -> int:
    # Imported here: `smtpx send` never needs the relay's or the inbox's stack.
    from ..relay import QueueRunner, RelayHandler  # noqa: PLC0415
    from ..web import HttpServer, Hub, create_app  # noqa: PLC0415

    store = None
    runner = None
    hub = Hub()
    rules = inbox.rules
    arrived = asyncio.Event()  # wakes retention

    def stored(message_id: str) -> None:
        hub.publish(message_id)
        arrived.set()

    def tag(session: SessionInfo) -> str:
        return inbox_for(rules, session)

    if options["sink"]:
        handler: Handler = SinkHandler()
    else:
        try:
            store = await SQLiteStore.open(options["data_dir"])
        except StoreError as error:
            click.echo(f"smtpx serve: {error}", err=True)
            return EX_CONFIG
        handler = StoringHandler(store, stored=stored, inbox=tag)
    if store is not None and relaying is not None:
        relay_handler = RelayHandler(
            store, config, max_received=relaying.max_received, stored=stored, inbox=tag
        )
        runner = QueueRunner(
            store, relaying, is_local=lambda address: not relay_handler.relays(address)
        )
        relay_handler.queued = runner.wake
        handler = relay_handler
    server = Server(handler, config)
    try:
        bound = await server.start(listen, tls_listen)
    except OSError as error:
        click.echo(f"smtpx serve: cannot listen: {error.strerror or error}", err=True)
        if store is not None:
            await store.close()
        return EX_UNAVAILABLE
    where = ", ".join(host_port(host, port) for host, port in bound)
    kept = (
        "discarding every message" if options["sink"] else f"keeping mail in {options['data_dir']}"
    )
    click.echo(f"smtpx serve: listening on {where}, {kept}", err=True)
    if runner is not None:
        runner.start()
        click.echo("smtpx serve: relaying mail for other domains", err=True)
    web = None
    if store is not None and inbox.address is not None and inbox.config is not None:
        app = create_app(store, hub=hub, config=inbox.config, faults=config.faults, server=server)
        web = HttpServer(
            app, *inbox.address, certfile=options["http_tls_cert"], keyfile=options["http_tls_key"]
        )
        try:
            host, port = await web.start()
        except (OSError, ssl.SSLError) as error:
            click.echo(
                f"smtpx serve: cannot serve the inbox on {options['http']}: {error}", err=True
            )
            await server.stop()
            await store.close()
            return EX_UNAVAILABLE
        scheme = "https" if options["http_tls_cert"] else "http"
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"smtpx serve: inbox at {scheme}://{shown}:{port}/", err=True)
    pruning = None
    keep = inbox.keep
    if store is not None and (keep.max_messages or keep.max_age):
        pruning = loop_task(_prune(store, keep, arrived))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping: no new connections; finishing messages in progress")
    if web is not None:
        await web.stop()
    if pruning is not None:
        pruning.cancel()
    await server.stop()
    if runner is not None:
        await runner.stop()
    if store is not None:
        await store.close()
    return 0
