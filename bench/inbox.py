"""The inbox under load: list and search over HTTP with 100,000 messages, the wait
endpoint's latency, and receiving throughput with and without the HTTP side.

(a) Reads. A store of ``--messages`` (100,000) small varied messages is built
with bench/store_search.py's corpus and builder (in a helper process), then
``smtpx serve --data-dir THAT --http 127.0.0.1:P1 --listen 127.0.0.1:P2
--max-messages 0`` runs on it (no retention: the catch-all default would prune
to 5,000). Each request is timed over HTTP (httpx, one keep-alive connection,
the whole body read), ``--repeat`` times after two warm-up requests: the HTML
list page, the JSON first page, and the JSON first page of three searches (a
frequent word, a rarer word, ``from:``). Median and 90th percentile.

(b) Wait latency. A thread long-polls ``GET /api/v1/messages/wait?query=
subject:TOKEN&after=NEWEST&timeout=10``; once the server counts it as a listener
(``/metrics``), the main thread sends the matching message with smtplib; the
time from ``sendmail`` returning (the 250) to the wait's response being read,
``--waits`` times, each with a new token.

(c) Throughput. Postfix's smtp-source (C, ``-s 10``, 1 KB messages) against
``smtpx serve --data-dir FRESH --no-http``, against the same with ``--http``
and nothing open, and with ``--http`` and one open event stream
(``/api/v1/events``, read by a thread as a browser would); each ``--rounds``
times, alternating, best of each (the machine's speed drifts). The server's CPU
time per message (/proc/PID/stat) is printed beside each rate.

Targets (inbox issue): with 100,000 stored messages, the first page and a
typical search each <= 50 ms at the median; the wait endpoint wakes within 100
ms of the 250; receiving with the HTTP side running within 10% of without.
Loopback only; every wait is bounded.

    .venv/bin/python bench/inbox.py [--messages 100000] [--repeat 50] [--waits 30]
        [--source-messages 5000] [--only reads|throughput]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import platform
import shutil
import smtplib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from _loopback import HOST, free_port, running

BENCH_DIR = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 60.0  # a server opening a large store; smtp-source gets SOURCE_TIMEOUT
SOURCE_TIMEOUT = 600.0
WAIT_TIMEOUT = 10  # seconds the server holds a long poll

# Builds the store in a helper process with bench/store_search.py's corpus and
# builder; prints the words the searches use, as JSON.
BUILD_STORE = """
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
from store_search import Corpus, build

from smtpx.store import SQLiteStore
async def main(directory, count):
    corpus = Corpus()
    async with await SQLiteStore.open(directory) as store:
        start = time.perf_counter()
        await build(store, corpus, count)
        took = time.perf_counter() - start
        stats = await store.stats()
    print(json.dumps({"seconds": took, "bytes": stats.bytes, "disk": stats.database_bytes,
                      "typical": corpus.vocabulary[100], "rare": corpus.vocabulary[5000]}))
asyncio.run(main(sys.argv[2], int(sys.argv[3])))
"""


# --- processes ------------------------------------------------------------------------------


def smtpx_serve(data_dir: Path, smtp_port: int, http_port: int | None) -> list[str]:
    script = str(Path(sys.executable).with_name("smtpx"))
    command = [script, "serve", "--listen", f"{HOST}:{smtp_port}", "--data-dir", str(data_dir)]
    command += ["--hostname", "bench.test"]
    if http_port is None:
        return [*command, "--no-http"]
    return [*command, "--http", f"{HOST}:{http_port}"]


def build_store(data_dir: Path, count: int) -> dict[str, str | float]:
    done = subprocess.run(
        [sys.executable, "-c", BUILD_STORE, str(BENCH_DIR), str(data_dir), str(count)],
        check=True,
        capture_output=True,
        timeout=3600,
    )
    built: dict[str, str | float] = json.loads(done.stdout.decode().splitlines()[-1])
    return built


# --- (a) reads ------------------------------------------------------------------------------


def percentiles(times: list[float]) -> tuple[float, float]:
    """Median and 90th percentile, as bench/store_search.py computes them."""
    times = sorted(times)
    return statistics.median(times), times[max(int(len(times) * 0.9) - 1, 0)]


def timed_get(client: httpx.Client, url: str, repeat: int) -> tuple[float, float, httpx.Response]:
    """Median and p90 (ms) of ``repeat`` GETs of ``url`` (after two warm-ups), the last answer."""
    response = client.get(url)
    response = client.get(url)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        response.read()
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code} {response.text[:200]}")
    median, p90 = percentiles(times)
    return median, p90, response


def reads(client: httpx.Client, words: dict[str, str | float], repeat: int) -> None:
    typical, rare = words["typical"], words["rare"]
    cases = [
        ("GET / (HTML list page)", "/"),
        ("GET /api/v1/messages (first page)", "/api/v1/messages"),
        (f"query={typical} (word of rank 100)", f"/api/v1/messages?query={quote(str(typical))}"),
        (f"query={rare} (word of rank 5000)", f"/api/v1/messages?query={quote(str(rare))}"),
        (
            "query=from:user42@example.org",
            "/api/v1/messages?query=" + quote("from:user42@example.org"),
        ),
    ]
    print(f"{'request':44} {'median':>9} {'p90':>9}  result")
    for name, url in cases:
        median, p90, response = timed_get(client, url, repeat)
        if url == "/":
            shown = f"{len(response.content):,} octets"
        else:
            body = response.json()
            shown = f"{len(body['messages'])} of {body['total']:,}"
        print(f"{name:44} {median:7.2f}ms {p90:7.2f}ms  {shown}")


# --- (b) wait latency -----------------------------------------------------------------------


def listeners(client: httpx.Client) -> int:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("smtpx_inbox_listeners "):
            return int(float(line.split()[1]))
    raise SystemExit("/metrics has no smtpx_inbox_listeners")


def wait_latency(base_url: str, smtp_port: int, waits: int) -> None:
    with (
        httpx.Client(base_url=base_url, timeout=30) as client,
        httpx.Client(base_url=base_url, timeout=30) as waiter,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        smtplib.SMTP(HOST, smtp_port, "bench.test", timeout=30) as smtp,
    ):
        newest = client.get("/api/v1/messages?limit=1").json()["messages"][0]["id"]
        latencies = []
        for n in range(waits):
            token = f"waitprobe{n}x{os.getpid()}"
            url = (
                f"/api/v1/messages/wait?query=subject:{token}&after={newest}&timeout={WAIT_TIMEOUT}"
            )

            def wait(url: str = url) -> tuple[float, httpx.Response]:
                response = waiter.get(url)
                return time.perf_counter(), response

            before = listeners(client)
            future = pool.submit(wait)
            deadline = time.monotonic() + 5
            while listeners(client) <= before:
                if time.monotonic() > deadline:
                    raise SystemExit("the long poll did not reach the server in 5 s")
                time.sleep(0.005)
            head = "From: <bench@example.org>\r\nTo: <inbox@example.net>\r\n"
            message = f"{head}Subject: {token}\r\n\r\nwait probe {n}\r\n".encode()
            smtp.sendmail("bench@example.org", ["inbox@example.net"], message)
            sent = time.perf_counter()
            received, response = future.result(WAIT_TIMEOUT + 5)
            if response.status_code != 200 or response.json()["subject"] != token:
                raise SystemExit(f"wait: {response.status_code} {response.text[:200]}")
            newest = response.json()["id"]
            latencies.append((received - sent) * 1000)
    median, p90 = percentiles(latencies)
    print(
        f"wait: {len(latencies)} long polls woke {median:.1f} ms after the 250 at the median,"
        f" {p90:.1f} ms at p90 ({min(latencies):.1f} to {max(latencies):.1f} ms)"
    )


# --- (c) throughput -------------------------------------------------------------------------


class EventStream:
    """One open ``/api/v1/events`` stream, read in a thread as a browser would."""

    def __init__(self, base_url: str) -> None:
        self.events = 0
        self.resets = 0
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(30, read=60))
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> EventStream:
        self._thread.start()
        if not self._connected.wait(10):
            raise SystemExit("the event stream did not open in 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._client.close()  # ends the read in the thread
        self._thread.join(10)

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/api/v1/events") as response:
                for line in response.iter_lines():
                    self._connected.set()
                    if line.startswith("event: message"):
                        self.events += 1
                    elif line.startswith("event: reset"):
                        self.resets += 1
                    if self._stop.is_set():
                        return
        except (httpx.HTTPError, RuntimeError):
            if not self._stop.is_set():
                raise


def smtp_source(port: int, messages: int, sessions: int) -> float:
    """Messages per second smtp-source sends to ``port``."""
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    command = [source, "-d", "-s", str(sessions), "-m", str(messages), "-l", "1024"]
    command += ["-f", "bench@example.org", "-t", "inbox@example.net", f"{HOST}:{port}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, timeout=SOURCE_TIMEOUT)
    return messages / (time.perf_counter() - start)


MODES = {
    "no-http": "--no-http",
    "http": "--http, nothing open",
    "stream": "--http + 1 event stream",
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput_once(mode: str, messages: int, sessions: int) -> tuple[float, str]:
    """smtp-source's rate against a fresh ``smtpx serve`` in ``mode``; a note on the run."""
    with tempfile.TemporaryDirectory(prefix="smtpx-bench-") as directory:
        smtp_port = free_port()
        http_port = None if mode == "no-http" else free_port()
        ports = [smtp_port] if http_port is None else [smtp_port, http_port]
        with (
            running(
                smtpx_serve(Path(directory), smtp_port, http_port), ports, timeout=STARTUP_TIMEOUT
            ) as server,
            contextlib.ExitStack() as stack,
        ):
            note = ""
            stream = None
            if mode == "stream":
                stream = stack.enter_context(EventStream(f"http://{HOST}:{http_port}"))
            cpu = cpu_seconds(server.pid)
            rate = smtp_source(smtp_port, messages, sessions)
            cpu = cpu_seconds(server.pid) - cpu
            if stream is not None:
                deadline = time.monotonic() + 10
                while stream.events + stream.resets < messages and time.monotonic() < deadline:
                    time.sleep(0.05)
                note = f"; {stream.events:,} events, {stream.resets} resets on the stream"
            return rate, f"server CPU {cpu / messages * 1000:.2f} ms per message{note}"


def throughput(messages: int, sessions: int, rounds: int) -> None:
    print(f"\nsmtp-source -s {sessions}, {messages:,} messages of 1 KB, fresh store each run:")
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_ in range(rounds):
        for mode, name in MODES.items():
            rate, note = throughput_once(mode, messages, sessions)
            rates[mode].append(rate)
            print(f"  run {round_ + 1} {name:24} {rate:7,.0f} msg/s  {note}", flush=True)
    best = {mode: max(found) for mode, found in rates.items()}
    print("  best:")
    for mode, name in MODES.items():
        ratio = best[mode] / best["no-http"]
        print(f"    {name:24} {best[mode]:7,.0f} msg/s  {ratio:.3f}x --no-http")
    print("  target: --http (with the event stream) >= 0.9x --no-http")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--waits", type=int, default=30)
    parser.add_argument("--source-messages", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=["reads", "throughput"])
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" {platform.machine()}, {os.cpu_count()} CPUs"
    )
    if args.only != "throughput":
        with tempfile.TemporaryDirectory(prefix="smtpx-bench-") as directory:
            data_dir = Path(directory) / "store"
            built = build_store(data_dir, args.messages)
            print(
                f"built {args.messages:,} messages in {built['seconds']:.0f} s;"
                f" {float(built['bytes']) / 2**20:.0f} MiB of messages,"
                f" {float(built['disk']) / 2**20:.0f} MiB on disk"
            )
            smtp_port, http_port = free_port(), free_port()
            command = [*smtpx_serve(data_dir, smtp_port, http_port), "--max-messages", "0"]
            with running(command, [smtp_port, http_port], timeout=STARTUP_TIMEOUT):
                base_url = f"http://{HOST}:{http_port}"
                with httpx.Client(base_url=base_url, timeout=30) as client:
                    reads(client, built, args.repeat)
                wait_latency(base_url, smtp_port, args.waits)
    if args.only != "reads":
        throughput(args.source_messages, args.sessions, args.rounds)


if __name__ == "__main__":
    main()
