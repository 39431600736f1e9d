"""Durable receiving: smtpx serve (SQLite, fsync before 250) beside a real Postfix queue.

Postfix's smtp-source (C, no pipelining, 1 KB messages, ``-s 10``) sends to:

- a real Postfix 3.7 of its own: a second instance with its own configuration,
  queue and data directories in a temporary directory under /tmp (``postfix -c
  DIR start``; /etc/postfix and the machine's default instance are not touched).
  smtpd accepts mail for example.net from loopback and answers 250 once cleanup(8)
  has written the queue file and fsynced it; qmgr(8) then hands each message to
  the discard(8) transport, so the queue drains on the machine and nothing leaves
  it. master.cf is Debian's master.cf.dist with smtpd on a port picked at run time
  and nothing chrooted; main.cf sets ``in_flow_delay = 0`` (no pause when arrivals
  outpace deliveries: Postfix's best case for accepting);
- ``smtpx serve --data-dir FRESH`` (SQLite, fsync before each 250, group
  commit), with its HTTP side on a port picked at run time as shipped, and with
  ``--no-http``.

Each server is measured ``--rounds`` times, alternating, each time on a fresh
queue or store; the best of each is reported (the machine's speed drifts). The
Postfix queue is left to drain (not timed) before the next run.

Target (receiver issue): durable mode >= 3x a real Postfix instance accepting
into its queue, at 10 sessions.

Needs root (Postfix's master). A CI run of the test suite rewrites /etc/postfix
and starts the default instance; with ``--after FILE`` the script first waits
(polling every 10 s, 20 minutes at most) until FILE has a line starting with
``exit=``. It refuses to run while a Postfix master of another instance runs.
Loopback only; every wait is bounded.

    .venv/bin/python bench/server_postfix.py [--messages 5000] [--sessions 10]
        [--rounds 2] [--after /tmp/ci.log]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from _loopback import HOST, free_port, running, wait_for_port

POSTFIX = "/usr/sbin/postfix"
MASTER = "/usr/lib/postfix/sbin/master"
MASTER_CF_DIST = Path("/usr/share/postfix/master.cf.dist")
DOMAIN = "example.net"
STARTUP_TIMEOUT = 30.0
SOURCE_TIMEOUT = 600.0
DRAIN_TIMEOUT = 300.0
CI_POLL, CI_PATIENCE = 10.0, 20 * 60.0
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")

MAIN_CF = """\
# Written by bench/server_postfix.py: a throwaway Postfix instance for one run.
compatibility_level = 3.6
queue_directory = {run}/queue
data_directory = {run}/data
myhostname = postfix.bench.test
mydestination =
inet_interfaces = {host}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Mail for the test domain is accepted into the queue and then discarded: nothing
# leaves the machine, and the queue drains.
relay_domains = {domain}
relay_transport = discard:
default_transport = discard:
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
in_flow_delay = 0
alias_maps =
alias_database =
biff = no
maillog_file = {run}/maillog
maillog_file_prefixes = {run}
"""


# --- helpers --------------------------------------------------------------------------------


def smtp_source(port: int, messages: int, sessions: int) -> float:
    """Messages per second smtp-source sends to ``port``."""
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    command = [source, "-d", "-s", str(sessions), "-m", str(messages), "-l", "1024"]
    command += ["-f", "bench@example.org", "-t", f"sink@{DOMAIN}", f"{HOST}:{port}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, timeout=SOURCE_TIMEOUT)
    return messages / (time.perf_counter() - start)


def wait_for_ci(log: Path) -> None:
    """Return once ``log`` has a line starting with ``exit=`` (a CI run has finished)."""
    deadline = time.monotonic() + CI_PATIENCE
    while True:
        with contextlib.suppress(FileNotFoundError):
            if any(
                line.startswith("exit=") for line in log.read_text("utf-8", "replace").split("\n")
            ):
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"{log} has no exit= line after {CI_PATIENCE / 60:.0f} minutes")
        print(f"waiting for {log} to have an exit= line...", flush=True)
        time.sleep(CI_POLL)


def postfix_masters() -> list[int]:
    """Pids of the Postfix master processes running now (any instance)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if argv[0] in (MASTER.encode(), b"master") or argv[0].endswith(b"/master"):
                    found.append(int(entry.name))
    return found


# --- Postfix --------------------------------------------------------------------------------


def postfix(config: Path, *args: str) -> str:
    """Run ``postfix -c config ARGS``; its output (a pty: Postfix prints only to a terminal)."""
    controller, terminal = os.openpty()
    env = {**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    try:
        process = subprocess.Popen(
            [POSTFIX, "-c", str(config), *args],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            env=env,
        )
    finally:
        os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            output += read_ready(controller, 0.05)
        if process.poll() is None:
            process.kill()
            process.wait()
        output += read_ready(controller, 0.0)
    finally:
        os.close(controller)
    text = output.decode("utf-8", "replace").replace("\r\n", "\n").strip()
    if process.returncode != 0:
        raise SystemExit(f"postfix {' '.join(args)} failed ({process.returncode}):\n{text}")
    return text


def read_ready(fd: int, wait: float) -> bytes:
    data = bytearray()
    for _ in range(1024):
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        data += chunk
        wait = 0.0
    return bytes(data)


def master_cf(port: int) -> str:
    """Debian's master.cf.dist, smtpd on ``port``, nothing chrooted."""
    lines = []
    for dist_line in MASTER_CF_DIST.read_text().splitlines():
        line = re.sub(r"^smtp(\s+inet\s)", f"{port}\\1", dist_line)
        if line[:1] not in ("", "#", " ", "\t"):
            line = re.sub(r"^((?:\S+\s+){4})y(?=\s)", r"\1n", line)  # 5th column: chroot
        lines.append(line)
    return "\n".join(lines) + "\n"


@contextmanager
def postfix_instance(port: int) -> Iterator[Path]:
    """A Postfix instance of our own on ``port``; yields its queue directory."""
    run = Path(tempfile.mkdtemp(prefix="smtpx-bench-postfix-", dir="/tmp"))
    try:
        run.chmod(0o755)
        config = run / "config"
        config.mkdir()
        (config / "main.cf").write_text(MAIN_CF.format(run=run, host=HOST, domain=DOMAIN))
        (config / "master.cf").write_text(master_cf(port))
        # Postfix waits for a main.cf written less than 2 s ago to "cool down".
        cooled = time.time() - 10
        for name in ("main.cf", "master.cf"):
            os.utime(config / name, (cooled, cooled))
        (run / "maillog").touch(0o644)
        shutil.chown(run / "maillog", "postfix", "postfix")
        (run / "queue").mkdir(0o755)
        (run / "data").mkdir(0o700)
        shutil.chown(run / "data", "postfix", "postfix")
        postfix(config, "check")  # creates the queue's subdirectories
        postfix(config, "start")
        try:
            wait_for_port(port, timeout=STARTUP_TIMEOUT)
            yield run / "queue"
        finally:
            stop_postfix(config, run / "queue")
    finally:
        shutil.rmtree(run, ignore_errors=True)


def stop_postfix(config: Path, queue: Path) -> None:
    pid_file = queue / "pid" / "master.pid"
    pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
    with contextlib.suppress(SystemExit):
        postfix(config, "abort")
    deadline = time.monotonic() + 15
    while pid is not None and Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)


def queued(queue: Path) -> int:
    return sum(len(files) for name in QUEUES for _, _, files in os.walk(queue / name) if files)


def wait_drained(queue: Path) -> float:
    """Seconds until the queue is empty (every message delivered to discard)."""
    start = time.monotonic()
    while queued(queue):
        if time.monotonic() - start > DRAIN_TIMEOUT:
            raise SystemExit(f"{queued(queue)} messages still queued after {DRAIN_TIMEOUT} s")
        time.sleep(0.1)
    return time.monotonic() - start


def measure_postfix(messages: int, sessions: int) -> tuple[float, str]:
    port = free_port()
    with postfix_instance(port) as queue:
        rate = smtp_source(port, messages, sessions)
        left = queued(queue)
        drained = wait_drained(queue)
        maillog = queue.parent / "maillog"
        discarded = 0
        for _ in range(50):  # postlogd writes the last lines a moment after the deliveries
            discarded = maillog.read_text("utf-8", "replace").count(" status=sent (")
            if discarded >= messages:
                break
            time.sleep(0.1)
        return rate, (
            f"{left:,} still queued at the end, drained {drained:.1f} s later;"
            f" {discarded:,} discarded (maillog)"
        )


# --- smtpx ----------------------------------------------------------------------------------


def measure_smtpx(messages: int, sessions: int, http: bool) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="smtpx-bench-", dir="/tmp") as directory:
        port = free_port()
        command = [str(Path(sys.executable).with_name("smtpx")), "serve"]
        command += ["--listen", f"{HOST}:{port}", "--data-dir", directory]
        command += ["--hostname", "bench.test"]
        command += ["--http", f"{HOST}:{free_port()}"] if http else ["--no-http"]
        with running(command, [port], timeout=STARTUP_TIMEOUT):
            return smtp_source(port, messages, sessions), ""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--after", type=Path, help="wait for an exit= line in this file first")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("Postfix's master runs as root: run this as root")
    if args.after is not None:
        wait_for_ci(args.after)
    if masters := postfix_masters():
        raise SystemExit(f"a Postfix master is running (pid {masters}): not now")
    version = subprocess.run(
        ["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(
        f"Python {platform.python_version()}, Postfix {version}, {platform.machine()},"
        f" {os.cpu_count()} CPUs; smtp-source -s {args.sessions}, {args.messages:,} messages"
        " of 1 KB; queue and store on the same file system (/tmp)"
    )
    servers: dict[str, Callable[[], tuple[float, str]]] = {
        "Postfix (queue, fsync)": lambda: measure_postfix(args.messages, args.sessions),
        "smtpx serve (SQLite)": lambda: measure_smtpx(args.messages, args.sessions, True),
        "smtpx serve --no-http": lambda: measure_smtpx(args.messages, args.sessions, False),
    }
    rates: dict[str, list[float]] = {name: [] for name in servers}
    for round_ in range(args.rounds):
        for name, measure in servers.items():
            rate, note = measure()
            rates[name].append(rate)
            print(f"  run {round_ + 1} {name:24} {rate:7,.0f} msg/s  {note}", flush=True)
    best = {name: max(found) for name, found in rates.items()}
    postfix_rate = best["Postfix (queue, fsync)"]
    print("best:")
    for name, rate in best.items():
        print(f"  {name:24} {rate:7,.0f} msg/s  {rate / postfix_rate:.2f}x Postfix")
    print("target: smtpx serve (durable) >= 3x Postfix at 10 sessions")


if __name__ == "__main__":
    main()
