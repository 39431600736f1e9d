"""The relay between two smtpx servers: a client sends to the relay, which sends on.

Each test starts a relay (:mod:`tests.relay.relaying`) and a destination, another
smtpx receiver that stores what it gets, on loopback ports picked at run time,
joined by a static route. Mail for example.org stays on the relay (its local
domain), so delivery status notifications to alice@example.org are kept there
and read back. The destination's handler may refuse on purpose, to see retries
and bounces with a real server's replies.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from tests.peers import LOOPBACK
from tests.relay.relaying import (
    LOCAL_DOMAIN,
    RelayingServer,
    relay_config,
    relaying_server,
    reports,
    status_fields,
    statuses,
    submit,
)
from tests.server.receiver import MESSAGE, SENDER, StoringServer, split_received

from smtpx.protocol import Reply
from smtpx.relay import Destination
from smtpx.server import ServerConfig, SessionInfo, StoringHandler
from smtpx.store import DeliveryStatus

FAR = "bob@example.net"
FAR2 = "carol@example.net"


class Fussy(StoringHandler):
    """A destination that refuses some recipients: always, or the first N times."""

    def __init__(self, store: object, refusals: dict[str, list[Reply]]) -> None:
        super().__init__(store)  # type: ignore[arg-type]
        self.refusals = refusals

    def on_rcpt(self, session: SessionInfo, recipient: str) -> Reply | None:
        planned = self.refusals.get(recipient)
        if not planned:
            return None
        return planned[0] if len(planned) == 1 else planned.pop(0)


@pytest.fixture
def destination(tmp_path: Path) -> Iterator[StoringServer]:
    server = StoringServer(tmp_path / "destination", ServerConfig(hostname="dest.test"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def relay_to(
    tmp_path: Path, destination: StoringServer, **changes: object
) -> AbstractContextManager[RelayingServer]:
    route = Destination(LOOPBACK, destination.port)
    return relaying_server(
        tmp_path / "relay", relay=relay_config(routes={"example.net": route}, **changes)
    )


def test_relayed_bytes_arrive_intact_below_two_received_headers(
    tmp_path: Path, destination: StoringServer
) -> None:
    with relay_to(tmp_path, destination) as relay:
        message_id = submit(relay, [FAR, FAR2])
        deliveries = relay.settled(message_id)
    assert statuses(deliveries) == {FAR: DeliveryStatus.DELIVERED, FAR2: DeliveryStatus.DELIVERED}
    assert all(
        d.last_reply and d.last_reply.startswith("250 2.0.0 OK: queued as ") for d in deliveries
    )
    assert {d.remote for d in deliveries} == {LOOPBACK}
    assert all(d.attempts == 1 for d in deliveries)
    stored, raw = destination.only()  # two recipients of one destination: one transaction
    assert [r.address for r in stored.envelope.recipients] == [FAR, FAR2]
    assert stored.envelope.sender == SENDER
    assert stored.origin.helo == "relay.test"
    theirs, rest = split_received(raw)
    assert "from relay.test ([127.0.0.1])" in theirs
    ours, original = split_received(rest)
    assert "by relay.test (smtpx)" in ours
    assert original == MESSAGE


def test_local_recipients_are_kept_and_only_the_others_relayed(
    tmp_path: Path, destination: StoringServer
) -> None:
    with relay_to(tmp_path, destination) as relay:
        message_id = submit(relay, [FAR, f"dave@{LOCAL_DOMAIN}"])
        deliveries = relay.settled(message_id)
    assert [d.recipient for d in deliveries] == [FAR]
    stored, _ = destination.only()
    assert [r.address for r in stored.envelope.recipients] == [FAR]


def test_a_4xx_defers_and_the_retry_delivers(tmp_path: Path, destination: StoringServer) -> None:
    later = Reply(451, "4.3.0", "busy, try later")
    destination.server.handler = Fussy(
        destination.store, {FAR: [later, later, Reply(250, "2.1.5", "OK")]}
    )
    with relay_to(tmp_path, destination) as relay:
        message_id = submit(relay, [FAR])
        first = relay.settled(message_id, until=lambda found: found[0].attempts >= 1)
        (delivery,) = relay.settled(message_id)
        assert reports(relay) == []
    assert first[0].status in (DeliveryStatus.DEFERRED, DeliveryStatus.DELIVERED)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 3
    _, raw = destination.only()
    assert split_received(split_received(raw)[1])[1] == MESSAGE


def test_permanent_refusal_fails_the_recipient_and_reports_to_the_sender(
    tmp_path: Path, destination: StoringServer
) -> None:
    destination.server.handler = Fussy(
        destination.store, {FAR2: [Reply(550, "5.1.1", f"<{FAR2}>: no such user")]}
    )
    with relay_to(tmp_path, destination) as relay:
        message_id = submit(relay, [FAR, FAR2], RET="HDRS", ENVID="env-42")
        deliveries = relay.settled(message_id)
        found = reports(relay)
        stored_report = next(s for s in relay.stored() if s.envelope.sender == "")
    assert statuses(deliveries) == {FAR: DeliveryStatus.DELIVERED, FAR2: DeliveryStatus.FAILED}
    failed = next(d for d in deliveries if d.recipient == FAR2)
    assert failed.last_reply == f"550 5.1.1 <{FAR2}>: no such user"
    assert failed.next_attempt is None
    (report,) = found
    assert report["To"] == SENDER
    assert report.get_content_type() == "multipart/report"
    (fields,) = status_fields(report)
    assert fields["Final-Recipient"] == f"rfc822; {FAR2}"
    assert fields["Action"] == "failed"
    assert fields["Status"] == "5.1.1"
    assert fields["Remote-MTA"] == f"dns; {LOOPBACK}"
    assert fields["Diagnostic-Code"] == f"smtp; 550 5.1.1 <{FAR2}>: no such user"
    returned = list(report.walk())[-1]
    assert returned.get_content_type() == "text/rfc822-headers"  # RET=HDRS
    assert [r.address for r in stored_report.envelope.recipients] == [SENDER]


def test_notify_never_sends_no_report_and_success_is_left_to_a_dsn_peer(
    tmp_path: Path, destination: StoringServer
) -> None:
    destination.server.handler = Fussy(
        destination.store, {FAR2: [Reply(550, "5.1.1", "no such user")]}
    )
    with relay_to(tmp_path, destination) as relay, smtplib.SMTP(relay.host, relay.port) as smtp:
        smtp.ehlo()
        smtp.mail(SENDER)
        assert smtp.rcpt(FAR, ["NOTIFY=SUCCESS"])[0] == 250
        assert smtp.rcpt(FAR2, ["NOTIFY=NEVER"])[0] == 250
        assert smtp.data(MESSAGE)[0] == 250
        message_id = relay.newest()
        relay.settled(message_id)
        assert reports(relay) == []  # smtpx offers DSN: the destination reports success
    stored, _ = destination.only()
    assert stored.envelope.recipients[0].params == (("NOTIFY", "SUCCESS"),)
