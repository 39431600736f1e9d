"""The log of a long-running command (``smtpx serve``): cheap enough for a line per message.

Theory of operation: a busy receiver writes a line per message, and the standard
``StreamHandler`` costs about 20 µs a line on the event loop's thread: a record
with the caller's file and line, a timestamp made with ``strftime``, and a flush
(a system call) per line. Here the record leaves out what the log never shows
(the Logging HOWTO's "Optimization" section lists these switches), the
timestamp is formatted once a second, and lines written on the event loop's
thread are flushed once per turn of the loop rather than once each: a line is
still out within the turn it was logged in. Lines from other threads, or from
outside a loop, are flushed at once, as before. (``sys.stderr`` itself writes
each line as it comes when it is not a terminal, so the lines go to a buffered
stream of their own on the same file descriptor.)
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import TextIO

__all__ = ["setup_logging"]

FORMAT = "%(asctime)s %(message)s"


class _Timestamps(logging.Formatter):
    """``asctime`` as the default formatter writes it, its date part made once a second."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
        return f"{self._stamp},{int(record.msecs):03d}"  # as logging.Formatter writes it


class _FlushPerTurn(logging.StreamHandler[TextIO]):
    """A stream handler that flushes once per turn of the running event loop."""

    def __init__(self) -> None:
        super().__init__(_buffered_stderr())
        self._pending: asyncio.AbstractEventLoop | None = None  # flush scheduled there
        self._thread = 0  # the thread that loop runs in

    def flush(self) -> None:
        pending = self._pending
        if pending is not None and self._thread == threading.get_ident() and pending.is_running():
            return  # this turn's flush is already on its way (asyncio's loop lookup
            # would cost a getpid() system call per line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on a loop's thread: flush now
            super().flush()
            return
        self._pending, self._thread = loop, threading.get_ident()
        loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._pending = None
        super().flush()

    def close(self) -> None:
        super().flush()
        super().close()


def _buffered_stderr() -> TextIO:
    """Standard error, buffered (line by line on a terminal): flushed by the handler."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # a replaced sys.stderr (tests)
        return sys.stderr
    return open(descriptor, "w", encoding="utf-8", errors="backslashreplace", closefd=False)


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines of ``level`` and above to standard error, ``time message`` each."""
    # Logging HOWTO, "Optimization": fields the format never shows, not gathered.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # the HOWTO names this private switch itself
    handler = _FlushPerTurn()
    handler.setFormatter(_Timestamps(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
