"""Where mail for a domain goes next: a static route, the relay host, or the DNS.

Theory of operation. The relay asks :class:`NextHops` for the hops of each recipient
domain and tries them in the order given; the first that takes the mail ends it.
Three sources are consulted, the first that applies wins:

1. a static route (``--route example.org=host:port``), after Postfix's transport_maps:
   ``example.org`` matches that domain only, ``.example.org`` its subdomains only, and
   the most specific entry wins (``a.b.example.org``, then ``.b.example.org``, then
   ``.example.org``...);
2. the relay host (``--relay-host HOST:PORT``), a smarthost that takes everything;
3. the DNS (RFC 5321 §5.1), through :class:`Resolver`: the MX records, lowest
   preference first, equal preferences in random order; each MX host's addresses in
   turn; the domain's own addresses when it has no MX (the implicit MX).

A route or the relay host names the very host to connect to, so it is never looked up
as MX: an IP address is used as is, and a host name goes to the system's resolver
(``getaddrinfo``, so /etc/hosts works). :func:`parse_host` and :func:`parse_route` read
them, and a malformed one is a :class:`RouteError` the command line shows before it
starts anything.

Nothing here loses mail. A lookup that fails says so with a :class:`HopFailure`:
temporary (the queue keeps the mail and retries) unless the DNS gave a definite answer
that no delivery is possible. The enhanced status codes (RFC 3463) are:

- 5.1.2: the domain does not exist (NXDOMAIN). RFC 5321 §5.1: "a non-existent domain
  error ... MUST be reported as an error"; X.1.2 is "Bad destination system address".
- 5.1.3: the domain is not a domain name or a known address literal (RFC 5321 §4.1.3).
- 5.1.10: null MX, the domain accepts no mail (RFC 7505 §3; X.1.10 is registered by
  RFC 7505 as "Recipient address has null MX").
- 5.4.4: the domain exists, has no MX, and has no address either: the implicit MX is
  unusable (RFC 5321 §5.1: "MUST be reported as an error"; X.4.4 "Unable to route"
  names "a DNS lookup returning only an SOA" as its example).
- 5.4.6: mail that would come back to us (RFC 5321 §5.1, below); X.4.6 is "Routing
  loop detected". The text is Postfix's: "mail for D loops back to myself".
- 4.4.3: the DNS did not answer (SERVFAIL, timeout, no nameserver reachable or
  configured), or no MX host has an address, or a route's host name is unknown to the
  system resolver. X.4.3 is "Directory server failure"; RFC 5321 §5.1: "If a temporary
  error is returned, the message MUST be queued and retried later". MX hosts none of
  which resolve are deferred, as Postfix does (the MX records say the domain takes
  mail; its hosts' names may be fixed), and the retry schedule bounds the wait.

Loops (RFC 5321 §5.1): "The relay host MUST then inspect the list for any of the names
or addresses by which it might be known in mail transactions. If a matching record is
found, all records at that preference level and higher-numbered ones MUST be discarded
from consideration. If there are no records left at that point, it is an error
condition". So a backup MX passes mail up to better MXs, never to itself or to a worse
backup. Our names and addresses are the ``local`` set given to the :class:`Resolver`.
Routes and the relay host are not checked (a content filter on 127.0.0.1:10025 is a
legitimate route back to this machine); a loop through them is for delivery to catch,
as Postfix does when a server greets it with its own name.

Addresses: IPv4 before IPv6 for each host, in the order the DNS gave them within a
family (RFC 5321 §5.1: "the SMTP sender MUST try them in the order presented"). Both
families are always tried, so an IPv6-only MX is reached; IPv4 goes first because it is
where a mail sender is most likely to be delivered: many hosts publish AAAA records
without a working IPv6 route, and large receivers apply stricter rules to IPv6 senders
(reverse DNS, authentication). An address that two MX hosts share is tried once.

Names are compared in lower-case A-label form (IDNA, the stdlib ``idna`` codec, as the
rest of smtpx), so ``bücher.example`` and ``xn--bcher-kva.example`` are one domain. The
stdlib codec is IDNA 2003: the four characters IDNA 2008 treats differently (ß, ς, ZWJ,
ZWNJ) are mapped the 2003 way. Queries are for absolute names only: RFC 5321 §5.1
forbids a relay to complete partial names, so the resolver's search list is never used.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import random
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from encodings import idna as _idna

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdata
import dns.resolver
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from ..client import host_port
from ..protocol import ip_literal

SMTP_PORT = 25
# dnspython's own default lifetime of one lookup, every nameserver and retry included.
DNS_TIMEOUT = 5.0
# EDNS(0) payload of DNS Flag Day 2020: answers that fit need no IP fragmentation, and
# most MX and address answers fit, so few lookups fall back to TCP.
EDNS_PAYLOAD = 1232
# RFC 1035 §2.3.4: 255 octets on the wire, which is 253 characters written out.
MAX_NAME = 253
# RFC 5321 §4.1.2: sub-domain = Let-dig [Ldh-str]; RFC 1035 §2.3.4: 63 octets a label.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# An ordered list of addresses for a host name and port, from the system's resolver.
HostLookup = Callable[[str, int], Awaitable[list[str]]]
# What recipients share when they can go in one transaction: see destination_key().
DestinationKey = frozenset[tuple[str, int, int]]

HOST_FORM = "HOST[:PORT] or [ADDRESS][:PORT], e.g. smtp.example.net:587 or [2001:db8::1]:25"
ROUTE_FORM = (
    "DOMAIN=HOST[:PORT], or .DOMAIN=HOST[:PORT] for its subdomains, e.g. example.org=[192.0.2.1]:25"
)


class RouteError(ValueError):
    """A route or relay host that cannot be used; str() is one line saying why."""


class HopFailure(Exception):
    """No next hop for a domain: for now (4.x.x, the mail waits) or for good (5.x.x).

    ``str()`` is a one-line diagnostic, ``status`` the enhanced status code (RFC 3463).
    """

    def __init__(self, message: str, *, status: str, domain: str) -> None:
        super().__init__(message)
        self.status = status
        self.domain = domain

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5")


@dataclass(frozen=True, slots=True)
class Destination:
    """A configured host to connect to: a lower-case A-label name or an IP address."""

    host: str
    port: int = SMTP_PORT

    @property
    def is_address(self) -> bool:
        return _ip(self.host) is not None

    def __str__(self) -> str:
        return host_port(self.host, self.port)


@dataclass(frozen=True, slots=True)
class Hop:
    """One address to try. ``host`` is the name TLS is verified against and the
    Remote-MTA of a DSN; ``preference`` the MX preference (0 for the implicit MX, a
    route or the relay host)."""

    host: str
    address: str
    port: int
    preference: int = 0

    def __str__(self) -> str:
        return f"{self.host}[{self.address}]:{self.port}"


def parse_host(spec: str, default_port: int = SMTP_PORT) -> Destination:
    """Read ``host``, ``host:port``, ``[192.0.2.1]:25`` or ``[2001:db8::1]:2525``.

    An IPv6 address takes brackets (in ``2001:db8::25`` the last group could be a
    port). Brackets around a name are accepted and mean what they mean to Postfix, no
    MX lookup, which is what a route or relay host always gets here.
    """
    try:
        return _destination(spec.strip(), default_port)
    except ValueError as error:
        raise RouteError(f"bad host {spec!r}: {error} (expected {HOST_FORM})") from None


def parse_route(spec: str) -> tuple[str, Destination]:
    """Read ``example.org=host:port`` (that domain) or ``.example.org=...`` (subdomains).

    Returns the key as :class:`NextHops` matches it: lower-case A-labels, the leading
    dot kept.
    """
    domain, equals, host = spec.partition("=")
    try:
        if not equals:
            raise ValueError("no '='")
        return route_key(domain.strip()), _destination(host.strip(), SMTP_PORT)
    except ValueError as error:
        raise RouteError(f"bad route {spec!r}: {error} (expected {ROUTE_FORM})") from None


def route_key(domain: str) -> str:
    """``example.org`` or ``.example.org`` in the form routes are matched in."""
    if domain.startswith("."):
        return "." + _a_label(domain[1:], "the domain")
    return _a_label(domain, "the domain")


def destination_key(hops: Iterable[Hop]) -> DestinationKey:
    """Equal for recipient domains that go to the same place, whatever the order.

    Recipients of one message whose keys are equal share one transaction. The key is
    the set of (host, port, preference): two domains with the same MX hosts, or routed
    to the same host, share it; the random order of equal preferences does not matter.
    """
    return frozenset((hop.host, hop.port, hop.preference) for hop in hops)


class _Outcome(enum.Enum):
    FOUND = enum.auto()
    NO_DATA = enum.auto()  # NOERROR and an empty answer: the name has other types only
    NO_DOMAIN = enum.auto()  # NXDOMAIN
    FAILED = enum.auto()  # no usable answer (SERVFAIL, timeout...): ask again later


@dataclass(frozen=True, slots=True)
class _Lookup:
    outcome: _Outcome
    records: tuple[dns.rdata.Rdata, ...] = ()
    why: str = ""


@dataclass(frozen=True, slots=True)
class _HostAddresses:
    addresses: tuple[str, ...]
    temporary: bool  # a lookup failed, so the host may have addresses after all
    why: str  # when there are none


class Resolver:
    """MX and address lookups for mail (RFC 5321 §5.1), over dnspython.

    ``nameservers`` ((address, port) pairs) replaces /etc/resolv.conf; only those are
    asked. ``timeout`` bounds one lookup, every retry included. ``local`` holds the
    names and addresses this relay is known by (loop detection). ``rng`` shuffles MX
    hosts of equal preference; give a seeded one for a repeatable order.
    """

    def __init__(
        self,
        *,
        nameservers: Sequence[tuple[str, int]] | None = None,
        timeout: float = DNS_TIMEOUT,
        local: frozenset[str] = frozenset(),
        rng: random.Random | None = None,
    ) -> None:
        self.timeout = timeout
        self._rng = rng if rng is not None else random.Random()
        self._local_names, self._local_addresses = _split_local(local)
        self._unconfigured = ""
        self._dns: dns.asyncresolver.Resolver | None
        if nameservers is None:
            try:
                self._dns = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration as error:
                # Not a reason to refuse to start (routes need no DNS); every DNS
                # lookup defers its mail with this line until the file is fixed.
                self._dns = None
                self._unconfigured = f"no nameserver configured ({error})"
        else:
            if not nameservers:
                raise ValueError("nameservers is empty; pass None to use /etc/resolv.conf")
            self._dns = dns.asyncresolver.Resolver(configure=False)
            self._dns.nameservers = [
                dns.nameserver.Do53Nameserver(address, port) for address, port in nameservers
            ]
        if self._dns is not None:
            self._dns.lifetime = timeout
            self._dns.use_edns(0, 0, EDNS_PAYLOAD)

    async def hops(self, domain: str, port: int = SMTP_PORT) -> list[Hop]:
        """Every address to try for mail to ``domain``, best first; or HopFailure."""
        literal = _address_literal(domain)
        if literal is not None:
            # RFC 5321 §5.1: an address literal names the host itself; no lookup.
            if ipaddress.ip_address(literal) in self._local_addresses:
                raise _loop(domain)
            return [Hop(literal, literal, port, 0)]
        name = _domain(domain)
        mx = await self._lookup(name, "MX")
        if mx.outcome is _Outcome.NO_DOMAIN:
            raise HopFailure(
                f"domain {name} does not exist (NXDOMAIN)", status="5.1.2", domain=name
            )
        if mx.outcome is _Outcome.FAILED:
            raise HopFailure(
                f"cannot look up the MX records of {name}: {mx.why}", status="4.4.3", domain=name
            )
        implicit = mx.outcome is _Outcome.NO_DATA
        # RFC 5321 §5.1: no MX is "an implicit MX RR, with a preference of 0, pointing to
        # that host".
        exchanges = [(0, name)] if implicit else self._exchanges(name, mx.records)
        found = await asyncio.gather(*(self._addresses(host) for _, host in exchanges))
        candidates = list(zip(exchanges, found, strict=True))
        ours = [pref for (pref, host), each in candidates if self._is_me(host, each.addresses)]
        if ours:
            candidates = [item for item in candidates if item[0][0] < min(ours)]
            if not candidates:
                raise _loop(name)
        hops: list[Hop] = []
        seen: set[str] = set()
        for (preference, host), each in candidates:
            for address in each.addresses:
                if address not in seen:
                    seen.add(address)
                    hops.append(Hop(host, address, port, preference))
        if hops:
            return hops
        raise _unresolved(name, implicit, [(host, each) for (_, host), each in candidates])

    def _exchanges(self, name: str, records: Sequence[dns.rdata.Rdata]) -> list[tuple[int, str]]:
        """MX hosts by preference, the equal ones shuffled; HopFailure for a null MX."""
        mxs = [record for record in records if isinstance(record, MX)]
        real = [mx for mx in mxs if mx.exchange != dns.name.root]
        if not real:
            # RFC 7505 §3: a single MX whose exchange is "." (a zero-length label).
            raise HopFailure(
                f"domain {name} accepts no mail (null MX, RFC 7505)", status="5.1.10", domain=name
            )
        # A "." beside real MX records breaks RFC 7505 §3 ("MUST NOT advertise any other
        # MX RR"); it names no host, so it is left out and the others are used.
        by_preference: dict[int, list[str]] = {}
        for mx in real:
            host = mx.exchange.to_text(omit_final_dot=True).lower()
            by_preference.setdefault(mx.preference, []).append(host)
        ordered: list[tuple[int, str]] = []
        for preference in sorted(by_preference):
            hosts = sorted(by_preference[preference])  # the DNS's order is not ours to keep
            # RFC 5321 §5.1: equal preferences "MUST randomize them to spread the load".
            self._rng.shuffle(hosts)
            ordered += [(preference, host) for host in hosts]
        return ordered

    async def _addresses(self, host: str) -> _HostAddresses:
        """A then AAAA addresses of one host (IPv4 first: see the module's docstring)."""
        ipv4, ipv6 = await asyncio.gather(self._lookup(host, "A"), self._lookup(host, "AAAA"))
        addresses = tuple(
            record.address
            for record in (*ipv4.records, *ipv6.records)
            if isinstance(record, A | AAAA)
        )
        failed = [each for each in (ipv4, ipv6) if each.outcome is _Outcome.FAILED]
        if failed:
            return _HostAddresses(addresses, True, failed[0].why)
        if ipv4.outcome is _Outcome.NO_DOMAIN:
            return _HostAddresses(addresses, False, "NXDOMAIN")
        return _HostAddresses(addresses, False, "no A or AAAA record")

    async def _lookup(self, name: str, rdtype: str) -> _Lookup:
        if self._dns is None:
            return _Lookup(_Outcome.FAILED, why=self._unconfigured)
        try:
            answer = await self._dns.resolve(
                dns.name.from_text(name), rdtype, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return _Lookup(_Outcome.NO_DOMAIN)
        except dns.resolver.LifetimeTimeout:
            return _Lookup(_Outcome.FAILED, why=f"no answer from the DNS in {self.timeout:g} s")
        except dns.resolver.NoNameservers as error:
            return _Lookup(_Outcome.FAILED, why=_nameserver_errors(error))
        except dns.exception.DNSException as error:
            return _Lookup(_Outcome.FAILED, why=_one_line(str(error)))
        if answer.rrset is None:
            return _Lookup(_Outcome.NO_DATA)
        return _Lookup(_Outcome.FOUND, tuple(answer.rrset))

    def _is_me(self, host: str, addresses: Iterable[str]) -> bool:
        return host in self._local_names or any(
            ipaddress.ip_address(address) in self._local_addresses for address in addresses
        )


class NextHops:
    """The next hops of a recipient domain: a static route, else the relay host, else DNS.

    ``routes`` maps :func:`parse_route` keys to destinations. ``smtp_port`` is the port
    of the hops found in the DNS (25; tests point it elsewhere). ``lookup_host`` turns
    a route's host name into addresses; the default asks the system (getaddrinfo).
    """

    def __init__(
        self,
        routes: Mapping[str, Destination],
        relay_host: Destination | None,
        resolver: Resolver,
        *,
        smtp_port: int = SMTP_PORT,
        lookup_host: HostLookup | None = None,
    ) -> None:
        self._routes = {route_key(key): destination for key, destination in routes.items()}
        self._relay_host = relay_host
        self._resolver = resolver
        self._smtp_port = smtp_port
        self._lookup_host = lookup_host if lookup_host is not None else system_addresses

    def route(self, domain: str) -> Destination | None:
        """The static route for a domain (already in A-label form), the most specific
        first: ``a.b.example.org``, then ``.b.example.org``, ``.example.org``, ``.org``."""
        exact = self._routes.get(domain)
        if exact is not None:
            return exact
        labels = domain.split(".")
        for start in range(1, len(labels)):
            parent = self._routes.get("." + ".".join(labels[start:]))
            if parent is not None:
                return parent
        return None

    async def for_domain(self, domain: str) -> list[Hop]:
        """Every address to try for mail to ``domain``, best first; or HopFailure."""
        name = domain
        if _address_literal(domain) is None:  # an address literal has no route
            name = _domain(domain)
            route = self.route(name)
            if route is not None:
                return await self._direct(route, f"the route for {name} to", name)
        if self._relay_host is not None:
            return await self._direct(self._relay_host, "the relay host", name)
        return await self._resolver.hops(name, self._smtp_port)

    async def _direct(self, destination: Destination, what: str, domain: str) -> list[Hop]:
        """The hops of a configured host: never an MX lookup."""
        if destination.is_address:
            return [Hop(destination.host, destination.host, destination.port, 0)]
        try:
            addresses = await self._lookup_host(destination.host, destination.port)
        except OSError as error:
            why = error.strerror or str(error)
        else:
            if addresses:
                return [
                    Hop(destination.host, address, destination.port, 0) for address in addresses
                ]
            why = "no address"
        # Our own configuration, so not the recipient's fault: the mail waits for it
        # to be fixed (or for the resolver to come back).
        raise HopFailure(
            f"{what} {destination}: cannot resolve {destination.host} ({why})",
            status="4.4.3",
            domain=domain,
        )


async def system_addresses(host: str, port: int) -> list[str]:
    """The addresses the system gives for a host name (/etc/hosts, then the DNS), in
    its order (RFC 6724, /etc/gai.conf), each once."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _destination(text: str, default_port: int) -> Destination:
    """A Destination from HOST[:PORT] or [ADDRESS][:PORT]; ValueError says what is wrong."""
    if not text:
        raise ValueError("the host is empty")
    port_text: str | None
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError("no closing ']'")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{rest!r} after ']' (a port is written ]:PORT)")
        port_text = rest[1:] if rest else None
        if inside[:5].lower() == "ipv6:":
            inside = inside[5:]  # RFC 5321 §4.1.3's IPv6 literal, as Postfix also reads it
        host = inside
    elif text.count(":") > 1:
        raise ValueError("an IPv6 address goes in brackets, e.g. [2001:db8::1]:25")
    else:
        host, colon, port_text_or_empty = text.partition(":")
        port_text = port_text_or_empty if colon else None
    if not host:
        raise ValueError("the host is empty")
    address = _ip(host)
    if address is None:
        if ":" in host:
            raise ValueError(f"{host!r} is not an IPv6 address")
        host = _a_label(host, "the host")
    else:
        host = str(address)
    return Destination(host, default_port if port_text is None else _port(port_text))


def _port(text: str) -> int:
    if not text:
        raise ValueError("the port is empty")
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"port {text!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not in 1..65535")
    return port


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _a_label(name: str, what: str = "the name") -> str:
    """``name`` in lower-case A-label form without a final dot; ValueError says why not."""
    text = name[:-1] if name.endswith(".") else name
    if not text:
        raise ValueError(f"{what} is empty")
    labels = []
    for label in _idna.dots.split(text):
        if not label:
            raise ValueError(f"{what} {name!r} has an empty label")
        try:
            ascii_label = _idna.ToASCII(label).decode("ascii").lower()
        except UnicodeError:
            raise ValueError(f"{what} {name!r} has a label longer than 63 characters") from None
        if not _LABEL.match(ascii_label):
            raise ValueError(
                f"{what} {name!r} is not a domain name (letters, digits and inner hyphens only)"
            )
        labels.append(ascii_label)
    a_label = ".".join(labels)
    if len(a_label) > MAX_NAME:
        raise ValueError(f"{what} {name!r} is longer than {MAX_NAME} characters")
    return a_label


def _domain(domain: str) -> str:
    """A recipient domain in A-label form; a permanent HopFailure if it is not one."""
    try:
        return _a_label(domain, "the domain")
    except ValueError as error:
        raise HopFailure(str(error), status="5.1.3", domain=domain) from None


def _address_literal(domain: str) -> str | None:
    """The address of ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]`` (RFC 5321 §4.1.3), or
    None for a domain name; HopFailure for a literal this relay cannot use."""
    if not domain.startswith("["):
        return None
    address = ip_literal(domain)
    if address is None:
        raise HopFailure(
            f"{domain} is not an IPv4 or IPv6 address literal (RFC 5321 §4.1.3)",
            status="5.1.3",
            domain=domain,
        )
    return str(address)


def _split_local(local: Iterable[str]) -> tuple[frozenset[str], frozenset[IPAddress]]:
    """Our names (A-labels) and our addresses, apart; ValueError for a bad name."""
    names: set[str] = set()
    addresses: set[IPAddress] = set()
    for item in local:
        address = _ip(item.removeprefix("[").removesuffix("]"))
        if address is not None:
            addresses.add(address)
        else:
            names.add(_a_label(item, "the local name"))
    return frozenset(names), frozenset(addresses)


def _unresolved(name: str, implicit: bool, hosts: list[tuple[str, _HostAddresses]]) -> HopFailure:
    """Why no host of ``name`` has an address (RFC 5321 §5.1: "MUST be reported")."""
    if implicit:
        [(_, own)] = hosts
        if own.temporary:
            return HopFailure(
                f"cannot look up the address of {name}: {own.why}", status="4.4.3", domain=name
            )
        return HopFailure(
            f"domain {name} has no MX and no address record", status="5.4.4", domain=name
        )
    unreachable = ", ".join(f"{host} ({each.why})" for host, each in hosts)
    return HopFailure(
        f"no MX host of {name} has an address: {unreachable}", status="4.4.3", domain=name
    )


def _loop(domain: str) -> HopFailure:
    return HopFailure(f"mail for {domain} loops back to myself", status="5.4.6", domain=domain)


def _nameserver_errors(error: dns.resolver.NoNameservers) -> str:
    """What each nameserver did, on one line: "127.0.0.1 port 53 answered SERVFAIL"."""
    errors = error.kwargs.get("errors") or []
    said: list[str] = []
    for server, _tcp, port, problem, _response in errors:
        address = str(server).split(":", 1)[-1].rsplit("@", 1)[0]
        if isinstance(problem, str):
            line = f"{address} port {port} answered {problem}"
        else:
            line = f"{address} port {port}: {_one_line(str(problem)) or type(problem).__name__}"
        if line not in said:
            said.append(line)
    return "; ".join(said) or "no nameserver answered"


def _one_line(text: str) -> str:
    return " ".join(text.split())
