"""What the benchmark scripts share: loopback ports, and servers started on them.

Every server a benchmark starts listens on 127.0.0.1, on a port picked at run
time; ``running`` starts one in its own process, waits (bounded) until each of
its ports accepts connections, and stops it at the end.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[Any] | None = None, timeout: float = 20.0
) -> None:
    """Return once something accepts connections on ``port``; SystemExit if ``process``
    exits first, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listens on {HOST}:{port} after {timeout} s")
        time.sleep(0.05)


@contextmanager
def running(
    command: Sequence[str],
    ports: Sequence[int],
    *,
    timeout: float = 20.0,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
) -> Iterator[subprocess.Popen[bytes]]:
    """The server ``command`` in its own process, once every one of ``ports`` accepts
    connections (all within ``timeout``); terminated (then killed) at the end."""
    process = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        for port in ports:
            wait_for_port(port, process, max(deadline - time.monotonic(), 0.0))
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)
