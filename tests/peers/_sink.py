"""The ``smtp_sink`` fixture: Postfix's smtp-sink, a fast discarding server with faults.

``start_sink(*options, dump=False) -> Sink`` runs smtp-sink with fault options.
See :class:`Sink` for what it advertises and :func:`parse_sink_dump` for its dump
format.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from ._ports import (
    LOOPBACK,
    STARTUP_TIMEOUT,
    PeerUnavailable,
    _dir_for_nobody,
    _stop_process,
    free_port,
    require_binary,
    wait_for_port,
)

SMTP_SINK = Path("/usr/sbin/smtp-sink")


@dataclass(frozen=True)
class SinkDump:
    """One smtp-sink ``-d`` dump, split into the envelope records and the message."""

    client_addr: str
    client_proto: str
    helo_args: str | None
    mail_args: str
    rcpt_args: tuple[str, ...]
    message: bytes


def parse_sink_dump(dump: bytes) -> SinkDump:
    """Split a dump as smtp-sink 3.7 writes it (smtp-sink(1), DUMP FILE FORMAT)::

        X-Client-Addr: 127.0.0.1
        X-Client-Proto: ESMTP
        X-Helo-Args: client.example           (only after HELO/EHLO)
        X-Mail-Args: <a@example.com> BODY=8BITMIME     (MAIL's argument, verbatim)
        X-Rcpt-Args: <b@example.org>          (one per RCPT, in order)
        Received: from client.example ([127.0.0.1])
        \tby smtp-sink (smtp-sink) with ESMTP id 69719a8b;
        \tSat, 28 Nov 2026 04:17:54 +0000 (UTC)
        <the message>
        <one empty line>

    Every line ends in LF. The message is NOT byte-exact: smtp-sink drops every CR
    byte (so CRLF becomes LF and a bare CR vanishes) and the dot-stuffing dot; the
    end-of-data line is not written. ``message`` is that text, the final empty line
    removed. The file is complete before smtp-sink replies to the final ".".
    """
    lines = dump.split(b"\n")
    records: dict[str, list[str]] = {}
    index = 0
    while index < len(lines) and lines[index].startswith(b"X-"):
        name, _, value = lines[index].decode("utf-8", "surrogateescape").partition(": ")
        records.setdefault(name, []).append(value)
        index += 1
    if not lines[index].startswith(b"Received: from ") or not dump.endswith(b"\n\n"):
        raise ValueError(f"not an smtp-sink dump: {dump[:200]!r}")
    message = b"\n".join(lines[index + 3 :])[:-1]  # Received: is 3 lines; drop the empty line
    return SinkDump(
        client_addr=records["X-Client-Addr"][0],
        client_proto=records["X-Client-Proto"][0],
        helo_args=records.get("X-Helo-Args", [None])[0],
        mail_args=records["X-Mail-Args"][0],
        rcpt_args=tuple(records.get("X-Rcpt-Args", [])),
        message=message,
    )


@dataclass
class Sink:
    """A running ``smtp-sink``: a fast, discarding SMTP server with fault injection.

    Its EHLO reply (Postfix 3.7.11), without options::

        250-smtp-sink
        250-PIPELINING            (-p removes it; -f and -r imply -p)
        250-8BITMIME              (-8 removes it)
        250-AUTH PLAIN LOGIN      (-a removes it; any AUTH command gets "250 2.0.0 Ok")
        250-XCLIENT NAME HELO     (-C removes it)
        250-XFORWARD NAME ADDR PROTO HELO   (-F removes it)
        250-ENHANCEDSTATUSCODES   (-E removes it; error replies keep their 5.5.1)
        250-DSN
        250                       (the last line has no keyword: "250 " and CRLF)

    No SIZE, STARTTLS, CHUNKING, SMTPUTF8. BDAT, STARTTLS and HELP get ``500 5.5.1
    Error: unknown command``; MAIL and RCPT parameters are accepted unchecked (the
    SMTPUTF8 keyword too, and 8-bit addresses). With ``-e`` EHLO itself is refused
    (500). Faults: ``-f CMD`` 500 5.3.0, ``-r CMD`` 450 4.3.0 (CMD may be ``.``, the
    end of data), ``-q CMD`` disconnect, ``-Q CMD`` 421 and disconnect.
    """

    host: str
    port: int
    options: tuple[str, ...]
    process: subprocess.Popen[bytes]
    dump_dir: Path | None = None

    def stop(self) -> None:
        """Stop it now (the fixture stops every sink at teardown anyway)."""
        _stop_process(self.process)

    def dumps(self) -> list[bytes]:
        """Every transaction dumped so far, oldest first (needs ``dump=True``).

        smtp-sink creates a dump at MAIL and deletes it at RSET, so a transaction
        still in progress shows up half written: read after the reply to ".".
        A transaction whose "." was rejected (``-f .``/``-r .``) is still dumped.
        """
        if self.dump_dir is None:
            raise RuntimeError("this sink does not dump: start it with start_sink(..., dump=True)")
        found: list[tuple[int, str, bytes]] = []
        for path in self.dump_dir.glob(f"{_DUMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):  # unlinked by a concurrent RSET
                found.append((path.stat().st_mtime_ns, path.name, path.read_bytes()))
        return [data for _, _, data in sorted(found)]


_DUMP_PREFIX = "tx."


class StartSink(Protocol):
    def __call__(self, *options: str, dump: bool = False, port: int | None = None) -> Sink: ...


@pytest.fixture
def smtp_sink() -> Iterator[StartSink]:
    """``start_sink(*options, dump=False)``: run smtp-sink with ``options``; stopped at teardown.

    ``options`` go to smtp-sink as they are (``start_sink("-r", "RCPT")``). With
    ``dump=True`` each transaction is written to a file, read with ``sink.dumps()``;
    the fixture owns that directory, so ``-d``/``-D`` are not options here.
    """
    require_binary(SMTP_SINK, "postfix")
    started: list[Sink] = []
    scratch: list[Path] = []

    def start_sink(*options: str, dump: bool = False, port: int | None = None) -> Sink:
        if {"-d", "-D"} & set(options):
            raise ValueError("use start_sink(..., dump=True) instead of -d/-D")
        argv = [str(SMTP_SINK)]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]  # smtp-sink refuses to run as root without -u
        dump_dir = None
        if dump:
            dump_dir = _dir_for_nobody("smtpx-sink-")
            scratch.append(dump_dir)
            # A strftime template: any % in the path itself is doubled.
            argv += ["-d", str(dump_dir).replace("%", "%%") + "/" + _DUMP_PREFIX]
        port = port or free_port()  # a given port: a sink in place of a stopped one
        argv += [*options, f"{LOOPBACK}:{port}", "256"]
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            sink = Sink(LOOPBACK, port, tuple(options), process, dump_dir)
            started.append(sink)
            try:
                wait_for_port(LOOPBACK, port, time.monotonic() + STARTUP_TIMEOUT, process)
            except PeerUnavailable as error:
                log.seek(0)
                said = log.read().decode("utf-8", "replace").strip()
                raise PeerUnavailable(f"smtp-sink: {error}: {said}") from None
        return sink

    yield start_sink
    for sink in started:
        _stop_process(sink.process)
    for path in scratch:
        shutil.rmtree(path, ignore_errors=True)
