"""What the relay tests share: a relaying server in a thread, and waiting for its queue.

Theory of operation. :class:`RelayingServer` is a :class:`~tests.server.receiver.
StoringServer` whose handler is a ``RelayHandler`` and which runs a ``QueueRunner``
on the same event loop, as ``smtpx serve --relay`` does. It takes mail for
example.org (kept here) and relays everything else for its loopback clients (a
trusted network). Its retry schedule is fast (:data:`FAST`) so a deferred
recipient is tried again within a fraction of a second.

:meth:`RelayingServer.settled` polls the store, with a deadline, until every
queued recipient of a message is delivered or failed (or until a condition on
the deliveries holds); nothing sleeps a fixed time to synchronise. :func:`submit`
sends it a message, and :func:`reports` reads back the delivery status
notifications it kept for its local sender (alice@example.org).
"""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path

from tests.peers import LOOPBACK
from tests.server.receiver import MESSAGE, SENDER, StoringServer

from smtpx.relay import QueueRunner, RelayConfig, RelayHandler, Schedule
from smtpx.server import Server, ServerConfig
from smtpx.store import Delivery, DeliveryStatus

# Waits between attempts: a deferred recipient comes back within 0.3 s.
FAST = Schedule(intervals=(0.2,), then=0.3, jitter=0.0, delay_warning=None)
SETTLE_TIMEOUT = 15.0
LOCAL_DOMAIN = "example.org"


def relay_config(**changes: object) -> RelayConfig:
    settings: dict[str, object] = {"hostname": "relay.test", "schedule": FAST}
    settings.update(changes)
    return RelayConfig(**settings)  # type: ignore[arg-type]


def server_config(**changes: object) -> ServerConfig:
    settings: dict[str, object] = {
        "hostname": "relay.test",
        "domains": frozenset({LOCAL_DOMAIN}),
        "relay": True,
        "trusted_networks": (ipaddress.ip_network("127.0.0.0/8"),),
    }
    settings.update(changes)
    return ServerConfig(**settings)  # type: ignore[arg-type]


class RelayingServer(StoringServer):
    """A relay on 127.0.0.1: ``Server(RelayHandler)`` and its ``QueueRunner``."""

    def __init__(self, data_dir: Path, config: ServerConfig, relay: RelayConfig) -> None:
        super().__init__(data_dir, config)
        handler = RelayHandler(self.store, config, max_received=relay.max_received)
        self.runner = QueueRunner(
            self.store, relay, is_local=lambda address: not handler.relays(address)
        )
        handler.queued = self.runner.wake
        self.server = Server(handler, config)

    def start(self) -> None:
        super().start()

        async def start_runner() -> None:
            self.runner.start()

        self.run(start_runner())

    def stop(self) -> None:
        try:
            self.run(self.runner.stop(deadline=5), timeout=15)
        finally:
            super().stop()

    # --- the queue ---------------------------------------------------------------------

    def deliveries(self, message_id: str) -> list[Delivery]:
        return self.run(self.store.deliveries(message_id))

    def settled(
        self,
        message_id: str,
        until: Callable[[list[Delivery]], bool] | None = None,
        timeout: float = SETTLE_TIMEOUT,
    ) -> list[Delivery]:
        """The deliveries of ``message_id`` once none is pending (or ``until`` holds)."""
        done = until or (lambda found: not any(d.status.pending for d in found))
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(message_id)
            if found and done(found):
                return found
            assert time.monotonic() < deadline, found
            time.sleep(0.02)

    def newest(self) -> str:
        """The id of the newest message in the store."""
        (stored,) = self.run(self.store.list(limit=1))
        return stored.id


def statuses(deliveries: list[Delivery]) -> dict[str, DeliveryStatus]:
    return {delivery.recipient: delivery.status for delivery in deliveries}


@contextlib.contextmanager
def relaying_server(
    data_dir: Path, config: ServerConfig | None = None, relay: RelayConfig | None = None
) -> Iterator[RelayingServer]:
    server = RelayingServer(data_dir, config or server_config(), relay or relay_config())
    try:
        server.start()
        assert server.host == LOOPBACK
        yield server
    finally:
        server.stop()


# --- submitting, and the reports that come back ----------------------------------------


def submit(
    relay: RelayingServer,
    recipients: list[str],
    data: bytes = MESSAGE,
    *,
    sender: str = SENDER,
    rcpt_options: tuple[str, ...] = (),
    **mail: str,
) -> str:
    """Send ``data`` to the relay with smtplib; the id the relay stored it under.

    MAIL parameters come as keywords (``RET="HDRS"``), RCPT's in ``rcpt_options``
    (``("NOTIFY=NEVER",)``, for every recipient); ``sender=""`` is ``MAIL FROM:<>``.
    """
    options = [f"{key.upper()}={value}" for key, value in mail.items()]
    with smtplib.SMTP(relay.host, relay.port, local_hostname="client.example", timeout=5) as smtp:
        smtp.ehlo()
        refused = smtp.sendmail(sender, recipients, data, options, list(rcpt_options))
        assert refused == {}
    return relay.newest()


def reports(relay: RelayingServer) -> list[EmailMessage]:
    """The delivery status notifications (multipart/report from <>) the relay kept,
    oldest first: those to its local sender stay in its own store."""
    found = []
    for stored in relay.stored():
        if stored.envelope.sender != "":
            continue
        parsed = message_from_bytes(relay.raw(stored.id), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        if parsed.get_content_type() == "multipart/report":
            found.append(parsed)
    return found


def status_fields(report: EmailMessage) -> list[dict[str, str]]:
    """The per-recipient blocks of a report's message/delivery-status part."""
    part = next(p for p in report.walk() if p.get_content_type() == "message/delivery-status")
    blocks = part.get_payload()
    assert isinstance(blocks, list)
    return [
        {key: str(value) for key, value in block.items()}
        for block in blocks[1:]
        if isinstance(block, Message)
    ]
