"""A loopback DNS server for the relay's tests: authoritative, from a dict, with faults.

Theory of operation. :class:`DnsServer` answers on :data:`LOOPBACK`, UDP and TCP on one
port picked at run time (bind to port 0), from a thread. Every answer is built with
dnspython's own message code (``dns.message.from_wire``, ``make_response``,
``dns.rrset.from_text_list``), so what the resolver under test reads is real wire
format, and nothing leaves the machine: the resolver is pointed at this server only.

Records are a plain dict the test may change at any time, keyed by (name, type), the
name in lower case without the final dot; names in record data are absolute whether or
not they end in a dot::

    {("example.org", "MX"): ["10 mx1.example.org", "20 mx2.example.org"],
     ("mx1.example.org", "A"): ["127.0.0.2"],
     ("mx1.example.org", "AAAA"): ["::1"]}

A name with records of another type only gets NOERROR and an empty answer (NODATA);
a name with no record at all gets NXDOMAIN. A CNAME is followed within the dict, as an
authoritative server does. Records go out in the order written (dnspython would shuffle
them, as BIND does), so a test can assert the order a resolver keeps. A UDP answer
larger than the client can take (512 octets, or its EDNS payload) is truncated (TC),
and the client comes back over TCP.

Two fault modes: ``servfail`` names get SERVFAIL, ``silent`` names get no answer at all
(the client times out); an entry is a name (every type) or a (name, type) pair (that
type only). ``queries`` records every (name, type) asked, in order, and ``tcp_queries``
those that came over TCP. A record the test wrote badly gets the client a SERVFAIL and
is raised when the server stops.

Start and stop it as a context manager; stopping is bounded by :data:`STOP_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from ._ports import LOOPBACK, STOP_TIMEOUT, PeerUnavailable

Records = dict[tuple[str, str], list[str]]

TTL = 300
# RFC 1035 §4.2.1: a UDP answer without EDNS is at most 512 octets.
UDP_LIMIT = 512
# How often the serving thread looks up from select() to see if it should stop.
_TICK = 0.05
# A TCP client gets this long to send its query (RFC 7766 §6.2.3 suggests seconds).
_TCP_IDLE = 1.0
# CNAME chains are followed this far, then the answer stops (a loop in the records).
_MAX_CNAMES = 8


class DnsServer:
    """An authoritative DNS server on loopback, answering from :attr:`records`."""

    def __init__(self, records: Records | None = None) -> None:
        self.records: Records = dict(records or {})
        self.servfail: set[str | tuple[str, str]] = set()
        self.silent: set[str | tuple[str, str]] = set()
        self.queries: list[tuple[str, str]] = []
        self.tcp_queries: list[tuple[str, str]] = []
        # What went wrong building an answer (a record the test wrote badly): the
        # client got SERVFAIL, and stop() raises the first one.
        self.errors: list[Exception] = []
        self.host = LOOPBACK
        self._udp, self._tcp = _bind_pair(self.host)
        self.port: int = self._udp.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-server", daemon=True)

    @property
    def nameservers(self) -> list[tuple[str, int]]:
        """What :class:`smtpx.relay._nexthop.Resolver` takes as ``nameservers``."""
        return [(self.host, self.port)]

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and close the sockets; PeerUnavailable if the thread hangs."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT)
        self._udp.close()
        self._tcp.close()
        if self._thread.is_alive():
            raise PeerUnavailable(f"the DNS server thread did not stop in {STOP_TIMEOUT} s")
        if self.errors:
            raise self.errors[0]

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ)
            selector.register(self._tcp, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(_TICK):
                    try:
                        if key.fileobj is self._udp:
                            self._serve_udp()
                        else:
                            self._serve_tcp()
                    except Exception as error:  # the thread serves on; stop() raises it
                        self.errors.append(error)

    def _serve_udp(self) -> None:
        try:
            wire, client = self._udp.recvfrom(65535)
        except OSError:
            return
        query = _parse(wire)
        if query is None:
            return
        response = self.answer(query)
        if response is None:
            return
        limit = max(query.payload, UDP_LIMIT) if query.edns >= 0 else UDP_LIMIT
        with contextlib.suppress(OSError):
            wire = response.to_wire(max_size=limit, prefer_truncation=True, want_shuffle=False)
            self._udp.sendto(wire, client)

    def _serve_tcp(self) -> None:
        """One connection, its queries in turn (RFC 1035 §4.2.2: two-octet length first)."""
        try:
            connection, _ = self._tcp.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(_TCP_IDLE)
            while not self._stop.is_set():
                try:
                    length = _receive(connection, 2)
                    wire = _receive(connection, int.from_bytes(length, "big"))
                except OSError:
                    return
                query = _parse(wire)
                response = None if query is None else self.answer(query, tcp=True)
                if response is None:
                    return
                try:
                    connection.sendall(
                        response.to_wire(max_size=65535, prepend_length=True, want_shuffle=False)
                    )
                except OSError:
                    return

    def answer(
        self, query: dns.message.Message, *, tcp: bool = False
    ) -> dns.message.Message | None:
        """The response to one query, or None to stay silent."""
        try:
            return self._answer(query, tcp)
        except Exception as error:  # a bad record: SERVFAIL now, raised at stop()
            self.errors.append(error)
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            return response

    def _answer(self, query: dns.message.Message, tcp: bool) -> dns.message.Message | None:
        response = dns.message.make_response(query)
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = _key(question.name)
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if tcp:
            self.tcp_queries.append((name, rdtype))
        if name in self.silent or (name, rdtype) in self.silent:
            return None
        response.flags |= dns.flags.AA
        if name in self.servfail or (name, rdtype) in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        owner = question.name
        for _ in range(_MAX_CNAMES):
            data = self.records.get((name, rdtype))
            if data is not None:
                response.answer.append(_rrset(owner, rdtype, data))
                return response
            target = self.records.get((name, "CNAME"))
            if target is None or rdtype == "CNAME":
                break
            response.answer.append(_rrset(owner, "CNAME", target))
            owner = dns.name.from_text(target[0])
            name = _key(owner)
        if not any(key == name for key, _ in list(self.records)):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response


def _bind_pair(host: str) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on one free port (DNS answers both on the same one)."""
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(8)
        return udp, tcp
    raise PeerUnavailable(f"no port on {host} was free for both UDP and TCP")


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = connection.recv(size - len(data))
        if not piece:
            raise ConnectionResetError("the client closed the connection")
        data += piece
    return data


def _parse(wire: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None


def _key(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _rrset(owner: dns.name.Name, rdtype: str, data: list[str]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(
        owner, TTL, "IN", rdtype, data, origin=dns.name.root, relativize=False
    )
