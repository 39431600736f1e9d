"""`smtpx serve --relay` as users run it: the console script, killed, restarted, retried.

Theory of operation. The relay is the installed console script in a subprocess
(:class:`tests.server.test_server_serve.Serving`: a loopback port picked at run
time, polled until it answers; stopped with SIGTERM, or SIGKILL for a crash). Where
it relays to is a :class:`Destination` in this process: one smtpx ``Server`` in a
thread with two loopback listeners, a fast one for ``example.net`` and a slow one
for ``slow.example`` (``--route`` sends each domain to its port). The destination
keeps nothing on disk; it notes every recipient of every message it answered
after the end of the data (:class:`Reception`), and which relay process sent it:
the ``generation`` at the moment the relay connected (0 before a kill, 1 after
the restart). Messages for ``slow.example`` wait at the end of their data until the
test opens a gate, which is what makes "killed during delivery" a fact rather than
a race.

What the relay promised is read from its store (``--data-dir``), opened in this
process: while it runs (SQLite in WAL mode lets a second process in, as `smtpx
queue` does) and after it died (SIGKILL leaves no process holding it). Every wait
is a bounded poll; nothing sleeps a fixed time to synchronise.

Failures to start are one stderr line ("smtpx serve: ...") and exit 64 (EX_USAGE).
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import smtplib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from tests.cli_command import NO_CONFIG, SCRIPT, Run, one_error_line, smtpx
from tests.peers import LOOPBACK, STOP_TIMEOUT, TlsCerts, free_port
from tests.peers._dns import DnsServer
from tests.server.receiver import SENDER, message
from tests.server.test_server_serve import Serving

from smtpx.cli._relay import MAX_DURATION_DAYS
from smtpx.protocol import Reply
from smtpx.relay._runner import POLL
from smtpx.server import BaseHandler, Content, Server, ServerConfig, SessionInfo
from smtpx.store import Delivery, DeliveryStatus, SQLiteStore

T = TypeVar("T")

EX_OK = 0
EX_USAGE = 64
FAR, FAR2 = "bob@example.net", "carol@example.net"  # the fast destination
SLOW = "dave@slow.example"  # the slow destination: held at the end of the data
SLOW_DOMAIN = "slow.example"
# Seconds a relay gets to do what takes it milliseconds (deliver a batch, record it).
SETTLE_TIMEOUT = 15.0
# Seconds a bad command line gets to be refused; one that starts instead fails the
# test at this deadline rather than hanging it.
REFUSAL_TIMEOUT = 15.0
RELAY_DENIED = "5.7.1"


# --- the destination ------------------------------------------------------------------


class Collected:
    """A message's bytes in memory: the destination keeps nothing on disk."""

    def __init__(self) -> None:
        self.data = bytearray()

    @property
    def size(self) -> int:
        return len(self.data)

    def write(self, chunk: bytes) -> None:
        self.data += chunk

    def discard(self) -> None:
        self.data.clear()


@dataclass(frozen=True)
class Reception:
    """One recipient of one message the destination answered after the data."""

    generation: int  # of the relay process that sent it: 0 before a kill, 1 after
    subject: str
    recipient: str


_SUBJECT = re.compile(rb"^Subject: (.*?)\r?$", re.MULTILINE)


class Recorder(BaseHandler):
    """Takes every message (or refuses recipients with :attr:`refusal`) and notes it.

    A message with a recipient at SLOW_DOMAIN waits at the end of its data until
    :attr:`gate` is set.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.refusal: Reply | None = None
        self.gate = asyncio.Event()
        self.held = 0  # messages waiting at the gate
        self.receptions: list[Reception] = []
        self._generations: dict[tuple[str, int], int] = {}

    def on_connect(self, session: SessionInfo) -> Reply | None:
        # A relay killed before this runs never saw the greeting, so it sent nothing:
        # a message can only come on a connection whose generation is right.
        self._generations[(session.client_address, session.client_port)] = self.generation
        return None

    def on_rcpt(self, session: SessionInfo, recipient: str) -> Reply | None:
        return self.refusal

    def incoming(self) -> Content:
        return Collected()

    async def on_message(self, session: SessionInfo, content: Content) -> Reply:
        assert isinstance(content, Collected)
        generation = self._generations[(session.client_address, session.client_port)]
        recipients = [address for address, _ in session.recipients]
        if any(address.endswith("@" + SLOW_DOMAIN) for address in recipients):
            self.held += 1
            try:
                await self.gate.wait()
            finally:
                self.held -= 1
        found = _SUBJECT.search(bytes(content.data))
        subject = found[1].decode() if found else ""
        self.receptions += [Reception(generation, subject, address) for address in recipients]
        return Reply(250, "2.0.0", "OK")


class Destination:
    """A :class:`Recorder` behind two loopback listeners, in a thread of its own."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server = Server(self.recorder, ServerConfig(hostname="dest.test"))
        (_, self.fast_port), (_, self.slow_port) = self.run(
            self.server.start([(LOOPBACK, 0), (LOOPBACK, 0)])
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def call(self, function: Callable[[], T]) -> T:
        """``function()`` on the server's loop, where the recorder's state lives."""

        async def call() -> T:
            return function()

        return self.run(call())

    @property
    def routes(self) -> list[str]:
        """The relay's ``--route`` options that send each domain to its listener."""
        return [
            "--route", f"example.net={LOOPBACK}:{self.fast_port}",
            "--route", f"{SLOW_DOMAIN}={LOOPBACK}:{self.slow_port}",
        ]  # fmt: skip

    def held(self) -> int:
        return self.call(lambda: self.recorder.held)

    def receptions(self) -> list[Reception]:
        return self.call(lambda: list(self.recorder.receptions))

    def open_gate(self) -> None:
        self.loop.call_soon_threadsafe(self.recorder.gate.set)

    def next_generation(self) -> None:
        def bump() -> None:
            self.recorder.generation += 1

        self.call(bump)

    def refuse(self, refusal: Reply | None) -> None:
        def change() -> None:
            self.recorder.refusal = refusal

        self.call(change)

    def stop(self) -> None:
        self.open_gate()  # a held message would hold up the stop
        try:
            self.run(self.server.stop(deadline=5))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


@pytest.fixture
def destination() -> Iterator[Destination]:
    server = Destination()
    try:
        yield server
    finally:
        server.stop()


# --- the relay ---------------------------------------------------------------------------


class StartRelay(Protocol):
    def __call__(self, data_dir: Path, *options: str) -> Serving: ...


@pytest.fixture
def relay_log(tmp_path: Path) -> Path:
    """Where every relay of a test writes its stderr (the log)."""
    return tmp_path / "relay.log"


@pytest.fixture
def relay(relay_log: Path) -> Iterator[StartRelay]:
    """``relay(data_dir, *options)`` starts ``smtpx serve --relay``; all gone at the end."""
    started: list[Serving] = []

    def start(data_dir: Path, *options: str) -> Serving:
        started.append(Serving(data_dir, relay_log, "--relay", *options))
        return started[-1]

    yield start
    for process in started:
        process.close()


def submit(port: int, letters: dict[str, list[str]], source: str = LOOPBACK) -> dict[str, str]:
    """Send one message per subject to its recipients; subject -> the relay's id.

    Every message must get its 250 (it is then the relay's to deliver).
    """
    ids = {}
    with smtplib.SMTP(
        LOOPBACK, port, local_hostname="client.example", timeout=10, source_address=(source, 0)
    ) as smtp:
        smtp.ehlo()
        for subject, recipients in letters.items():
            assert smtp.mail(SENDER)[0] == 250
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                assert code == 250, (recipient, reply)
            code, reply = smtp.data(message(subject))
            assert code == 250, reply
            ids[subject] = reply.decode().rsplit(" ", 1)[1]  # "2.0.0 OK: queued as ID"
    return ids


Queue = dict[str, dict[str, Delivery]]


def queue_in(data_dir: Path) -> Queue:
    """The relay's queue in its store: subject -> recipient -> delivery."""

    async def read() -> Queue:
        store = await SQLiteStore.open(data_dir)
        try:
            entries = await store.queue(limit=1000)
        finally:
            await store.close()
        return {
            stored.summary.subject: {delivery.recipient: delivery for delivery in deliveries}
            for stored, deliveries in entries
        }

    return asyncio.run(read())


def delivered(queue: Queue) -> set[tuple[str, str]]:
    return {
        (subject, recipient)
        for subject, deliveries in queue.items()
        for recipient, delivery in deliveries.items()
        if delivery.status is DeliveryStatus.DELIVERED
    }


def pending(queue: Queue) -> set[tuple[str, str]]:
    return {
        (subject, recipient)
        for subject, deliveries in queue.items()
        for recipient, delivery in deliveries.items()
        if delivery.status.pending
    }


def poll(check: Callable[[], bool], what: str, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until ``check()`` holds; fail at ``timeout`` seconds, saying ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.05)


def pairs(letters: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {
        (subject, recipient) for subject, recipients in letters.items() for recipient in recipients
    }


# --- a crash during delivery ---------------------------------------------------------------


def test_sigkill_during_delivery_loses_nothing_and_resends_no_recorded_delivery(
    tmp_path: Path, destination: Destination, relay: StartRelay
) -> None:
    """The issue: kill the relay with SIGKILL while it delivers; after the restart
    every acknowledged message reaches every recipient, and a recipient the store
    had recorded as delivered is not sent again. Duplicates are allowed only for
    recipients not yet recorded at the kill (the window of the runner's docstring,
    RFC 5321 §6.1: duplicates rather than loss)."""
    data_dir = tmp_path / "relay"
    options = [*destination.routes, "--retry", "1s", "--per-destination", "10"]
    first = relay(data_dir, *options)
    # 30 messages, two recipients at the fast destination each; every third one
    # also to the slow one, where it waits at the end of its data.
    letters = {f"crash {n}": [FAR, FAR2, *([SLOW] if n % 3 == 0 else [])] for n in range(30)}
    slow = {subject for subject, recipients in letters.items() if SLOW in recipients}
    fast_only = pairs({s: r for s, r in letters.items() if s not in slow})
    assert len(submit(first.port, letters)) == 30  # every one acknowledged: 250

    poll(lambda: destination.held() == len(slow), f"{len(slow)} deliveries in flight")
    poll(lambda: fast_only <= delivered(queue_in(data_dir)), "the others recorded delivered")
    first.kill()

    at_kill = queue_in(data_dir)  # no process has the store open now
    recorded = delivered(at_kill)
    assert fast_only <= recorded
    assert not {(subject, SLOW) for subject in slow} & recorded  # in flight: not recorded
    assert set(at_kill) == set(letters)  # every acknowledged message is in the queue

    # The destination ends the held transactions (their relay is gone); then the relay
    # comes back on the same store and everything it sends from now is generation 1.
    destination.open_gate()
    poll(lambda: destination.held() == 0, "the held transactions ended")
    destination.next_generation()
    second = relay(data_dir, *options)
    poll(lambda: not pending(queue_in(data_dir)), "the queue delivered after the restart")
    assert second.terminate() == EX_OK

    final = queue_in(data_dir)
    assert delivered(final) == pairs(letters)
    receptions = destination.receptions()
    received = collections.Counter((r.subject, r.recipient) for r in receptions)
    # Nothing lost: every recipient of every acknowledged message got it.
    assert not pairs(letters) - set(received)
    # A recorded delivery was really taken before the kill, and never sent again.
    before = {(r.subject, r.recipient) for r in receptions if r.generation == 0}
    after = {(r.subject, r.recipient) for r in receptions if r.generation == 1}
    assert recorded <= before
    assert not recorded & after, sorted(recorded & after)
    duplicates = {pair for pair, count in received.items() if count > 1}
    assert not duplicates & recorded
    # The deliveries in flight at the kill were made again after the restart.
    assert {(subject, SLOW) for subject in slow} <= after


def test_a_recipient_taken_remotely_is_recorded_before_a_stalled_destination_answers(
    tmp_path: Path, destination: Destination, relay: StartRelay
) -> None:
    """The issue: "each recipient that was acknowledged remotely is not sent again".
    Bob's destination says 250 at once; Dave's stalls at the end of the data. Bob's
    delivery must be in the store while Dave's hangs (up to the client's DATA
    timeout, minutes), or a crash meanwhile sends Bob the message a second time."""
    data_dir = tmp_path / "relay"
    options = [*destination.routes, "--retry", "1s"]
    first = relay(data_dir, *options)
    submit(first.port, {"stalled": [FAR, SLOW]})
    poll(lambda: destination.held() == 1, "Dave's delivery in flight")
    poll(
        lambda: ("stalled", FAR) in {(r.subject, r.recipient) for r in destination.receptions()},
        "Bob's destination took the message",
    )
    poll(
        lambda: ("stalled", FAR) in delivered(queue_in(data_dir)),
        "Bob recorded delivered while Dave's destination stalls",
        timeout=3.0,
    )
    first.kill()
    destination.open_gate()
    poll(lambda: destination.held() == 0, "the held transaction ended")
    destination.next_generation()
    second = relay(data_dir, *options)
    poll(lambda: not pending(queue_in(data_dir)), "the queue delivered after the restart")
    assert second.terminate() == EX_OK
    again = [r for r in destination.receptions() if r.generation == 1]
    assert [r.recipient for r in again] == [SLOW]


# --- `smtpx queue retry` from another process ------------------------------------------------


def test_queue_retry_from_another_process_is_delivered_by_the_running_relay(
    tmp_path: Path, destination: Destination, relay: StartRelay
) -> None:
    """With a retry wait of an hour, only `smtpx queue retry` explains a delivery
    within seconds: the runner looks at the store every POLL seconds."""
    data_dir = tmp_path / "relay"
    destination.refuse(Reply(451, "4.3.0", "Try again later"))
    running = relay(data_dir, *destination.routes, "--retry", "1h")
    message_id = submit(running.port, {"retried": [FAR]})["retried"]

    poll(lambda: queue_in(data_dir)["retried"][FAR].attempts == 1, "the first attempt refused")
    deferred = queue_in(data_dir)["retried"][FAR]
    assert deferred.status is DeliveryStatus.DEFERRED
    assert deferred.last_reply == "451 4.3.0 Try again later"
    assert deferred.next_attempt is not None
    assert deferred.next_attempt > time.time() + 3000  # an hour, less the jitter

    destination.refuse(None)
    run = smtpx("queue", "retry", message_id, "--data-dir", str(data_dir))
    assert (run.code, run.stdout, run.stderr) == (EX_OK, "rescheduled 1 recipient: due now\n", "")
    # The runner's next look at the store (POLL seconds at most), then one delivery.
    poll(
        lambda: ("retried", FAR) in delivered(queue_in(data_dir)),
        "delivered after `smtpx queue retry`",
        timeout=POLL + 3,
    )
    assert running.terminate() == EX_OK
    done = queue_in(data_dir)["retried"][FAR]
    assert (done.attempts, done.last_reply) == (2, "250 2.0.0 OK")
    assert [r.recipient for r in destination.receptions()] == [FAR]


# --- trouble with the DNS ------------------------------------------------------------------


def silent_udp_port() -> int:
    """A UDP port nothing listens on (free a moment ago): a DNS server that never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("fault", ["no answer", "SERVFAIL"])
def test_dns_trouble_defers_with_4_4_3_and_keeps_the_message(
    tmp_path: Path, relay: StartRelay, fault: str
) -> None:
    """RFC 5321 §5.1: a temporary DNS error queues the message to be retried. The
    recipient is deferred, the reason is in `smtpx queue show`, nothing is lost."""
    data_dir = tmp_path / "relay"
    nowhere = "erin@nowhere.example"  # no route, no relay host: its MX is looked up
    with DnsServer() as dns:
        dns.servfail.add("nowhere.example")
        port = silent_udp_port() if fault == "no answer" else dns.port
        running = relay(data_dir, "--dns-server", f"{LOOPBACK}:{port}", "--retry", "1h",
                        "--dns-timeout", "1s")  # fmt: skip
        message_id = submit(running.port, {"dns": [nowhere]})["dns"]
        poll(
            lambda: queue_in(data_dir)["dns"][nowhere].attempts == 1,
            "the MX lookup failed",
            timeout=1 + 5,
        )
        run = smtpx("queue", "show", message_id, "--data-dir", str(data_dir))
        assert running.terminate() == EX_OK
    assert run.code == EX_OK, run.stderr
    record = {
        name.strip(): value.strip()
        for name, _, value in (line.partition(": ") for line in run.lines if line.startswith("  "))
    }
    assert record["status"] == "deferred"
    assert record["attempts"] == "1"
    assert record["next attempt"] != "-"
    assert "cannot look up the MX records of nowhere.example" in record["last reply"]
    # Still there after the relay stopped, still to be sent.
    assert pending(queue_in(data_dir)) == {("dns", nowhere)}
    # RFC 3463 X.4.3, "Directory server failure": what Postfix logs as dsn=4.4.3.
    assert "4.4.3" in record["last reply"], record["last reply"]


# --- who may relay ---------------------------------------------------------------------------


def test_loopback_clients_relay_by_default_and_each_delivery_is_logged(
    tmp_path: Path, destination: Destination, relay: StartRelay, relay_log: Path
) -> None:
    """As Postfix's mynetworks: with no --trusted-network, programs on this machine
    (127.0.0.0/8, any address in it) may relay; the log has a line per recipient."""
    data_dir = tmp_path / "relay"
    running = relay(data_dir, *destination.routes)
    submit(running.port, {"from 127.0.0.1": [FAR]})
    submit(running.port, {"from 127.0.0.2": [FAR2]}, source="127.0.0.2")
    poll(lambda: not pending(queue_in(data_dir)), "both delivered")
    assert running.terminate() == EX_OK
    log = relay_log.read_text()
    assert "smtpx serve: relaying mail for other domains" in log
    assert f"to=<{FAR}> via {LOOPBACK}: 250 2.0.0 OK" in log
    assert f"to=<{FAR2}> via {LOOPBACK}: 250 2.0.0 OK" in log
    assert "Traceback" not in log
    assert sorted((r.subject, r.recipient) for r in destination.receptions()) == [
        ("from 127.0.0.1", FAR),
        ("from 127.0.0.2", FAR2),
    ]


def test_relay_beyond_loopback_needs_no_domain_but_refuses_untrusted_clients(
    tmp_path: Path, relay: StartRelay
) -> None:
    """Beyond loopback a plain `smtpx serve` needs --domain (no catch-all there); a
    relay has no catch-all, so it starts, and still relays only for its trusted
    clients (RFC 5321 §3.6.1) and for --relay-domain. A non-loopback client cannot be
    made here, so the trusted network is narrowed to 127.0.0.1/32 and the untrusted
    client connects from 127.0.0.2, to the wildcard listener."""
    wildcard = free_port()
    running = relay(
        tmp_path / "relay",
        "--listen", f"0.0.0.0:{wildcard}",
        "--trusted-network", "127.0.0.1/32",
        "--relay-domain", "example.com",
    )  # fmt: skip
    assert running.process.poll() is None
    with smtplib.SMTP(
        LOOPBACK, wildcard, local_hostname="client.example", timeout=10,
        source_address=("127.0.0.2", 0),
    ) as smtp:  # fmt: skip
        smtp.ehlo()
        assert smtp.mail(SENDER)[0] == 250
        code, reply = smtp.rcpt(FAR)
        assert (code, reply.split()[0].decode()) == (550, RELAY_DENIED)
        assert smtp.rcpt("anyone@example.com")[0] == 250  # --relay-domain: anyone may
        assert smtp.rcpt("postmaster")[0] == 250  # RFC 5321 §4.5.1: always taken
    with smtplib.SMTP(LOOPBACK, wildcard, timeout=10) as smtp:  # from 127.0.0.1: trusted
        smtp.ehlo()
        assert smtp.mail(SENDER)[0] == 250
        assert smtp.rcpt(FAR)[0] == 250
    assert running.terminate() == EX_OK


# --- the longest waits, and a CA file ------------------------------------------------------------


def test_the_longest_retry_and_lifetime_keep_the_queue_readable(
    tmp_path: Path, relay: StartRelay
) -> None:
    """Ten years (the bound on every duration) is a wait `smtpx queue list` can show:
    a --retry of 10^26 days was once accepted, and the list then died of OverflowError."""
    data_dir = tmp_path / "relay"
    nowhere = free_port()  # nothing listens: the first attempt is deferred
    longest = f"{MAX_DURATION_DAYS}d"
    running = relay(data_dir, "--route", f"far.test=127.0.0.1:{nowhere}",
                    "--retry", longest, "--max-lifetime", longest)  # fmt: skip
    submit(running.port, {"longest": ["bob@far.test"]})
    poll(lambda: queue_in(data_dir)["longest"]["bob@far.test"].attempts >= 1, "one attempt")
    run = smtpx("queue", "list", "--data-dir", str(data_dir))
    assert run.code == EX_OK, run
    assert "bob@far.test" in run.stdout
    assert running.terminate() == EX_OK


def test_a_relay_ca_file_that_loads_is_taken(
    tmp_path: Path, relay: StartRelay, tls_certs: TlsCerts
) -> None:
    """The CA file is loaded at startup now (a bad one is 78): a good one still starts."""
    running = relay(tmp_path / "relay", "--require-tls", "far.test",
                    "--relay-ca-file", str(tls_certs.ca_pem))  # fmt: skip
    assert running.terminate() == EX_OK


# --- refusing to start -------------------------------------------------------------------------


def clean_environment() -> dict[str, str]:
    """As tests.cli_command runs smtpx: no $SMTPX_* of the caller, no config file."""
    environment = {key: value for key, value in os.environ.items() if "SMTPX_" not in key}
    environment["SMTPX_CONFIG"] = NO_CONFIG
    return environment


def refused(data_dir: Path, *options: str) -> Run:
    """``smtpx serve`` with ``options``, which must end it before it serves."""
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--listen", f"{LOOPBACK}:{free_port()}",
         "--data-dir", str(data_dir), *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=REFUSAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate(timeout=STOP_TIMEOUT)
    else:
        return Run(process.returncode, stdout, stderr)
    pytest.fail(f"smtpx serve {' '.join(options)}: started instead of refusing:\n{stderr}")


RELAY_HOST = ["--relay-host", "smtp.example.net:587"]
RELAY_USER = ["--relay-user", "alice", "--relay-password-env", "PATH"]  # $PATH is set
STARTTLS = ["--relay-host-tls", "starttls"]
# A line break in the user name would end the AUTH command early.
CRLF_USER = ["--relay-user", "a\r\nb", "--relay-password-env", "PATH"]
BAD_OPTIONS = {
    "route without =": (["--relay", "--route", "example.net"], "bad route 'example.net'"),
    "route port": (["--relay", "--route", "example.net=127.0.0.1:99999"], "port 99999"),
    "relay host port": (["--relay", "--relay-host", "smtp.example.net:smtp"], "port 'smtp'"),
    "relay user without password": (
        ["--relay", *RELAY_HOST, "--relay-user", "alice"],
        "give --relay-user with --relay-password-env or --relay-password-file",
    ),
    "relay user with tls auto": (
        ["--relay", *RELAY_HOST, *RELAY_USER, "--relay-host-tls", "auto"],
        "--relay-user needs --relay-host-tls starttls or implicit",
    ),
    "relay user without relay host": (
        ["--relay", "--relay-user", "alice"],
        "--relay-user, --relay-password-* and --relay-host-tls need --relay-host",
    ),
    "relay and sink": (["--relay", "--sink"], "not with --sink"),
    "retry unit": (["--relay", "--retry", "1m,5x"], "'5x': give a duration"),
    "retry empty": (["--relay", "--retry", ","], "give waits of at least 1s"),
    "retry zero": (["--relay", "--retry", "0"], "give waits of at least 1s"),
    "dns timeout": (["--relay", "--dns-timeout", "soon"], "'soon': give a duration"),
    "dns server port": (["--relay", "--dns-server", "127.0.0.1:dns"], "port 'dns'"),
    "dns server bare ipv6": (["--relay", "--dns-server", "::1"], "brackets"),
    # dnspython asks nameservers by IP address only: a name would never be asked,
    # every MX lookup deferred with "no answer from the DNS".
    "dns server name": (["--relay", "--dns-server", "localhost:53"], "--dns-server"),
    # Without --relay these would be ignored, and mail for example.net kept here.
    "route without relay": (["--route", "example.net=127.0.0.1:25"], "--relay"),
    "retry without relay": (["--retry", "bogus"], "--retry is for relaying: add --relay"),
    "mx port without relay": (["--mx-port", "2525"], "--mx-port is for relaying: add --relay"),
    # Once 0 became 5 seconds without a word; a lookup that may take no time cannot work.
    "dns timeout zero": (["--relay", "--dns-timeout", "0"], "give at least 0.1s"),
    "retry over ten years": (["--relay", "--retry", "3651d"], f"at most {MAX_DURATION_DAYS}d"),
    "require tls not a domain": (["--relay", "--require-tls", "a b"], "give a domain"),
    "relay user crlf": (["--relay", *RELAY_HOST, *STARTTLS, *CRLF_USER], "no control characters"),
}


@pytest.mark.parametrize(("options", "says"), BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_a_bad_relay_option_is_exit_64_in_one_line(
    tmp_path: Path, options: list[str], says: str
) -> None:
    data_dir = tmp_path / "data"
    run = refused(data_dir, *options)
    assert run.code == EX_USAGE, run
    assert says in one_error_line(run, "smtpx serve")
    assert not data_dir.exists()  # refused before the store was touched
