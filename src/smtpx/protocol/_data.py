"""Message content after DATA: dot-stuffing, unstuffing, and where it ends.

Theory of operation (RFC 5321 §4.1.1.4, §4.5.2): the content ends at the first
CRLF "." CRLF, counting the CRLF that ended the DATA command; a line that begins
with "." is sent with one more "." in front. Nothing else ends it: a bare LF
"." LF, or CR "." CR, is content, never an end (this is what keeps SMTP
smuggling out). RFC 5321 §2.3.8 forbids a bare CR or LF in content; the
receiver reads on to the real end and then refuses the whole message, or, under
the NORMALIZE policy, rewrites each to CRLF.

:class:`DotReader` (server) hands out unstuffed content in pieces as it comes
and keeps back only the last few bytes, which may be the start of the end
marker. :class:`DotWriter` (client) normalizes line ends to CRLF and stuffs
dots, also piece by piece.
"""

from __future__ import annotations

import enum
import re

from ._events import Reply
from ._receivebuffer import ReceiveBuffer

_END = b"\r\n.\r\n"
_ANY_EOL = re.compile(rb"\r\n|\r|\n")

BARE_LINE_ENDING = Reply(
    550, "5.6.0", "Message refused: bare CR or LF in content (RFC 5321 §2.3.8)"
)
LINE_TOO_LONG = Reply(550, "5.6.0", "Message refused: a line is longer than 1000 octets")
TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")


class BareLineEndings(enum.Enum):
    """What the server does with a bare CR or LF inside message content."""

    # Read on to the real CRLF.CRLF, then refuse the whole message with 550.
    REJECT = "reject"
    # Rewrite each bare CR or LF to CRLF and accept the message.
    NORMALIZE = "normalize"


def _held_back(data: bytearray) -> int:
    """How many trailing bytes might begin the end marker CRLF.CRLF."""
    for size in (4, 3, 2, 1):
        if data.endswith(_END[:size]):
            return size
    return 0


class DotReader:
    """Server side: unstuffed content up to CRLF.CRLF, with the limits checked."""

    __slots__ = (
        "_first",
        "_line",
        "_line_start",
        "_max_size",
        "_policy",
        "_size",
        "_text_line",
        "refusal",
    )

    def __init__(
        self, policy: BareLineEndings, text_line: int | None, max_size: int | None
    ) -> None:
        self._policy = policy
        self._text_line = text_line
        self._max_size = max_size
        # The CRLF that ended the DATA command starts the first line, so
        # ".CRLF" right away is an empty message.
        self._first = True
        # The next content byte starts a line: a "." there was stuffed.
        self._line_start = True
        self._line = 0  # octets of the current line seen so far
        self._size = 0
        # The first rule the message broke; it is refused at the end.
        self.refusal: Reply | None = None

    def read(self, buffer: ReceiveBuffer) -> tuple[bytes, bool] | None:
        """The next piece of content and whether it is the last, or None for more bytes."""
        data = buffer.data
        if self._first:
            if data[:3] == b".\r\n":
                buffer.take(3)
                return b"", True
            if len(data) < 3 and b".\r\n".startswith(data):
                return None
        end = data.find(_END)
        if end >= 0:
            wire = buffer.take(end + 2)
            buffer.take(3)  # the ".\r\n" of the end marker
        else:
            keep = _held_back(data)
            if len(data) == keep:
                return None
            wire = buffer.take(len(data) - keep)
        self._first = False
        return self._content(wire), end >= 0

    def _content(self, wire: bytes) -> bytes:
        lines = wire.split(b"\r\n")
        # Every CR and LF must belong to a CRLF (RFC 5321 §2.3.8).
        crlf = len(lines) - 1
        if wire.count(b"\n") != crlf or wire.count(b"\r") != crlf:
            if self._policy is BareLineEndings.REJECT:
                self.refusal = self.refusal or BARE_LINE_ENDING
            else:
                wire = _ANY_EOL.sub(b"\r\n", wire)
                lines = wire.split(b"\r\n")
        if self._text_line is not None:
            self._check_lines(lines, self._text_line)
        if self._line_start and wire[:1] == b".":
            wire = wire[1:]
        # A held-back CR never ends a piece, so a CRLF here is complete; under
        # NORMALIZE it may stand for a bare LF, and the next line starts too.
        self._line_start = wire.endswith(b"\r\n")
        content = wire.replace(b"\r\n.", b"\r\n")
        self._size += len(content)
        if self._max_size is not None and self._size > self._max_size:
            self.refusal = self.refusal or TOO_BIG
        return b"" if self.refusal else content

    def _check_lines(self, lines: list[bytes], limit: int) -> None:
        """RFC 5321 §4.5.3.1.6: a text line is at most ``limit`` octets with its
        CRLF, not counting the dot doubled for transparency.

        ``lines`` is a piece of content split at CRLF: the first continues the
        line in progress (or starts one, after a CRLF), the last is still open.
        """
        first = self._line + len(lines[0]) - (self._line_start and lines[0][:1] == b".")
        if len(lines) == 1:
            self._line = first
        else:
            middle = lines[1:-1]
            if max(first, max(map(len, middle), default=0)) + 2 > limit:
                # Rarely reached: measure again without the stuffed dots.
                unstuffed = (len(line) - (line[:1] == b".") for line in middle)
                if max(first, max(unstuffed, default=0)) + 2 > limit:
                    self.refusal = self.refusal or LINE_TOO_LONG
            self._line = len(lines[-1]) - (lines[-1][:1] == b".")
        if self._line + 2 > limit:
            self.refusal = self.refusal or LINE_TOO_LONG


class DotWriter:
    """Client side: content with line ends made CRLF and leading dots doubled."""

    __slots__ = ("_cr", "_line_start")

    def __init__(self) -> None:
        self._line_start = True
        self._cr = False  # a CR ended the last piece: is it half of a CRLF?

    def write(self, data: bytes) -> bytes:
        if self._cr:
            data = b"\r" + data
        self._cr = data.endswith(b"\r")
        if self._cr:
            data = data[:-1]
        crlf = data.count(b"\r\n")
        if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
            data = _ANY_EOL.sub(b"\r\n", data)
        if not data:
            return b""
        if self._line_start and data[:1] == b".":
            data = b"." + data
        self._line_start = data.endswith(b"\n")
        return data.replace(b"\r\n.", b"\r\n..")

    def end(self) -> bytes:
        """The end marker, after a CRLF if the content did not end with one."""
        if self._cr:
            return b"\r\n.\r\n"
        return b".\r\n" if self._line_start else b"\r\n.\r\n"
