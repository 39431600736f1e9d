"""Counters of what a server did, for metrics (the inbox's /metrics)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Stats:
    """Totals since the server started; the connections open now are its own count."""

    connections: int = 0  # accepted since the start
    refused_connections: int = 0  # turned away with 421 (too many)
    messages: int = 0  # acknowledged with a 2yz after the content
    message_bytes: int = 0
    # Refusals by reply: "550 5.7.1" -> how many (every 4yz and 5yz sent).
    refusals: Counter[str] = field(default_factory=Counter)

    def refused(self, code: int, status: str | None) -> None:
        self.refusals[f"{code} {status}" if status else str(code)] += 1
