"""The text of a message part, for the full-text index: decoded, and HTML made plain.

Theory of operation: the summary walk (``_summary.py``) hands over the header
section and the first octets of each text part's body; ``part_text`` undoes the
Content-Transfer-Encoding (RFC 2045 §6: base64, quoted-printable; anything else
is taken as it is), decodes the charset (RFC 2046 §4.1.2; an unknown one, or
none, is read as UTF-8), and for ``text/html`` keeps only what a reader would
see, through the stdlib's ``html.parser``: no tags, no ``<script>`` or
``<style>``, entities decoded, a line break where a block ends.

The body may have been cut short (``_summary.TEXT_SOURCE_LIMIT``): base64 is
decoded up to its last whole quantum, and a cut HTML document simply ends. Nothing
here raises: text that cannot be decoded is replaced (U+FFFD) and a part that
cannot be read gives "".
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import quopri
import re
from email.message import Message
from html.parser import HTMLParser

__all__ = ["html_text", "part_text"]

# Elements whose content is not text a reader sees.
_HIDDEN = frozenset({"script", "style", "template", "head", "title", "noscript", "svg"})
# Elements that end a line: their text must not run into the next element's.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
        "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
# RFC 2045 §5.1: charset=token or charset="quoted-string" (no RFC 2231 form for it here).
_CHARSET = re.compile(r';\s*charset\s*=\s*"?([^";\s]+)', re.IGNORECASE)


def part_text(headers: Message, body: bytes, *, html: bool) -> str:
    """The text of a ``text/plain`` (``text/html``: ``html``) part whose body (maybe
    cut) is ``body``."""
    try:
        encoding, charset = _transfer(headers)
        if encoding == "base64":
            data = _base64(body)
        elif encoding == "quoted-printable":
            data = quopri.decodestring(body)
        else:
            data = body
        text = _decode(data, charset)
        if html:
            text = html_text(text)
    except Exception:  # a part that cannot be read adds no text; the message is still kept
        return ""
    return text.replace("\x00", " ")


def html_text(html: str) -> str:
    """What a reader of ``html`` sees, as plain text."""
    parser = _TextParser()
    with contextlib.suppress(Exception):  # keep what was read before the markup broke
        parser.feed(html)
        parser.close()
    return "".join(parser.pieces)


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._hidden = 0  # depth of open hidden elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.pieces.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCKS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.pieces.append(data)


def _base64(body: bytes) -> bytes:
    """Decode ``body`` up to its last whole 4-character quantum (it may be cut)."""
    head, padding, _ = body.partition(b"=")  # "=" pads the last quantum, and ends the data
    letters = _NOT_BASE64.sub(b"", head)
    remainder = len(letters) % 4
    if padding and remainder in (2, 3):
        letters += b"=" * (4 - remainder)
    else:
        letters = letters[: len(letters) - remainder]
    try:
        return binascii.a2b_base64(letters)
    except binascii.Error:
        return b""


def _transfer(headers: Message) -> tuple[str, str]:
    """The part's Content-Transfer-Encoding and charset, lowercase ("" if absent),
    read from the raw header text: a parsed header costs more than the part's text."""
    encoding = charset = ""
    for name, value in headers.raw_items():
        field = name.lower()
        if field == "content-transfer-encoding" and not encoding:
            encoding = str(value).strip().lower()
        elif field == "content-type" and not charset:
            found = _CHARSET.search(str(value))
            charset = found.group(1).lower() if found else ""
    return encoding, charset


def _decode(data: bytes, charset: str) -> str:
    """``data`` in ``charset``: UTF-8 when absent or unknown. US-ASCII is read as
    UTF-8 too, its superset, since mislabelled 8-bit text is common."""
    try:
        name = codecs.lookup(charset or "utf-8").name
        if name != "ascii":
            return data.decode(name, "replace")
    except LookupError:  # unknown, or not a text encoding ("rot13")
        pass
    return data.decode("utf-8", "replace")
