"""smtpx: move email over SMTP.

A sender (client), a receiver (server) and a relay, all built on one sans-IO
protocol engine (`smtpx.protocol`) that turns bytes into events and events into
bytes without doing any I/O itself. See DESIGN.md for the map.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("smtpx")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
