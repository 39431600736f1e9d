"""How a server is set up: names, limits, TLS, and whom it takes mail for."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field

from ..protocol import Extensions, Limits, Reply
from ._auth import Users
from ._faults import Faults

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(slots=True)
class ServerConfig:
    """Everything that is the same for every connection of one server."""

    hostname: str = field(default_factory=socket.getfqdn)
    limits: Limits = field(default_factory=Limits)
    tls: ssl.SSLContext | None = None  # offers STARTTLS when set
    # Mail is taken for these domains; empty means every domain (catch-all),
    # unless the server relays: then mail for other domains is sent on.
    domains: frozenset[str] = frozenset()
    relay: bool = False
    # Domains anyone may send mail to through us, to be relayed (Postfix's relay_domains).
    relay_domains: frozenset[str] = frozenset()
    # Clients here may relay to any domain (RFC 5321 §3.6.1: relaying is by consent).
    trusted_networks: tuple[IPNetwork, ...] = ()
    max_connections: int = 1000
    # One client address may not take every slot (a slow or hostile client
    # never delays the others).
    max_connections_per_client: int = 100
    # Clients the per-client limit does not apply to (Postfix's
    # smtpd_client_event_limit_exceptions): loopback, where test suites and
    # local programs open many connections.
    per_client_exempt: tuple[IPNetwork, ...] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    idle_timeout: float = 300.0  # RFC 5321 §4.5.3.2.7: at least five minutes
    # From one reply to the end of the next command line, however slowly its
    # bytes trickle in (the idle timeout alone is reset by every byte).
    command_timeout: float = 300.0
    # AUTH (RFC 4954): offered when there are users; refused (538) before TLS
    # unless insecure AUTH is allowed, since PLAIN and LOGIN send the password.
    users: Users | None = None
    allow_insecure_auth: bool = False
    auth_failure_delay: float = 1.0  # seconds before a 535, against guessing
    auth_failures: int = 3  # failed AUTH commands a session may make; then 421
    # Local mailboxes (lower-case addresses): when given, VRFY checks them
    # (RFC 5321 §3.5.1: 250 or 550) and so does RCPT for the local domains.
    mailboxes: frozenset[str] | None = None
    # Replies on demand for testing senders (smtpx serve --fault, the inbox API).
    faults: Faults = field(default_factory=Faults)

    def extensions(self, tls_active: bool) -> Extensions:
        """What EHLO offers; STARTTLS only while the session is still in clear."""
        return Extensions(
            size=self.limits.message_size or 0,
            eightbitmime=True,
            pipelining=True,
            smtputf8=True,
            enhancedstatuscodes=True,
            starttls=self.tls is not None and not tls_active,
            chunking=True,
            binarymime=True,
            dsn=True,
            auth=self.users.mechanisms if self.users is not None else None,
        )

    def ehlo_replies(self) -> tuple[Reply, Reply]:
        """The EHLO reply before and after TLS, made once."""
        return (
            self.extensions(False).ehlo_reply(self.hostname),
            self.extensions(True).ehlo_reply(self.hostname),
        )

    def takes_mail_for(self, domain: str) -> bool:
        """Whether mail for ``domain`` ends here (kept, not relayed)."""
        if not self.domains:
            return not self.relay
        return domain.lower() in self.domains

    def relays_for(self, domain: str) -> bool:
        return domain.lower() in self.relay_domains

    def has_mailbox(self, address: str) -> bool:
        return self.mailboxes is None or address.lower() in self.mailboxes

    def trusts(self, address: str) -> bool:
        return _within(address, self.trusted_networks)

    def limits_client(self, address: str) -> bool:
        return not _within(address, self.per_client_exempt)


def _within(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(client in network for network in networks)
