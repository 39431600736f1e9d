"""The relay's TLS: opportunistic by default, required for some domains, and a relay
host that takes credentials; and connections kept for the next message.

The destination is an smtpx receiver (tests/server/receiver.py) offering STARTTLS
with the test certificate (``tls_certs``, tests/peers/_tls.py), which names
"localhost", 127.0.0.1, ::1 and mx.example. Routes name the destination
"localhost" where the certificate is checked: the name verified is the route's
host. Where TLS is required the relay must never fall back to clear text: the
destination then stores nothing, the recipient waits with 4.7.5 (X.7.5,
"cryptographic failure"), and the sender's delay warning says so too.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from tests.peers import LOOPBACK, TlsCerts
from tests.relay.relaying import (
    RelayingServer,
    relay_config,
    relaying_server,
    reports,
    status_fields,
    submit,
)
from tests.server.receiver import MESSAGE, StoringServer, split_received

from smtpx.client import TLSMode
from smtpx.protocol import Reply
from smtpx.relay import Destination, RelayHost, Schedule
from smtpx.server import ServerConfig, SessionInfo, StoringHandler, Users
from smtpx.store import Delivery, DeliveryStatus, Store

FAR = "bob@example.net"
# The name the test certificate covers, and /etc/hosts resolves to 127.0.0.1.
CERTIFIED = "localhost"
# A delay warning at the first deferral: what the sender is told of a failure that waits.
WARN_AT_ONCE = Schedule(intervals=(0.2,), then=0.3, jitter=0.0, delay_warning=0.0)


class Counting(StoringHandler):
    """Stores every message, and counts the connections made to it."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.connections = 0

    def on_connect(self, session: SessionInfo) -> Reply | None:
        self.connections += 1
        return None


@pytest.fixture
def start_destination(tmp_path: Path) -> Iterator[Callable[[ServerConfig], StoringServer]]:
    """``start(config)``: a storing receiver with ``config``, stopped at teardown."""
    started: list[StoringServer] = []

    def start(config: ServerConfig) -> StoringServer:
        server = StoringServer(tmp_path / f"destination{len(started)}", config)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


def with_starttls(tls_certs: TlsCerts, users: Users | None = None) -> ServerConfig:
    """A destination offering STARTTLS, and AUTH to ``users`` (a 535 without delay)."""
    return ServerConfig(
        hostname="dest.test",
        tls=tls_certs.server_ssl_context(),
        users=users,
        auth_failure_delay=0.0,
    )


def relay_to(
    tmp_path: Path, destination: StoringServer, host: str = LOOPBACK, **changes: object
) -> AbstractContextManager[RelayingServer]:
    """A relay whose static route sends example.net to ``host``:the destination's port."""
    route = Destination(host, destination.port)
    return relaying_server(
        tmp_path / "relay", relay=relay_config(routes={"example.net": route}, **changes)
    )


def deferred(attempts: int) -> Callable[[list[Delivery]], bool]:
    return lambda found: (
        found[0].status is DeliveryStatus.DEFERRED and found[0].attempts >= attempts
    )


def delay_status(relay: RelayingServer) -> dict[str, str]:
    """The fields of the one report, a delay warning."""
    (report,) = reports(relay)
    (fields,) = status_fields(report)
    assert fields["Action"] == "delayed"
    return fields


# --- opportunistic TLS (RFC 7435) -------------------------------------------------------------


def test_starttls_is_used_whenever_the_destination_offers_it(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    """By default nothing is checked: the route names an address, no certificate name."""
    destination = start_destination(with_starttls(tls_certs))
    with relay_to(tmp_path, destination) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    stored, raw = destination.only()
    assert stored.origin.tls is not None
    assert stored.origin.tls.startswith("TLSv1.")
    theirs, rest = split_received(raw)
    assert " with ESMTPS " in theirs  # RFC 3848: ESMTP over TLS
    assert split_received(rest)[1] == MESSAGE


def test_a_destination_without_starttls_gets_the_mail_in_clear_by_default(
    tmp_path: Path, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    destination = start_destination(ServerConfig(hostname="dest.test"))
    with relay_to(tmp_path, destination) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    stored, _ = destination.only()
    assert stored.origin.tls is None


def test_opportunistic_tls_whose_handshake_fails_falls_back_to_clear_text(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    """RFC 7435 §1.3: a failed handshake is no reason to keep the mail: it goes in clear.

    The destination offers STARTTLS but can agree on no TLS version (its minimum is
    above its maximum), so it hangs up in the middle of the handshake, as an asyncio
    server does (no alert is sent)."""
    broken = tls_certs.server_ssl_context()
    broken.minimum_version = ssl.TLSVersion.TLSv1_3
    broken.maximum_version = ssl.TLSVersion.TLSv1_2
    destination = start_destination(ServerConfig(hostname="dest.test", tls=broken))
    with relay_to(tmp_path, destination) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id, until=lambda found: found[0].attempts >= 1)
    assert delivery.status is DeliveryStatus.DELIVERED, delivery.last_reply
    assert delivery.attempts == 1
    stored, _ = destination.only()
    assert stored.origin.tls is None


# --- required TLS ------------------------------------------------------------------------------


def test_required_tls_to_a_destination_without_starttls_defers_4_7_5_and_sends_nothing(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    destination = start_destination(ServerConfig(hostname="dest.test"))
    required = {
        "tls_required": frozenset({"example.net"}),
        "ca_file": str(tls_certs.ca_pem),
        "schedule": WARN_AT_ONCE,
    }
    with relay_to(tmp_path, destination, CERTIFIED, **required) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id, until=deferred(attempts=2))
        fields = delay_status(relay)
    why = "the server does not offer STARTTLS, and TLS is required"
    assert delivery.last_reply == f"4.7.5 {why}"
    assert delivery.remote == CERTIFIED
    assert fields["Status"] == "4.7.5"
    assert fields["Diagnostic-Code"] == f"X-smtpx; {why}"
    assert destination.count() == 0


def test_required_tls_to_an_untrusted_certificate_defers_4_7_5_and_sends_nothing(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    """No ca_file: the system's trust store, which does not know the test CA."""
    destination = start_destination(with_starttls(tls_certs))
    required = {"tls_required": frozenset({"example.net"}), "schedule": WARN_AT_ONCE}
    with relay_to(tmp_path, destination, CERTIFIED, **required) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id, until=deferred(attempts=2))
        fields = delay_status(relay)
    assert delivery.last_reply is not None
    assert delivery.last_reply.startswith("4.7.5 TLS certificate of ")
    assert delivery.last_reply.endswith(" not accepted: unable to get local issuer certificate")
    assert fields["Status"] == "4.7.5"
    assert destination.count() == 0


def test_required_tls_with_a_verified_certificate_delivers(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    destination = start_destination(with_starttls(tls_certs))
    required = {"tls_required": frozenset({"example.net"}), "ca_file": str(tls_certs.ca_pem)}
    with relay_to(tmp_path, destination, CERTIFIED, **required) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
        assert reports(relay) == []
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert delivery.remote == CERTIFIED
    stored, _ = destination.only()
    assert stored.origin.tls is not None


# --- a relay host, and its credentials (RFC 4954) -------------------------------------------------


def test_required_tls_holds_for_mail_sent_through_the_relay_host(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    """tls_required (--require-tls: "Mail for DOMAIN only over TLS with a verified
    certificate") whatever the next hop: an opportunistic relay host without
    STARTTLS must not get the mail in clear."""
    destination = start_destination(ServerConfig(hostname="dest.test"))
    config = relay_config(
        relay_host=RelayHost(Destination(CERTIFIED, destination.port)),
        tls_required=frozenset({"example.net"}),
        ca_file=str(tls_certs.ca_pem),
    )
    with relaying_server(tmp_path / "relay", relay=config) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id, until=lambda found: found[0].attempts >= 1)
    assert delivery.status is DeliveryStatus.DEFERRED
    assert destination.count() == 0


def relay_host_config(
    tls_certs: TlsCerts, destination: StoringServer, password: str
) -> dict[str, object]:
    relay_host = RelayHost(
        Destination(CERTIFIED, destination.port), TLSMode.STARTTLS, "carol", password
    )
    return {"relay_host": relay_host, "ca_file": str(tls_certs.ca_pem)}


def test_a_relay_host_gets_the_credentials_inside_verified_tls(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    users = Users.from_lines(["carol:{PLAIN}secret"])
    destination = start_destination(with_starttls(tls_certs, users))
    config = relay_config(**relay_host_config(tls_certs, destination, "secret"))
    with relaying_server(tmp_path / "relay", relay=config) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.remote == CERTIFIED
    stored, raw = destination.only()
    assert stored.origin.auth_user == "carol"
    assert stored.origin.tls is not None
    assert " with ESMTPSA " in split_received(raw)[0]  # RFC 3848: TLS and AUTH


def test_a_relay_host_refusing_the_credentials_defers_the_mail(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    """The credentials are the relay's own mistake, not the sender's: the mail waits
    for them to be fixed (as Postfix's smtp_sasl_auth_soft_bounce=yes), no report."""
    users = Users.from_lines(["carol:{PLAIN}secret"])
    destination = start_destination(with_starttls(tls_certs, users))
    config = relay_config(**relay_host_config(tls_certs, destination, "wrong"))
    with relaying_server(tmp_path / "relay", relay=config) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id, until=lambda found: found[0].attempts >= 2)
        assert reports(relay) == []
    assert delivery.status is DeliveryStatus.DEFERRED
    assert delivery.last_reply == "535 5.7.8 Authentication credentials invalid"
    assert delivery.remote == CERTIFIED
    assert destination.count() == 0


# --- connections kept (one TLS handshake for a burst) --------------------------------------------


def test_the_next_message_to_a_destination_reuses_the_kept_connection(
    tmp_path: Path, tls_certs: TlsCerts, start_destination: Callable[[ServerConfig], StoringServer]
) -> None:
    destination = start_destination(with_starttls(tls_certs))
    handler = Counting(destination.store)
    destination.server.handler = handler
    with relay_to(tmp_path, destination) as relay:
        first = submit(relay, [FAR])
        relay.settled(first)
        second = submit(relay, [FAR])
        (delivery,) = relay.settled(second)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert handler.connections == 1
    stored = destination.stored()
    assert len(stored) == 2
    assert all(message.origin.tls is not None for message in stored)
