"""Receiver memory: idle connections and one large message, smtpx serve beside aiosmtpd.

(a) Idle connections. Each server runs in its own process. N clients connect one
after another, read the greeting, send EHLO, read the reply, and stay connected;
the server's VmRSS (/proc/PID/status) is read before the first and after the
last, and each connection must still answer NOOP with 250 at the end. Servers:
``smtpx serve --sink`` and aiosmtpd with a discarding handler. The Python heap
view comes from the same servers started in a helper process under tracemalloc:
traced bytes per connection, and for smtpx the lines that allocated them. Kernel
socket buffers are in neither figure (they are not in a process's RSS).

(b) One large message (50 MiB of base64 text lines): the server's peak RSS
(VmHWM, reset through /proc/PID/clear_refs just before sending) minus its RSS
before, for ``smtpx serve --data-dir`` (SQLite, fsync before the 250) with DATA
(smtplib) and with BDAT (smtpx Client: one BDAT LAST), for ``smtpx serve
--sink``, and for aiosmtpd (discarding handler, size limit raised).

Targets from the receiver issue: <= 5 KB per idle connection (aiosmtpd needs ~10
KB); 5,000 concurrent idle connections held; a 50 MB message raises peak RSS by
<= 4 MB. Loopback only; every wait is bounded.

    .venv/bin/python bench/server_memory.py [--connections 1000,5000] [--message-mib 50]
        [--heap-connections 1000] [--only idle|message]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import resource
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from _loopback import HOST, free_port, running

from smtpx.client import Client

STEP_TIMEOUT = 30.0  # seconds for one reply; a 50 MiB message gets MESSAGE_TIMEOUT
MESSAGE_TIMEOUT = 300.0
WARM_UP = 20  # connections opened and closed before the baseline: first-use allocations

AIOSMTPD_SINK = """
import sys, threading
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]),
           data_size_limit=int(sys.argv[2])).start()
threading.Event().wait()
"""

# The heap view: a server in this process, tracemalloc on; "baseline" on stdin takes
# a snapshot, "diff" prints (as JSON) what was allocated since, and where.
HEAP_HELPER = """
import asyncio, json, sys, threading, tracemalloc
tracemalloc.start(1)
kind, port = sys.argv[1], int(sys.argv[2])
if kind == "smtpx":
    from smtpx.server import Server, ServerConfig, SinkHandler
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    config = ServerConfig(hostname="bench.test", max_connections=100_000)
    server = Server(SinkHandler(), config)
    asyncio.run_coroutine_threadsafe(server.start([("127.0.0.1", port)]), loop).result(10)
else:
    from aiosmtpd.controller import Controller
    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"
    Controller(Sink(), hostname="127.0.0.1", port=port).start()
print("ready", flush=True)
mine = tracemalloc.Filter(False, tracemalloc.__file__)
baseline = None
for line in sys.stdin:
    snapshot = tracemalloc.take_snapshot().filter_traces([mine])
    if line.strip() == "baseline":
        baseline = snapshot
        print("{}", flush=True)
        continue
    stats = snapshot.compare_to(baseline, "lineno")
    top = [[str(stat.traceback[0]), stat.size_diff, stat.count_diff] for stat in stats[:10]]
    print(json.dumps({"bytes": sum(stat.size_diff for stat in stats), "top": top}), flush=True)
"""


# --- processes ------------------------------------------------------------------------------


def smtpx_serve(port: int, *options: str) -> list[str]:
    script = str(Path(sys.executable).with_name("smtpx"))
    return [script, "serve", "--listen", f"{HOST}:{port}", "--hostname", "bench.test", *options]


def status_kb(pid: int, field: str) -> int:
    """A ``kB`` line of /proc/PID/status: VmRSS (now) or VmHWM (peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> bool:
    """Set VmHWM back to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE (inherited by the servers started after); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- SMTP by hand -----------------------------------------------------------------------------


def reply(sock: socket.socket) -> bytes:
    """One whole reply (every line of a multiline one); no pipelining here."""
    data = b""
    for _ in range(1000):  # bounded: an EHLO reply is a dozen lines
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed by the server after {data!r}")
        data += chunk
        last = data.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
        if data.endswith(b"\r\n") and last[3:4] == b" ":
            return data
    raise ConnectionError(f"no end to the reply {data[:200]!r}")


def open_idle(port: int, count: int) -> list[socket.socket]:
    """``count`` connections, each greeted and answered EHLO, left idle."""
    connections: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection((HOST, port), timeout=STEP_TIMEOUT)
            connections.append(sock)
            if not reply(sock).startswith(b"220"):
                raise SystemExit("no 220 greeting")
            sock.sendall(b"EHLO client.example\r\n")
            if not reply(sock).startswith(b"250"):
                raise SystemExit("EHLO refused")
    except BaseException:
        close_all(connections)
        raise
    return connections


def still_held(connections: list[socket.socket]) -> int:
    """How many connections answer NOOP with 250."""
    held = 0
    for sock in connections:
        try:
            sock.sendall(b"NOOP\r\n")
            held += reply(sock).startswith(b"250")
        except OSError:
            pass
    return held


def close_all(connections: list[socket.socket]) -> None:
    for sock in connections:
        sock.close()


def warm_up(port: int) -> None:
    close_all(open_idle(port, WARM_UP))


# --- (a) idle connections ---------------------------------------------------------------------


@dataclass(frozen=True)
class Idle:
    server: str
    connections: int
    before_kb: int
    after_kb: int
    held: int

    @property
    def per_connection_kb(self) -> float:
        return (self.after_kb - self.before_kb) / self.connections


def idle_rss(name: str, command: list[str], port: int, count: int) -> Idle:
    with running(command, [port]) as process:
        warm_up(port)
        before = status_kb(process.pid, "VmRSS")
        connections = open_idle(port, count)
        try:
            after = status_kb(process.pid, "VmRSS")
            held = still_held(connections)
        finally:
            close_all(connections)
    return Idle(name, count, before, after, held)


@dataclass(frozen=True)
class Heap:
    per_connection: float  # bytes
    top: list[tuple[str, float]]  # allocation site, bytes per connection


def heap_view(kind: str, count: int) -> Heap:
    port = free_port()
    command = [sys.executable, "-c", HEAP_HELPER, kind, str(port)]
    with running(command, [port], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise SystemExit(f"the {kind} heap helper did not start")
        warm_up(port)
        ask(process.stdin, process.stdout, "baseline")
        connections = open_idle(port, count)
        try:
            found = ask(process.stdin, process.stdout, "diff")
        finally:
            close_all(connections)
    top = [(str(site), float(size) / count) for site, size, _ in found["top"]]
    return Heap(float(found["bytes"]) / count, top)


def ask(stdin: IO[bytes], stdout: IO[bytes], command: str) -> dict[str, Any]:
    """Send the heap helper one command; its answer (one line of JSON)."""
    stdin.write(command.encode() + b"\n")
    stdin.flush()
    answer: dict[str, Any] = json.loads(stdout.readline())
    return answer


def short_site(site: str) -> str:
    """``.../site-packages/x/y.py:12`` or ``/usr/lib/python3.11/x.py:12`` as ``x/y.py:12``."""
    for marker in ("/site-packages/", "/src/", "/python3."):
        if marker in site:
            tail = site.rsplit(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/python3." else tail
    return site


# --- (b) one large message -----------------------------------------------------------------------


def large_message(mib: int) -> bytes:
    """``mib`` MiB: a header section, then base64 text lines of 76 characters."""
    head = (
        b"From: bench@example.org\r\nTo: sink@example.net\r\nSubject: large\r\n"
        b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <large@example.org>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    size = mib * 1024 * 1024
    body = base64.encodebytes(random.Random(4).randbytes(size * 3 // 4)).replace(b"\n", b"\r\n")
    return (head + body)[: size - 2] + b"\r\n"


@dataclass(frozen=True)
class Peak:
    server: str
    sent_with: str
    before_kb: int
    peak_kb: int
    seconds: float
    reset: bool

    @property
    def increase_kb(self) -> int:
        return self.peak_kb - self.before_kb


def send_smtplib(port: int, data: bytes) -> None:
    with smtplib.SMTP(HOST, port, "client.example", timeout=MESSAGE_TIMEOUT) as smtp:
        smtp.sendmail("bench@example.org", ["sink@example.net"], data)


def send_smtpx(port: int, data: bytes) -> None:
    with Client(HOST, port, tls="none", timeout=MESSAGE_TIMEOUT) as client:
        result = client.send_message(data, "bench@example.org", ["sink@example.net"])
        if not result.ok:
            raise SystemExit(f"smtpx Client: not accepted: {result}")


SENDERS = {"smtplib (DATA)": send_smtplib, "smtpx Client (BDAT)": send_smtpx}


def peak_rss(name: str, command: list[str], port: int, sent_with: str, data: bytes) -> Peak:
    send = SENDERS[sent_with]
    with running(command, [port]) as process:
        send(port, data[:2048])  # first-use allocations: the store, the writer thread
        before = status_kb(process.pid, "VmRSS")
        reset = reset_peak(process.pid)
        start = time.perf_counter()
        send(port, data)
        seconds = time.perf_counter() - start
        peak = status_kb(process.pid, "VmHWM")
    return Peak(name, sent_with, before, peak, seconds, reset)


# --- the report ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", default="1000,5000", help="comma-separated counts")
    parser.add_argument("--heap-connections", type=int, default=1000)
    parser.add_argument("--message-mib", type=int, default=50)
    parser.add_argument("--only", choices=("idle", "message"), help="run one part")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs,")
    print(f"Linux {platform.release()}; every server in its own process, on loopback.")
    if args.only != "message":
        counts = [int(count) for count in args.connections.split(",")]
        idle_connections(counts, args.heap_connections)
    if args.only != "idle":
        one_large_message(args.message_mib)


def idle_connections(counts: list[int], heap_connections: int) -> None:
    wanted = max(counts) + WARM_UP + 256
    soft = raise_fd_limit(wanted)
    if soft < wanted:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        print(f"RLIMIT_NOFILE hard limit {hard} < {wanted}: counts cut to {soft - 256 - WARM_UP}")
        counts = [min(count, soft - 256 - WARM_UP) for count in counts]

    print("\n(a) Idle connections (greeting read, EHLO answered, then idle): server VmRSS")
    header = f"{'server':22} {'conns':>6} {'RSS before':>11} {'RSS after':>10} {'per conn':>9}"
    print(f"  {header} {'held':>11}")
    for count in counts:
        results = []
        for name in ("smtpx serve --sink", "aiosmtpd (discard)"):
            port = free_port()
            if name.startswith("smtpx"):
                command = smtpx_serve(port, "--sink", "--max-connections", str(count + 100))
            else:
                command = [sys.executable, "-c", AIOSMTPD_SINK, str(port), str(32 << 20)]
            idle = idle_rss(name, command, port, count)
            results.append(idle)
            print(
                f"  {name:22} {count:6} {idle.before_kb / 1024:8.1f} MB "
                f"{idle.after_kb / 1024:7.1f} MB {idle.per_connection_kb:6.2f} KB "
                f"{idle.held:5}/{count}"
            )
        smtpx, aiosmtpd = results
        ratio = smtpx.per_connection_kb / aiosmtpd.per_connection_kb
        print(f"  {count} connections: smtpx uses {ratio:.2f}x aiosmtpd's memory per connection")

    count = heap_connections
    print(f"\n  Python heap (tracemalloc, the same servers in a helper), {count} connections:")
    heaps = {kind: heap_view(kind, count) for kind in ("smtpx", "aiosmtpd")}
    for kind, heap in heaps.items():
        print(f"  {kind:22} {heap.per_connection / 1024:6.2f} KB per connection")
    print("  smtpx, bytes per connection by the line that allocated them (largest first):")
    for site, size in heaps["smtpx"].top:
        if size > 0:
            print(f"    {size:7.0f}  {short_site(site)}")


def one_large_message(mib: int) -> None:
    data = large_message(mib)
    print(f"\n(b) One message of {mib} MiB ({len(data):,} octets): peak RSS minus RSS before")
    header = f"{'server':28} {'sent with':20} {'before':>9} {'peak':>9} {'increase':>9}"
    print(f"  {header} {'time':>7}")
    size_limit = str(len(data) + (1 << 20))
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            ("smtpx serve (SQLite)", "smtplib (DATA)", ["--data-dir", f"{tmp}/a"]),
            ("smtpx serve (SQLite)", "smtpx Client (BDAT)", ["--data-dir", f"{tmp}/b"]),
            ("smtpx serve --sink", "smtplib (DATA)", ["--sink"]),
            ("aiosmtpd (discard)", "smtplib (DATA)", []),
        ]
        for name, sent_with, options in runs:
            port = free_port()
            if name.startswith("smtpx"):
                command = smtpx_serve(port, "--max-size", size_limit, *options)
            else:
                command = [sys.executable, "-c", AIOSMTPD_SINK, str(port), size_limit]
            peak = peak_rss(name, command, port, sent_with, data)
            note = "" if peak.reset else "  (VmHWM not reset: the peak may be from startup)"
            print(
                f"  {name:28} {sent_with:20} {peak.before_kb / 1024:6.1f} MB "
                f"{peak.peak_kb / 1024:6.1f} MB {peak.increase_kb / 1024:6.1f} MB "
                f"{peak.seconds:5.2f} s{note}"
            )


if __name__ == "__main__":
    main()
