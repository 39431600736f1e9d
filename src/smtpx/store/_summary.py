"""Summary: the header fields and attachment names of a message, read in one pass.

Theory of operation: ``summarize(source)`` reads the message once, line by line,
holding only header sections in memory, never a body, so a 50 MB message costs
no more memory than a small one and small and large messages get the same
answer from the same code.

The walk is a small MIME state machine. It starts in a header section (the
message's own). A header section ends at an empty line (or, as in the stdlib
parser, at a line that cannot be a header); it is then parsed with
``email.parser.BytesParser(policy=policy.default)`` in ``headersonly`` mode:

- the first section gives the summary fields (Subject, From, To, Cc, Date,
  Message-ID), decoded (RFC 2047 encoded words, RFC 6532 UTF-8);
- a ``multipart/*`` section pushes its boundary (RFC 2046 §5.1.1), and a
  delimiter line ``--boundary`` then starts the header section of the next part,
  ``--boundary--`` closes the multipart. A delimiter of an enclosing multipart
  also closes the ones inside it, as the stdlib parser does;
- any other section is a leaf part, and an attachment if it has
  ``Content-Disposition: attachment`` or a file name (``filename=`` or the older
  ``name=``). Bodies are skipped; a ``message/rfc822`` part is a leaf too, so the
  attachments of a forwarded message are not listed as this message's own.

Once no multipart is open, the rest is one body and the walk stops reading.

For the full-text index, ``summarize_with_text`` also reads the bodies of the
text parts (``text/plain`` and ``text/html`` leaves that are not attachments),
instead of skipping them, up to ``TEXT_SOURCE_LIMIT`` octets in all; each is
decoded by ``_text.part_text``. The message's text is that of its plain parts
or, if it has none with any text (HTML-only mail), that of its HTML parts, cut
at ``TEXT_LIMIT`` characters.

Nothing here may fail a store: a field that cannot be parsed falls back to ""
(to the raw header text where there is one), and if the walk itself breaks,
what was found so far is kept. Limits: a header section is parsed from its first
``HEADER_LIMIT`` octets; a line longer than ``LINE_LIMIT`` octets is read in
pieces, and only its first piece can be a delimiter or a header.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any, BinaryIO

from ._model import Summary
from ._text import part_text

__all__ = ["EMPTY_SUMMARY", "TEXT_LIMIT", "message_text", "summarize", "summarize_with_text"]

EMPTY_SUMMARY = Summary("", "", (), (), None, None, ())

# Header sections are a few kilobytes; past this the rest of a section is ignored.
HEADER_LIMIT = 256 * 1024
# RFC 5322 §2.1.1 caps lines at 998 octets; a delimiter is at most 70 + 4
# (RFC 2046 §5.1.1). Longer lines (binary bodies) are read in pieces of this size.
LINE_LIMIT = 64 * 1024
# The stdlib feedparser's test for a header line (email.feedparser.headerRE).
# Bodies are searched for "\n--" in blocks of this size.
SKIP_BLOCK = 1024 * 1024
# The text kept for the full-text index, at most (characters): the start of a long
# message is what finds it; the rest would only grow the index and slow deletes.
TEXT_LIMIT = 256 * 1024
# Octets of text-part bodies read, at most: encoded, marked-up text is larger than
# the text it holds. Bounds the time and memory one message's text costs the writer.
TEXT_SOURCE_LIMIT = 4 * TEXT_LIMIT
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
_PARSER = BytesParser(policy=policy.default)


def summarize(source: BinaryIO) -> Summary:
    """The summary of the message read from ``source`` (from its current position)."""
    walk = _Walk(with_text=False)
    with contextlib.suppress(Exception):  # a malformed message is still stored:
        walk.run(source)  # keep what was found
    return walk.summary()


def summarize_with_text(source: BinaryIO) -> tuple[Summary, str]:
    """The summary and the text (for the full-text index) of the message in ``source``."""
    walk = _Walk(with_text=True)
    with contextlib.suppress(Exception):
        walk.run(source)
    return walk.summary(), walk.text()


def message_text(source: BinaryIO) -> str:
    """Only the text of the message in ``source``: the summary's header fields are
    not decoded (they cost more than the rest of the walk)."""
    walk = _Walk(with_text=True)
    with contextlib.suppress(Exception):
        walk.run(source)
    return walk.text()


class _Walk:
    """One pass over a message: see the module docstring."""

    def __init__(self, *, with_text: bool) -> None:
        self.top: Message | None = None  # the message's own header section
        self.attachments: list[str] = []
        self.delimiters: list[bytes] = []  # b"--" + boundary of each open multipart
        self.in_headers = True
        self.section = bytearray()
        self.section_full = False
        # Text: the part whose body is being read, that body, what is left to read.
        self.text_left = TEXT_SOURCE_LIMIT if with_text else 0
        self.body_of: Message | None = None
        self.body_html = False
        self.body = bytearray()
        self.plain: list[str] = []
        self.html: list[str] = []

    def run(self, source: BinaryIO) -> None:
        at_line_start = True
        while True:
            # In a body that is not read only a delimiter matters: jump to the next
            # line starting "--".
            if (
                not self.in_headers
                and self.body_of is None
                and at_line_start
                and (not self.delimiters or not _skip_to_dashes(source))
            ):
                return
            line = source.readline(LINE_LIMIT)
            if not line:
                break
            starts_line = at_line_start  # else: the rest of a long line
            at_line_start = line.endswith(b"\n")
            if starts_line and self.delimiters and line.startswith(b"--") and self._delimiter(line):
                continue
            if self.in_headers:
                # A piece of a long line cannot be judged: it stays in the section.
                if starts_line and (
                    line in (b"\r\n", b"\n") or (at_line_start and not _HEADER_LINE.match(line))
                ):
                    self._end_section()
                    if line not in (b"\r\n", b"\n") and self.body_of is not None:
                        self._read_body(line)  # no blank line: the body starts here
                else:
                    self._keep(line)
            elif self.body_of is not None:
                self._read_body(line)
        if self.in_headers:
            self._end_section()
        self._end_body()

    def summary(self) -> Summary:
        if self.top is None:
            return EMPTY_SUMMARY
        return Summary(
            subject=_text(self.top, "subject") or "",
            from_=_text(self.top, "from") or "",
            to=_addresses(self.top, "to"),
            cc=_addresses(self.top, "cc"),
            date=_text(self.top, "date") or None,
            message_id=_text(self.top, "message-id") or None,
            attachments=tuple(self.attachments),
        )

    def text(self) -> str:
        self._end_body()  # the walk may have stopped inside a body
        pieces = self.plain if any(piece.strip() for piece in self.plain) else self.html
        return without_surrogates("\n".join(pieces).strip())[:TEXT_LIMIT]

    def _read_body(self, line: bytes) -> None:
        self.body += line[: self.text_left]
        self.text_left -= min(len(line), self.text_left)
        if not self.text_left:
            self._end_body()

    def _end_body(self) -> None:
        if self.body_of is None:
            return
        text = part_text(self.body_of, bytes(self.body), html=self.body_html)
        (self.html if self.body_html else self.plain).append(text)
        self.body_of = None
        self.body = bytearray()

    def _keep(self, line: bytes) -> None:
        # Past the limit nothing more is kept, not even a shorter line: a continuation
        # line kept without its first line would join the wrong field.
        if self.section_full or len(self.section) + len(line) > HEADER_LIMIT:
            self.section_full = True
        else:
            self.section += line

    def _delimiter(self, line: bytes) -> bool:
        """Act on a delimiter line of an open multipart; False if it is none."""
        text = line.rstrip(b"\r\n").rstrip(b" \t")  # RFC 2046 §5.1.1: trailing blanks allowed
        for depth in range(len(self.delimiters) - 1, -1, -1):
            delimiter = self.delimiters[depth]
            if text == delimiter or text == delimiter + b"--":
                break
        else:
            return False
        if self.in_headers:  # a part that ends inside its header section
            self._end_section()
        self._end_body()
        del self.delimiters[depth + 1 :]  # closing a multipart closes those inside it
        if text == delimiter:
            self.in_headers = True  # the next part's header section
        else:
            self.delimiters.pop()
            self.in_headers = False  # the epilogue, part of the enclosing body
        return True

    def _end_section(self) -> None:
        section = bytes(self.section)
        self.section = bytearray()
        self.section_full = False
        self.in_headers = False
        part = _PARSER.parsebytes(section, headersonly=True)
        if self.top is None:
            self.top = part
        content_type = part.get_content_type()  # parsing a header costs: once
        if content_type.startswith("multipart/"):
            boundary = part.get_boundary()
            if boundary:  # without one, the stdlib treats the body as text: so do we
                self.delimiters.append(b"--" + boundary.encode("utf-8", "surrogateescape"))
                return
        if _is_attachment(part):
            self.attachments.append(without_surrogates(part.get_filename() or ""))
        elif self.text_left and content_type in ("text/plain", "text/html"):
            self.body_of = part
            self.body_html = content_type == "text/html"


def _skip_to_dashes(source: BinaryIO) -> bool:
    """Move ``source`` (at the start of a line) to the next line that starts with "--";
    False at the end. Searches blocks in C rather than reading lines in Python."""
    at_line_start = True
    while True:
        start = source.tell()
        block = source.read(SKIP_BLOCK)
        if len(block) < 3:  # too short to hold "\n--" (the end of the message is near)
            source.seek(start)
            return bool(block)
        if at_line_start and block.startswith(b"--"):
            source.seek(start)
            return True
        found = block.find(b"\n--")
        if found >= 0:
            source.seek(start + found + 1)
            return True
        # "\n--" may straddle two blocks: search again from the last two octets.
        source.seek(start + len(block) - 2)
        at_line_start = False


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment" or part.get_filename() is not None
    except Exception:
        return False


# Header values the email package's header registry would return unchanged:
# printable ASCII with no encoded word (RFC 2047). Parsing those is most of the
# cost of a summary, so they are only unfolded (RFC 5322 §2.2.3).
_PLAIN_VALUE = re.compile(r"[\t\r\n\x20-\x7e]*")
# An address list the registry would print as given: "addr" or "Name <addr>"
# with an atext-and-spaces name (no quotes, comments, groups or specials).
_PLAIN_ADDRESS = re.compile(
    r"\s*(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*<[^<>\s,;:\"()\\]+@[^<>\s,;:\"()\\]+>"
    r"|[^<>\s,;:\"()\\]+@[^<>\s,;:\"()\\]+)\s*"
)


def _raw(message: Message, name: str) -> list[str]:
    return [str(value) for key, value in message.raw_items() if key.lower() == name]


def _plain(value: str) -> bool:
    return "=?" not in value and _PLAIN_VALUE.fullmatch(value) is not None


def _unfold(value: str) -> str:
    return "".join(value.splitlines()).strip()


def _text(message: Message, name: str) -> str | None:
    """A header's decoded value; its raw text if it cannot be decoded; None if absent."""
    given = _raw(message, name)
    if not given:
        return None
    if _plain(given[0]):
        if name != "date":
            return _unfold(given[0])
        # The registry's Date is the parsed date written again (RFC 5322 §3.3).
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            return email.utils.format_datetime(email.utils.parsedate_to_datetime(given[0]))
    try:
        value = message.get(name)
        return None if value is None else without_surrogates(str(value)).strip()
    except Exception:
        for key, raw in message.raw_items():
            if key.lower() == name:
                return without_surrogates(str(raw)).strip()
        return None


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    """Each address of every ``name`` header, as "Name <addr>" or "addr"."""
    values = [_unfold(value) for value in _raw(message, name)]
    if all(_plain(value) for value in values):
        pieces = [piece for value in values for piece in value.split(",")]
        if all(_PLAIN_ADDRESS.fullmatch(piece) for piece in pieces):
            return tuple(" ".join(piece.split()) for piece in pieces if piece.strip())
    found: list[str] = []
    try:
        headers: list[Any] = message.get_all(name) or []
    except Exception:
        raw = _text(message, name)
        return (raw,) if raw else ()
    for header in headers:
        try:
            addresses = header.addresses
            found.extend(without_surrogates(str(address)) for address in addresses)
        except Exception:
            addresses = ()
        if not addresses and str(header).strip():
            found.append(without_surrogates(str(header)).strip())
    return tuple(found)


def without_surrogates(text: str) -> str:
    """``text`` without lone surrogates (undecodable bytes, from 8-bit headers), which
    SQLite cannot store and a web page cannot show: each becomes U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace").decode("utf-8")
    return text
