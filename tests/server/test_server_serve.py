"""`smtpx serve` as users run it: the console script in a subprocess, and what it kept.

A running server is started on a port picked at run time and polled until it
answers; it is stopped with SIGTERM (a clean stop: exit status 0, the store closed)
or, for durability, SIGKILL. What it stored is read by opening the SQLite store on
its --data-dir in the test. Failures to start are one stderr line ("smtpx serve:
...") and a sysexits code: 64 usage, 69 cannot listen, 78 bad configuration.
"""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from tests.cli_command import NO_CONFIG, SCRIPT, one_error_line, smtpx
from tests.peers import LOOPBACK, STARTUP_TIMEOUT, STOP_TIMEOUT, free_port, wait_for_port
from tests.server.receiver import MESSAGE, RECIPIENT, SENDER, message, without_received

from smtpx.store import SQLiteStore, StoredMessage

EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_CONFIG = 78


class Serving:
    """One ``smtpx serve`` process on LOOPBACK:port, answering connections."""

    def __init__(self, data_dir: Path, log: Path, *options: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        environment = {key: value for key, value in os.environ.items() if "SMTPX_" not in key}
        environment["SMTPX_CONFIG"] = NO_CONFIG
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [str(SCRIPT), "serve", "--listen", f"{LOOPBACK}:{self.port}",
             "--data-dir", str(data_dir), "--hostname", "mx.test",
             # The inbox's default port is one for the whole machine: a test that
             # wants the inbox gives --http with a port of its own.
             *([] if "--http" in options else ["--no-http"]), *options],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=environment,
        )  # fmt: skip
        wait_for_port(LOOPBACK, self.port, time.monotonic() + STARTUP_TIMEOUT, self.process)

    def terminate(self) -> int:
        """SIGTERM, and the exit status once it has stopped."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._log.close()


class StartServe(Protocol):
    def __call__(self, data_dir: Path, *options: str) -> Serving: ...


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[StartServe]:
    """``serve(data_dir, *options)`` starts ``smtpx serve``; every one is gone at the end."""
    started: list[Serving] = []

    def start(data_dir: Path, *options: str) -> Serving:
        started.append(Serving(data_dir, tmp_path / "serve.log", *options))
        return started[-1]

    yield start
    for process in started:
        process.close()


def stored_in(data_dir: Path) -> list[tuple[StoredMessage, bytes]]:
    """Every message in the store at ``data_dir``, oldest first, with its bytes."""

    async def read() -> list[tuple[StoredMessage, bytes]]:
        store = await SQLiteStore.open(data_dir)
        try:
            found = []
            for stored in reversed(await store.list(limit=10_000)):
                raw = await store.raw(stored.id)
                assert raw is not None
                found.append((stored, raw))
            return found
        finally:
            await store.close()

    return asyncio.run(read())


def send(port: int, data: bytes = MESSAGE) -> None:
    with smtplib.SMTP(LOOPBACK, port, local_hostname="client.example", timeout=10) as smtp:
        assert smtp.sendmail(SENDER, [RECIPIENT], data) == {}


# --- running -----------------------------------------------------------------------------


def test_serve_keeps_a_message_and_stops_cleanly_on_sigterm(
    serve: StartServe, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = serve(data_dir)
    send(server.port)
    assert server.terminate() == 0
    ((stored, raw),) = stored_in(data_dir)
    assert without_received(raw) == MESSAGE
    assert stored.envelope.sender == SENDER
    assert stored.origin.helo == "client.example"
    assert b"by mx.test (smtpx) with ESMTP" in raw


def test_sigterm_with_an_idle_client_connected_stops_with_421(
    serve: StartServe, tmp_path: Path
) -> None:
    server = serve(tmp_path / "data")
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as client:
        greeting = client.recv(1024)
        assert greeting.startswith(b"220 mx.test ")
        assert server.terminate() == 0
        assert client.recv(1024).startswith(b"421 4.3.2 ")


def test_sink_accepts_and_stores_nothing(serve: StartServe, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = serve(data_dir, "--sink")
    for _ in range(3):
        send(server.port)
    assert server.terminate() == 0
    assert stored_in(data_dir) == []


# --- refusing to start -----------------------------------------------------------------------


def test_missing_tls_certificate_is_exit_78_in_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-cert.pem")
    run = smtpx("serve", "--listen", f"{LOOPBACK}:{free_port()}", "--data-dir",
                str(tmp_path / "data"), "--tls-cert", missing, "--tls-key", missing)  # fmt: skip
    assert run.code == EX_CONFIG, run
    line = one_error_line(run, "smtpx serve")
    assert "certificate" in line


def test_port_in_use_is_exit_69_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = smtpx("serve", "--listen", f"{LOOPBACK}:{port}", "--data-dir", str(tmp_path / "d"))
    assert run.code == EX_UNAVAILABLE, run
    line = one_error_line(run, "smtpx serve")
    assert "listen" in line


def test_listening_beyond_loopback_without_a_domain_is_a_usage_error(tmp_path: Path) -> None:
    """Never an open relay: a catch-all server stays on loopback."""
    run = smtpx("serve", "--listen", f"0.0.0.0:{free_port()}", "--data-dir", str(tmp_path / "d"))
    assert run.code == EX_USAGE, run
    assert "--domain" in run.stderr
    assert "Traceback" not in run.stderr


# --- durability --------------------------------------------------------------------------------


def durable(subject: str) -> bytes:
    return message(subject, f"body of {subject}\r\n" + ("x" * 70 + "\r\n") * 30)


def test_every_acknowledged_message_survives_sigkill(serve: StartServe, tmp_path: Path) -> None:
    """A 250 after the data means the message is on disk (RFC 5321 §4.1.1.4, §6.1):
    four clients send 20 messages, the server is killed after about ten 250s, and
    every message a client saw acknowledged is in the store, intact."""
    data_dir = tmp_path / "data"
    server = serve(data_dir)
    acknowledged: dict[str, bytes] = {}
    lock = threading.Lock()
    ten = threading.Event()
    errors: list[Exception] = []

    def client(number: int) -> None:
        try:
            with smtplib.SMTP(LOOPBACK, server.port, timeout=10) as smtp:
                for index in range(5):
                    subject = f"durable {number}-{index}"
                    data = durable(subject)
                    smtp.sendmail(SENDER, [RECIPIENT], data)
                    with lock:
                        acknowledged[subject] = data
                        if len(acknowledged) >= 10:
                            ten.set()
        except (smtplib.SMTPException, OSError) as error:  # the kill
            errors.append(error)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    assert ten.wait(timeout=20), (len(acknowledged), errors)
    server.kill()
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive()
    with lock:
        promised = dict(acknowledged)
    assert len(promised) >= 10
    assert errors, "every message was sent before the kill: nothing was in flight"

    # The same data directory, after the crash: the server starts and serves again.
    again = serve(data_dir)
    send(again.port, message("after the crash"))
    assert again.terminate() == 0
    kept: dict[str, bytes] = {}
    for stored, raw in stored_in(data_dir):
        assert stored.summary.subject not in kept, f"stored twice: {stored.summary.subject}"
        kept[stored.summary.subject] = without_received(raw)
    for subject, data in promised.items():
        assert kept.get(subject) == data, f"acknowledged but lost or damaged: {subject}"
    # Messages cut off by the kill may be there or not, but never in part.
    for subject, data in kept.items():
        if subject.startswith("durable "):
            assert data == durable(subject), f"stored damaged: {subject}"
    assert kept["after the crash"] == message("after the crash")
