"""Real SMTP peers for the test suite: smtp-sink, a real Postfix, and aiosmtpd.

Theory of operation. Every peer listens on loopback, on a port picked at run time
(:func:`free_port`), and a fixture returns only once it answers (:func:`wait_for_port`,
a bounded poll). Every wait in here has a deadline; nothing sleeps to synchronise.
A peer that is not installed fails the test with the command that installs it: in
CI a missing peer is a failure, never a skip (:func:`require_binary`).

- ``tls_certs`` (session): a trustme CA and a server certificate for
  :data:`SERVER_NAMES`, as PEM files and as ``ssl`` contexts.
- ``smtp_sink``: a factory, ``start_sink(*options, dump=False) -> Sink``, running
  Postfix's smtp-sink with fault options. See :class:`Sink` for what it advertises
  and :func:`parse_sink_dump` for its dump format.
- ``postfix`` (session) and ``fresh_postfix`` (the same server, its delivered mail
  cleared first): a real Postfix smtpd. See :class:`Postfix` for its configuration
  and :func:`strip_trace_headers` for the headers it adds.
- ``postfix_relay``: a factory, ``relay_to(port, tls=False) -> PostfixRelay``: that
  Postfix relays RELAY_DOMAIN over SMTP to 127.0.0.1:port until the test ends.
- ``aiosmtpd_server``: a factory, ``start(*, auth, auth_require_tls, tls,
  require_starttls, smtputf8) -> AiosmtpdServer``, recording every envelope.

The tests import this package as ``tests.peers``; tests/conftest.py registers it as
a plugin, so the fixtures imported here are visible to every test. One module per
peer: ``_ports`` (what every peer shares: loopback, deadlines, free_port,
wait_for_port, require_binary, PeerUnavailable), ``_tls``, ``_sink``, ``_postfix``,
``_aiosmtpd``.
"""

from __future__ import annotations

from ._aiosmtpd import AiosmtpdServer, ReceivedEnvelope, StartAiosmtpd, aiosmtpd_server
from ._ports import (
    AUTH_PASSWORD,
    AUTH_USER,
    INSTALL_HINT,
    LOOPBACK,
    MX_HOSTNAME,
    POLL_INTERVAL,
    SERVER_NAMES,
    STARTUP_TIMEOUT,
    STOP_TIMEOUT,
    PeerUnavailable,
    free_port,
    require_binary,
    wait_for_port,
)
from ._postfix import (
    PIPE_DAEMON,
    POSTFIX,
    POSTSUPER,
    RELAY_DOMAIN,
    TEST_DOMAINS,
    Postfix,
    PostfixRelay,
    RelayTo,
    fresh_postfix,
    postfix,
    postfix_relay,
    strip_trace_headers,
)
from ._sink import SMTP_SINK, Sink, SinkDump, StartSink, parse_sink_dump, smtp_sink
from ._tls import TlsCerts, tls_certs

__all__ = [
    "AUTH_PASSWORD",
    "AUTH_USER",
    "INSTALL_HINT",
    "LOOPBACK",
    "MX_HOSTNAME",
    "PIPE_DAEMON",
    "POLL_INTERVAL",
    "POSTFIX",
    "POSTSUPER",
    "RELAY_DOMAIN",
    "SERVER_NAMES",
    "SMTP_SINK",
    "STARTUP_TIMEOUT",
    "STOP_TIMEOUT",
    "TEST_DOMAINS",
    "AiosmtpdServer",
    "PeerUnavailable",
    "Postfix",
    "PostfixRelay",
    "ReceivedEnvelope",
    "RelayTo",
    "Sink",
    "SinkDump",
    "StartAiosmtpd",
    "StartSink",
    "TlsCerts",
    "aiosmtpd_server",
    "free_port",
    "fresh_postfix",
    "parse_sink_dump",
    "postfix",
    "postfix_relay",
    "require_binary",
    "smtp_sink",
    "strip_trace_headers",
    "tls_certs",
    "wait_for_port",
]
