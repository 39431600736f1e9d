"""Receiver throughput: Postfix's smtp-source sends to smtpx serve and to its peers.

smtp-source (C) sends 1 KB messages, on 1 and on 10 sessions, to: smtpx in sink
mode (accept and discard), smtpx keeping mail (SQLite, fsync before each 250,
group commit), aiosmtpd with a discarding handler, and Postfix's smtp-sink (C).
Each server runs in its own process; all are measured in the same run.

Targets (issue 4): sink mode >= 5x aiosmtpd and >= 1.0x smtp-sink at 1 and 10
sessions; durable mode >= 3x a real Postfix queue at 10 sessions
(bench/server_postfix.py measures that one).

Besides each rate, the CPU time each server process used per message (utime +
stime from /proc, all its threads), and the server engine's own cost per
transaction with no I/O at all (bench/engine.py's transaction, best of 3): the
floor under any receiver built on the engine.

    .venv/bin/python bench/server.py [--messages N]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _loopback import HOST, free_port, running
from engine import server_engine

AIOSMTPD_SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
try:
    asyncio.get_event_loop().run_until_complete(asyncio.sleep(10**6))
except KeyboardInterrupt:
    pass
"""


def servers(data_dir: Path) -> dict[str, list[str]]:
    smtpx = [str(Path(sys.executable).with_name("smtpx")), "serve", "--listen"]
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    return {
        "smtpx serve --sink": [*smtpx, "127.0.0.1:{port}", "--sink"],
        "smtpx --sink, asyncio": [*smtpx, "127.0.0.1:{port}", "--sink", "--event-loop", "asyncio"],
        "smtpx serve (SQLite)": [*smtpx, "127.0.0.1:{port}", "--data-dir", str(data_dir)],
        "aiosmtpd (discard)": [sys.executable, "-c", AIOSMTPD_SINK, "{port}"],
        "smtp-sink (C)": [sink, *user, "127.0.0.1:{port}", "1024"],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, every thread (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(command: list[str], messages: int, sessions: int) -> tuple[float, float]:
    """Messages per second, and the server's CPU microseconds per message."""
    port = free_port()
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    loader = [source, "-d", "-s", str(sessions), "-l", "1024", "-m", str(messages)]
    loader += ["-f", "bench@example.org", "-t", "sink@example.net", f"{HOST}:{port}"]
    with running([part.replace("{port}", str(port)) for part in command], [port]) as process:
        cpu = cpu_seconds(process.pid)
        start = time.perf_counter()
        subprocess.run(loader, check=True, timeout=600)
        elapsed = time.perf_counter() - start
        return messages / elapsed, (cpu_seconds(process.pid) - cpu) * 1e6 / messages


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs;")
    print(f"smtp-source sends {args.messages} messages of 1 KB")
    engine = min(server_engine(2000) for _ in range(3)) * 1e6 / 2000
    for sessions in (1, 10):
        with tempfile.TemporaryDirectory() as tmp:
            measured = {
                name: measure(command, args.messages, sessions)
                for name, command in servers(Path(tmp)).items()
            }
        print(f"\n{sessions} session{'s' if sessions > 1 else ''}:")
        for name, (rate, cpu) in measured.items():
            print(f"  {name:22} {rate:9,.0f} msg/s  {cpu:6,.0f} µs CPU per message")
        rates = {name: rate for name, (rate, _) in measured.items()}
        sink = rates["smtpx serve --sink"]
        print(
            f"  smtpx --sink: {sink / rates['aiosmtpd (discard)']:.2f}x aiosmtpd, "
            f"{sink / rates['smtp-sink (C)']:.2f}x smtp-sink"
        )
    print(f"\nthe server engine alone, no I/O: {engine:.0f} µs per transaction")


if __name__ == "__main__":
    main()
