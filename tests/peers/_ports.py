"""What every peer shares: where it listens, who it is, how long it may take to start.

Every peer listens on :data:`LOOPBACK`, on a port picked at run time
(:func:`free_port`), and its fixture returns only once it answers
(:func:`wait_for_port`, a bounded poll that raises :class:`PeerUnavailable`). A peer
that is not installed fails the test with the command that installs it
(:func:`require_binary`). Also here: stopping a peer process we started, and the
unprivileged user ``nobody`` that smtp-sink and Postfix's pipe(8) run as.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
# The names the test server certificate covers; Postfix and aiosmtpd greet as MX_HOSTNAME.
SERVER_NAMES = ("localhost", "127.0.0.1", "::1", "mx.example")
MX_HOSTNAME = "mx.example"
# The one account every AUTH-capable peer accepts.
AUTH_USER = "alice"
AUTH_PASSWORD = "wonderland"

# Postfix is up in under 1 s here, checks included; the rest is headroom for a loaded CI.
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.01
INSTALL_HINT = (
    "run `make peers` as root (it installs postfix, swaks, msmtp, curl, libnet-ssleay-perl "
    "and chromium)"
)


class PeerUnavailable(Exception):
    """A peer did not start, or did not answer within its deadline."""


def require_binary(path: Path, package: str) -> None:
    """Fail (never skip) the calling test when a peer's program is not installed."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} is missing (Debian package {package!r}): {INSTALL_HINT}", pytrace=False
        )


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago (bind to port 0, ask, release)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(
    host: str, port: int, deadline: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Return once ``host:port`` accepts a TCP connection; raise PeerUnavailable at ``deadline``.

    ``deadline`` is a :func:`time.monotonic` instant, e.g. ``time.monotonic() + 5``.
    With ``process``, give up as soon as that process exits (a peer that failed to
    bind does not come back).
    """
    while True:
        if process is not None and process.poll() is not None:
            raise PeerUnavailable(f"{process.args!r} exited with status {process.returncode}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PeerUnavailable(f"nothing accepted connections on {host}:{port} in time")
        try:
            with socket.create_connection((host, port), timeout=remaining):
                return
        except OSError:
            time.sleep(min(POLL_INTERVAL, max(remaining, 0.0)))


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a peer we started and reap it: SIGTERM, then SIGKILL after STOP_TIMEOUT."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _nobody() -> tuple[int, int, str]:
    """uid, gid and group name of ``nobody``, the unprivileged user of smtp-sink and pipe(8)."""
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid, grp.getgrgid(entry.pw_gid).gr_name


def _dir_for_nobody(prefix: str) -> Path:
    """A new directory ``nobody`` can write to (pytest's own tmp dirs are root-only, 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if os.geteuid() == 0:
        uid, gid, _ = _nobody()
        os.chown(path, uid, gid)
    return path
