"""smtpx.relay: store mail, then send it on to its next hop, retry, and report.

    from smtpx.relay import QueueRunner, RelayConfig, RelayHandler
    from smtpx.server import Server, ServerConfig
    from smtpx.store import SQLiteStore

    store = await SQLiteStore.open("./smtpx-data")
    runner = QueueRunner(store, RelayConfig(hostname="relay.example"))
    config = ServerConfig(hostname="relay.example", relay=True)
    handler = RelayHandler(store, config, queued=runner.wake)
    await Server(handler, config).start([("127.0.0.1", 2525)])
    runner.start()

The handler keeps each message and queues its non-local recipients in one
fsync'd commit before the 250; the runner, a task in the same process, delivers
them (static routes, a relay host, or MX), retries on a schedule, and sends
delivery status notifications (RFC 3464) to the sender.
"""

from __future__ import annotations

from ._config import RelayConfig, RelayHost, Schedule
from ._dsn import RecipientReport, compose_report, should_notify
from ._handler import HopCounter, RelayHandler
from ._nexthop import (
    Destination,
    Hop,
    HopFailure,
    NextHops,
    Resolver,
    RouteError,
    parse_host,
    parse_route,
)
from ._outbound import Outcome, Protection
from ._runner import QueueRunner

__all__ = [
    "Destination",
    "Hop",
    "HopCounter",
    "HopFailure",
    "NextHops",
    "Outcome",
    "Protection",
    "QueueRunner",
    "RecipientReport",
    "RelayConfig",
    "RelayHandler",
    "RelayHost",
    "Resolver",
    "RouteError",
    "Schedule",
    "compose_report",
    "parse_host",
    "parse_route",
    "should_notify",
]
