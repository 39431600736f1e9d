"""The relay's fixtures: ``dns_server``, a loopback DNS server (tests/peers/_dns.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.peers._dns import DnsServer


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A running DnsServer with no records; the test fills ``records`` and the faults."""
    with DnsServer() as server:
        yield server
