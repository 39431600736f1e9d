"""Prometheus metrics (``GET /metrics``), written by prometheus_client.

Theory of operation: the values are read when Prometheus asks (the store's
totals, the server's counters), put in a registry made for that one answer, and
written in the text exposition format by the library.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..server import Server
from ..store import StoreStats
from ._live import Hub


class _Snapshot(Collector):
    def __init__(self, stats: StoreStats, server: Server | None, hub: Hub) -> None:
        self.stats = stats
        self.server = server
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        yield GaugeMetricFamily("smtpx_messages_stored", "Messages in the store.", stats.messages)
        yield GaugeMetricFamily(
            "smtpx_store_message_bytes", "Octets of the stored messages.", stats.bytes
        )
        yield GaugeMetricFamily(
            "smtpx_store_file_bytes", "Octets of the store's files on disk.", stats.database_bytes
        )
        yield GaugeMetricFamily(
            "smtpx_inbox_listeners", "Open event streams and long polls.", self.hub.listeners
        )
        server = self.server
        if server is None:
            return
        counters = server.stats
        yield CounterMetricFamily(
            "smtpx_smtp_connections", "SMTP connections accepted.", counters.connections
        )
        yield CounterMetricFamily(
            "smtpx_smtp_connections_refused",
            "SMTP connections turned away (too many).",
            counters.refused_connections,
        )
        yield GaugeMetricFamily(
            "smtpx_smtp_connections_open", "SMTP connections open now.", len(server.connections)
        )
        yield CounterMetricFamily(
            "smtpx_messages_accepted", "Messages acknowledged with 250.", counters.messages
        )
        yield CounterMetricFamily(
            "smtpx_message_bytes_accepted",
            "Octets of the messages acknowledged.",
            counters.message_bytes,
        )
        refused = CounterMetricFamily(
            "smtpx_replies_refused",
            "Replies of class 4 and 5 sent, by code and enhanced status.",
            labels=["reply"],
        )
        for reply, count in sorted(counters.refusals.items()):
            refused.add_metric([reply], count)
        yield refused


def metrics_text(stats: StoreStats, server: Server | None, hub: Hub) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(stats, server, hub))
    return generate_latest(registry)
