"""The relay finding its next hops in the DNS: MX order, failover, lookup failures, loops.

Each test starts the loopback DNS server (``dns_server``, tests/peers/_dns.py) and a
relay that asks it and nothing else (``RelayConfig(nameservers=...)``), so no query
leaves the machine. The MX hosts are smtpx receivers on other loopback addresses
(127.0.0.2, 127.0.0.3: all of 127/8 is loopback on Linux), all on one port, the
relay's ``smtp_port``. Mail for example.org stays on the relay: the reports to its
sender, alice@example.org, are read from the relay's own store.

The enhanced status codes are those of :mod:`smtpx.relay._nexthop`: 4.4.3 for a DNS
that does not answer (the mail waits), 5.1.2 for NXDOMAIN, 5.1.10 for a null MX and
5.4.6 for an MX that is the relay itself (the mail fails and the sender is told).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import pytest
from tests.peers import LOOPBACK, free_port
from tests.peers._dns import DnsServer
from tests.relay.relaying import (
    RelayingServer,
    relay_config,
    relaying_server,
    reports,
    status_fields,
    submit,
)
from tests.server.receiver import MESSAGE, SENDER, StoringServer, split_received

from smtpx.relay import Schedule
from smtpx.server import ServerConfig
from smtpx.store import Delivery, DeliveryStatus

FAR = "bob@example.net"
MX1 = "mx1.example.net"
MX2 = "mx2.example.net"


class MXHost(StoringServer):
    """A storing receiver bound to one loopback address and port of the test's choosing."""

    def __init__(self, data_dir: Path, address: str, port: int = 0) -> None:
        super().__init__(data_dir, ServerConfig(hostname=f"{address}.test"))
        self.address = address
        self.port = port

    def start(self) -> None:
        ((self.host, self.port),) = self.run(self.server.start([(self.address, self.port)]))


class MXHosts:
    """Receivers on several loopback addresses sharing one port (MX hosts are all
    reached on the relay's ``smtp_port``)."""

    def __init__(self, data_dir: Path, stack: ExitStack) -> None:
        self.data_dir = data_dir
        self.stack = stack
        self.port = 0

    def start(self, address: str) -> MXHost:
        host = MXHost(self.data_dir / address, address, self.port)
        self.stack.callback(host.stop)
        host.start()
        self.port = host.port
        return host


@pytest.fixture
def mx_hosts(tmp_path: Path) -> Iterator[MXHosts]:
    with ExitStack() as stack:
        yield MXHosts(tmp_path / "mx", stack)


def relay_via(
    tmp_path: Path, dns: DnsServer, port: int, **changes: object
) -> AbstractContextManager[RelayingServer]:
    """A relay that finds example.net's hosts with ``dns`` and reaches them on ``port``."""
    config = relay_config(nameservers=dns.nameservers, smtp_port=port, **changes)
    return relaying_server(tmp_path / "relay", relay=config)


def failed_report(
    relay: RelayingServer, delivery: Delivery, status: str, diagnostic: str
) -> dict[str, str]:
    """The one report: ``delivery`` failed here with ``status``, saying ``diagnostic``."""
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == 1  # at once: a definite answer is not retried
    assert delivery.next_attempt is None
    assert delivery.last_reply == f"{status} {diagnostic}"
    assert delivery.remote is None
    (report,) = reports(relay)
    assert report["To"] == SENDER
    (fields,) = status_fields(report)
    assert fields["Final-Recipient"] == f"rfc822; {FAR}"
    assert fields["Action"] == "failed"
    assert fields["Status"] == status
    assert "Remote-MTA" not in fields  # no host answered: the DNS did
    assert fields["Diagnostic-Code"] == f"X-smtpx; {diagnostic}"
    return fields


# --- MX order and failover (RFC 5321 §5.1) --------------------------------------------------


def test_the_lowest_preference_mx_gets_the_mail(
    tmp_path: Path, dns_server: DnsServer, mx_hosts: MXHosts
) -> None:
    best = mx_hosts.start("127.0.0.2")
    backup = mx_hosts.start("127.0.0.3")
    dns_server.records = {
        # The DNS's order is not the preference order.
        ("example.net", "MX"): [f"20 {MX2}", f"10 {MX1}"],
        (MX1, "A"): ["127.0.0.2"],
        (MX2, "A"): ["127.0.0.3"],
    }
    with relay_via(tmp_path, dns_server, mx_hosts.port) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert delivery.remote == MX1
    assert backup.count() == 0
    stored, raw = best.only()
    assert [r.address for r in stored.envelope.recipients] == [FAR]
    assert split_received(split_received(raw)[1])[1] == MESSAGE
    assert ("example.net", "MX") in dns_server.queries


def test_an_mx_that_refuses_connections_gives_way_to_the_next(
    tmp_path: Path, dns_server: DnsServer, mx_hosts: MXHosts
) -> None:
    backup = mx_hosts.start("127.0.0.3")  # nothing listens on 127.0.0.2
    dns_server.records = {
        ("example.net", "MX"): [f"10 {MX1}", f"20 {MX2}"],
        (MX1, "A"): ["127.0.0.2"],
        (MX2, "A"): ["127.0.0.3"],
    }
    with relay_via(tmp_path, dns_server, mx_hosts.port) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 1  # both hosts in one attempt
    assert delivery.remote == MX2
    assert delivery.last_reply is not None
    assert delivery.last_reply.startswith("250 2.0.0 OK: queued as ")
    stored, _ = backup.only()
    assert stored.envelope.sender == SENDER


def test_a_backup_mx_that_is_the_relay_passes_mail_to_the_better_mx(
    tmp_path: Path, dns_server: DnsServer, mx_hosts: MXHosts
) -> None:
    """RFC 5321 §5.1: our own record and the worse ones are dropped, the better kept."""
    best = mx_hosts.start("127.0.0.2")
    dns_server.records = {
        ("example.net", "MX"): [f"10 {MX1}", "20 relay.test", f"30 {MX2}"],
        (MX1, "A"): ["127.0.0.2"],
        ("relay.test", "A"): ["127.0.0.1"],
        (MX2, "A"): ["127.0.0.3"],
    }
    local = frozenset({"relay.test"})
    with relay_via(tmp_path, dns_server, mx_hosts.port, local_names=local) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.remote == MX1
    assert best.count() == 1


# --- what the DNS says ------------------------------------------------------------------------


def test_servfail_defers_with_4_4_3_and_the_retry_after_the_dns_recovers_delivers(
    tmp_path: Path, dns_server: DnsServer, mx_hosts: MXHosts
) -> None:
    host = mx_hosts.start("127.0.0.2")
    dns_server.servfail.add(("example.net", "MX"))
    # A delay warning at the first deferral, the sender's view of it.
    schedule = Schedule(intervals=(0.2,), then=0.3, jitter=0.0, delay_warning=0.0)
    with relay_via(tmp_path, dns_server, mx_hosts.port, schedule=schedule) as relay:
        message_id = submit(relay, [FAR])
        (first,) = relay.settled(
            message_id, until=lambda found: found[0].status is DeliveryStatus.DEFERRED
        )
        dns_server.records = {("example.net", "MX"): [f"10 {MX1}"], (MX1, "A"): ["127.0.0.2"]}
        dns_server.servfail.clear()
        (delivery,) = relay.settled(message_id)
        (report,) = reports(relay)
    assert first.attempts == 1
    assert first.next_attempt is not None
    why = (
        f"cannot look up the MX records of example.net: {LOOPBACK} port {dns_server.port} "
        "answered SERVFAIL"
    )
    assert first.last_reply == f"4.4.3 {why}"
    (fields,) = status_fields(report)
    assert fields["Action"] == "delayed"
    assert fields["Status"] == "4.4.3"
    assert fields["Diagnostic-Code"] == f"X-smtpx; {why}"
    assert "Will-Retry-Until" in fields
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts >= 2
    assert delivery.remote == MX1
    assert host.count() == 1


def test_nxdomain_fails_at_once_with_5_1_2_and_a_report(
    tmp_path: Path, dns_server: DnsServer
) -> None:
    dns_server.records = {("example.com", "MX"): ["10 mx.example.com"]}  # not example.net
    with relay_via(tmp_path, dns_server, free_port()) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
        failed_report(relay, delivery, "5.1.2", "domain example.net does not exist (NXDOMAIN)")


def test_a_null_mx_fails_at_once_with_5_1_10_and_a_report(
    tmp_path: Path, dns_server: DnsServer
) -> None:
    """RFC 7505 §3: MX 0 "." says the domain takes no mail; nothing is connected to."""
    dns_server.records = {("example.net", "MX"): ["0 ."], ("example.net", "A"): ["127.0.0.2"]}
    with relay_via(tmp_path, dns_server, free_port()) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
        failed_report(
            relay, delivery, "5.1.10", "domain example.net accepts no mail (null MX, RFC 7505)"
        )


def test_an_mx_that_is_the_relay_itself_fails_with_5_4_6_and_a_report(
    tmp_path: Path, dns_server: DnsServer
) -> None:
    """RFC 5321 §5.1: with our own record dropped, no MX is left: a routing loop."""
    dns_server.records = {
        ("example.net", "MX"): ["10 relay.test"],
        ("relay.test", "A"): [LOOPBACK],
    }
    local = frozenset({"relay.test"})
    with relay_via(tmp_path, dns_server, free_port(), local_names=local) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
        failed_report(relay, delivery, "5.4.6", "mail for example.net loops back to myself")


def test_an_mx_at_one_of_the_relays_addresses_is_a_loop_too(
    tmp_path: Path, dns_server: DnsServer
) -> None:
    dns_server.records = {("example.net", "MX"): [f"10 {MX1}"], (MX1, "A"): [LOOPBACK]}
    local = frozenset({LOOPBACK})
    with relay_via(tmp_path, dns_server, free_port(), local_names=local) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
        failed_report(relay, delivery, "5.4.6", "mail for example.net loops back to myself")
