"""How a relay is set up: where mail goes, how it is protected, how long it waits."""

from __future__ import annotations

import math
import random
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..client import Timeouts, TLSMode
from ._nexthop import Destination

DAY = 86_400.0
# The longest wait, lifetime or warning delay a Schedule takes: ten years, as the
# command line's durations (cli/_relay.py, MAX_DURATION). Beyond any real queue
# (RFC 5321 §4.5.4.1: give up after 4-5 days), and near enough that arrival + it is
# a date the store, `smtpx queue` and datetime (year 9999 at most) can all show.
LONGEST_WAIT = 3650 * DAY


@dataclass(frozen=True, slots=True)
class RelayHost:
    """A smarthost that takes every message (``--relay-host HOST:PORT``).

    ``tls`` STARTTLS or IMPLICIT verifies the certificate; AUTO is opportunistic
    (nothing verified). The command line makes credentials require STARTTLS, so
    a password never goes to a host whose name was not checked; the client never
    sends one without TLS at all.
    """

    destination: Destination
    tls: TLSMode = TLSMode.AUTO
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a deferred recipient is tried again, and when it is given up on.

    The defaults are the issue's: 1, 5, 15 and 30 minutes, an hour, then every two
    hours, for five days (RFC 5321 §4.5.4.1: retry at least 30 minutes apart, give up
    after at least 4-5 days). Each wait is moved by up to ``jitter`` of itself, so
    that mail deferred together does not come back all at once.
    """

    intervals: tuple[float, ...] = (60.0, 300.0, 900.0, 1800.0, 3600.0)
    then: float = 7200.0
    lifetime: float = 5 * DAY
    jitter: float = 0.1
    # After this long undelivered, the sender gets one "delayed" report (RFC 3464).
    delay_warning: float | None = 4 * 3600.0

    def __post_init__(self) -> None:
        # A programmer's mistake, caught here rather than as an OverflowError when
        # the queue is shown: the command line refuses these with one line first.
        waits = [*self.intervals, self.then, self.lifetime]
        if self.delay_warning is not None:
            waits.append(self.delay_warning)
        for wait in waits:
            if not (math.isfinite(wait) and 0 <= wait <= LONGEST_WAIT):
                raise ValueError(f"{wait}: a wait is 0 to {LONGEST_WAIT:.0f} seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter={self.jitter}: give a fraction from 0 to 1")

    def next_attempt(
        self, attempts: int, arrival: float, now: float, rng: random.Random
    ) -> float | None:
        """When to try again after ``attempts`` tries; None once the lifetime is over.

        The last try is at the end of the lifetime, however long the wait would be.
        """
        end = arrival + self.lifetime
        if now >= end:
            return None
        wait = self.intervals[attempts - 1] if 0 < attempts <= len(self.intervals) else self.then
        wait *= 1 + rng.uniform(-self.jitter, self.jitter)
        return min(now + wait, end)

    def warns(self, arrival: float, now: float) -> bool:
        """Whether mail that arrived at ``arrival`` is late enough for a "delayed" report."""
        return self.delay_warning is not None and now - arrival >= self.delay_warning


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Everything the queue runner needs; the command line builds it."""

    hostname: str = field(default_factory=socket.getfqdn)
    routes: Mapping[str, Destination] = field(default_factory=dict)
    relay_host: RelayHost | None = None
    # Domains whose mail goes only over TLS with a verified certificate.
    tls_required: frozenset[str] = frozenset()
    ca_file: str | None = None  # for verified TLS; the system's trust store otherwise
    schedule: Schedule = field(default_factory=Schedule)
    # Our names and addresses: an MX that is one of them is a loop (RFC 5321 §5.1).
    local_names: frozenset[str] = frozenset()
    nameservers: Sequence[tuple[str, int]] | None = None  # None: /etc/resolv.conf
    dns_timeout: float = 5.0  # seconds for one lookup, all nameservers tried
    smtp_port: int = 25  # where MX hosts are reached (tests move it)
    per_destination: int = 10  # connections to one destination at once
    concurrency: int = 100  # deliveries at once, in all
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(connect=30.0))
    keep_alive: float = 30.0  # seconds an idle connection waits for the next message
    # More Received headers than this: a loop (RFC 5321 §6.3), refused with 554 5.4.6.
    max_received: int = 50

    def __post_init__(self) -> None:
        if not (math.isfinite(self.dns_timeout) and self.dns_timeout > 0):
            raise ValueError(f"dns_timeout={self.dns_timeout}: give seconds, more than 0")
