"""Run the installed `smtpx` console script as a user would, and read what it said.

Theory of operation: :func:`smtpx` runs .venv/bin/smtpx in a subprocess with a
clean environment (no ``$SMTPX_*`` from the caller, ``$SMTPX_CONFIG`` pointing
at a file that does not exist) and a deadline, and returns a :class:`Run`.
Tests pass ``--timeout`` to every command that connects, so a peer that hangs
fails one SMTP step in seconds, well inside :data:`RUN_TIMEOUT`.

Exit codes are sysexits.h (DESIGN.md, Command line); a failure is told on stderr
in one line, ``smtpx <command>: ...``, never a traceback (:func:`one_error_line`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

# The console script pip installed next to this interpreter (.venv/bin/smtpx).
SCRIPT = Path(sys.executable).with_name("smtpx")
# Seconds for one run of the command; STEP_TIMEOUT (--timeout) bounds each SMTP step.
RUN_TIMEOUT = 30.0
STEP_TIMEOUT = "5"
# Where $SMTPX_CONFIG points unless a test says otherwise: nothing is there.
NO_CONFIG = str(Path(tempfile.gettempdir()) / "smtpx-tests-no-such-dir" / "config.toml")

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
EX_NOPERM = 77


@dataclass(frozen=True)
class Run:
    """One finished run: exit status and what it printed."""

    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def outcome(self, word: str) -> dict[str, str]:
        """Recipient -> reply, from stdout's ``accepted``/``refused`` lines."""
        found = {}
        for line in self.lines:
            if line.startswith(f"{word} "):
                _, address, reply = line.split(maxsplit=2)
                found[address] = reply
        return found

    def fields(self) -> dict[str, list[str]]:
        """``smtpx probe``'s "name   value" lines: name -> values, in order."""
        found: dict[str, list[str]] = {}
        for line in self.lines:
            name, _, value = line.partition(" ")
            found.setdefault(name, []).append(value.strip())
        return found


def smtpx(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Run:
    """Run ``smtpx *args``; ``env`` is added to a clean environment; ``stdin`` is fed in."""
    assert SCRIPT.exists(), f"{SCRIPT} missing: install the project (make venv)"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SMTPX_")}
    environment["SMTPX_CONFIG"] = NO_CONFIG
    environment.update(env or {})
    done = subprocess.run(
        [str(SCRIPT), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
        env=environment,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def one_error_line(run: Run, command: str) -> str:
    """The single stderr line of a failed run, which names ``command``; no traceback."""
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"{command}: "), lines[0]
    return lines[0]


def refused(result: Run, command: str, code: int) -> str:
    """The one error line of a run that ended with ``code`` before connecting."""
    assert result.code == code, result.stderr
    assert result.stdout == ""
    line = one_error_line(result, f"smtpx {command}")
    assert "Connection refused" not in line
    return line


def parse(data: bytes) -> EmailMessage:
    """A received message, parsed under ``email.policy.default``."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def at(host: str, port: int) -> str:
    """``HOST:PORT``, as --server and $SMTPX_SERVER take it."""
    return f"{host}:{port}"
