"""Sender throughput against Postfix's smtp-sink, smtpx beside the peers users compare.

10,000 messages of 1 KB over one connection, then over 10 connections, sent by
smtpx's AsyncClient and Client (with send_messages, which pipelines each
message's envelope behind the previous one's content), smtplib, aiosmtplib and
Postfix's smtp-source (C), all measured in this run against the same smtp-sink
on loopback. Prints messages/s and smtpx's ratio to each peer.

Targets (issue 3): on one connection smtpx >= 1.5x smtp-source and >= 2x
smtplib; on 10 connections smtpx async >= smtp-source -s 10.

Besides each rate, the sender's CPU time per message (getrusage: this process
for the Python senders, the finished child for smtp-source), and the client
engine's own cost per transaction with no I/O (bench/engine.py, best of 3).

    .venv/bin/python bench/client.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import shutil
import smtplib
import subprocess
import threading
import time
from collections.abc import Callable

import aiosmtplib
from _loopback import HOST, free_port, wait_for_port
from engine import client_engine

from smtpx.client import AsyncClient, Client, SendResult

SENDER, RECIPIENT = "bench@example.org", "sink@example.net"
LINE = b"x" * 62 + b"\r\n"
MESSAGE = b"Subject: bench\r\nFrom: bench@example.org\r\nTo: sink@example.net\r\n\r\n"
MESSAGE += LINE * ((1024 - len(MESSAGE)) // len(LINE))


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = subprocess.Popen([sink, *user, f"{HOST}:{port}", "1024"])
    try:
        wait_for_port(port, process)
    except SystemExit:
        process.kill()
        raise
    return process, port


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def smtpx_async(port: int, total: int, connections: int) -> None:
    async def one(count: int) -> None:
        async with AsyncClient("127.0.0.1", port, tls="none") as client:
            outcomes = await client.send_messages([(MESSAGE, SENDER, [RECIPIENT])] * count)
            assert all(isinstance(outcome, SendResult) for outcome in outcomes)

    async def run() -> None:
        await asyncio.gather(*(one(n) for n in split(total, connections)))

    asyncio.run(run())


def smtpx_blocking(port: int, total: int, connections: int) -> None:
    def one(count: int) -> None:
        with Client("127.0.0.1", port, tls="none") as client:
            outcomes = client.send_messages([(MESSAGE, SENDER, [RECIPIENT])] * count)
            assert all(isinstance(outcome, SendResult) for outcome in outcomes)

    threaded(one, total, connections)


def smtplib_blocking(port: int, total: int, connections: int) -> None:
    def one(count: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as client:
            for _ in range(count):
                client.sendmail(SENDER, [RECIPIENT], MESSAGE)

    threaded(one, total, connections)


def aiosmtplib_async(port: int, total: int, connections: int) -> None:
    async def one(count: int) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        async with client:
            for _ in range(count):
                await client.sendmail(SENDER, [RECIPIENT], MESSAGE)

    async def run() -> None:
        await asyncio.gather(*(one(n) for n in split(total, connections)))

    asyncio.run(run())


def smtp_source(port: int, total: int, connections: int) -> None:
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    command = [source, "-d", "-s", str(connections), "-l", "1024", "-m", str(total)]
    command += ["-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"]
    subprocess.run(command, check=True, timeout=600)


def cpu_seconds() -> float:
    """CPU time of this process and of its children that finished (smtp-source)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def threaded(one: Callable[[int], None], total: int, connections: int) -> None:
    threads = [threading.Thread(target=one, args=(n,)) for n in split(total, connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


CONTENDERS: dict[str, Callable[[int, int, int], None]] = {
    "smtpx AsyncClient": smtpx_async,
    "smtpx Client": smtpx_blocking,
    "smtp-source (C)": smtp_source,
    "smtplib": smtplib_blocking,
    "aiosmtplib": aiosmtplib_async,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    total = args.messages
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs;")
    print(f"{total} messages of {len(MESSAGE)} octets to smtp-sink on loopback")
    engine = min(client_engine(2000) for _ in range(3)) * 1e6 / 2000
    print(f"the client engine alone, no I/O: {engine:.0f} µs per transaction")
    sink, port = start_sink()
    try:
        for connections in (1, 10):
            print(f"\n{connections} connection{'s' if connections > 1 else ''}:")
            rates: dict[str, float] = {}
            for name, send in CONTENDERS.items():
                cpu = cpu_seconds()
                start = time.perf_counter()
                send(port, total, connections)
                rates[name] = total / (time.perf_counter() - start)
                used = (cpu_seconds() - cpu) * 1e6 / total
                print(f"  {name:18} {rates[name]:10,.0f} msg/s  {used:5,.0f} µs CPU per message")
            for mine in ("smtpx AsyncClient", "smtpx Client"):
                ratios = ", ".join(
                    f"{rates[mine] / rates[peer]:.2f}x {peer}"
                    for peer in ("smtp-source (C)", "smtplib", "aiosmtplib")
                )
                print(f"  {mine}: {ratios}")
    finally:
        sink.kill()
        sink.wait()


if __name__ == "__main__":
    main()
