"""A stored message read for a human: headers, bodies, parts, trace. Pure, no I/O.

Theory of operation: :func:`parse_message` parses the raw bytes once with the
stdlib ``email`` package (``policy.default``; no MIME is parsed by hand) into a
:class:`MessageView`. Its parts are numbered in one stable walk, depth first in
the order they appear: every leaf part, and every attached message
(``message/rfc822``, ``message/global``) followed by its own parts, one level
deeper. Multipart containers are not numbered: they hold no content of their own.
:func:`part_bytes` walks the same way, so ``/parts/{n}`` serves the part ``n``
the view listed.

A malformed message is still shown. Defects the parser finds are listed in
plain words; a header that cannot be decoded is shown as it was sent; a text
part in an unknown charset is read as UTF-8 (with replacement characters); a
message with defects and no readable body shows its body as raw text; and if
parsing fails outright, the whole message is shown as raw text. Nothing here
raises on a message's content.

:func:`html_for_iframe` hands the HTML body to ``_sandbox`` with the URLs of the
message's parts, for ``cid:`` references; :func:`~smtpx.web._sandbox.iframe_headers`
is what to serve it with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import errors, policy
from email.message import Message
from email.parser import BytesParser
from html import escape
from typing import Any

from ..store import without_surrogates
from ._received import Hop, parse_received
from ._sandbox import rewrite_html

__all__ = ["MessageView", "Part", "html_for_iframe", "parse_message", "part_bytes"]

_PARSER = BytesParser(policy=policy.default)
# An attached message is served as it was parsed: lines as in the source, CRLF.
_AS_SENT = policy.default.clone(linesep="\r\n", refold_source="none", max_line_length=0)
_ATTACHED_MESSAGE = frozenset({"message/rfc822", "message/global"})
# What the parser says of UTF-8 in headers, legitimate since RFC 6532 (SMTPUTF8).
_UTF8_IS_FINE = (errors.UndecodableBytesDefect, errors.NonASCIILocalPartDefect)
# A walk stops after this many parts: a message is shown, not exhausted.
MAX_PARTS = 1000


@dataclass(frozen=True, slots=True)
class Part:
    """One numbered part of a message (see the module docstring for the numbering)."""

    index: int
    content_type: str  # "image/png", lower case, without parameters
    filename: str | None
    size: int  # octets once the transfer encoding is undone
    content_id: str | None  # without the angle brackets
    disposition: str | None  # "inline", "attachment", or None when not given
    depth: int  # 0 for the message's own parts, 1 inside an attached message...

    @property
    def is_attachment(self) -> bool:
        """Shown as a file to download rather than as part of the message."""
        return self.disposition == "attachment" or (
            self.filename is not None and self.disposition != "inline"
        )


@dataclass(frozen=True, slots=True)
class MessageView:
    """What the message view shows."""

    headers: tuple[tuple[str, str], ...]  # (name, decoded value), in order
    text: str | None  # the text/plain body
    html: str | None  # the text/html body, untouched: serve html_for_iframe() instead
    parts: tuple[Part, ...]
    received: tuple[Hop, ...]  # the Received chain, the last hop first
    defects: tuple[str, ...]  # what is malformed, in plain words
    text_part: int | None = None  # the index of the part text came from
    html_part: int | None = None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case); None if there is none."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)


def parse_message(raw: bytes) -> MessageView:
    """The view of ``raw``, a whole message. Never raises on its content."""
    try:
        return _parse(raw)
    except Exception as error:  # RecursionError included: show the bytes
        return MessageView(
            headers=(),
            text=without_surrogates(raw.decode("utf-8", "replace")),
            html=None,
            parts=(),
            received=(),
            defects=(f"the message could not be parsed ({type(error).__name__}): shown as sent",),
        )


def part_bytes(raw: bytes, n: int) -> tuple[str, str | None, bytes] | None:
    """Part ``n`` of ``raw``: (content type with its charset, filename, decoded
    bytes); None if there is no such part."""
    try:
        message = _PARSER.parsebytes(raw)
        for index, (node, _depth) in enumerate(_walk(message)):
            if index == n:
                content_type = _content_type(node)
                charset = _charset(node)
                if content_type.startswith("text/") and charset:
                    content_type += f"; charset={charset}"
                return content_type, _filename(node), _payload(node)
    except Exception:
        return None
    return None


def html_for_iframe(
    view: MessageView, *, allow_remote: bool, part_url: Callable[[int], str]
) -> str:
    """The document to show in the message view's iframe: the HTML body with
    ``cid:`` references pointing at ``part_url(n)`` and, unless ``allow_remote``,
    no remote references; the text body in a ``<pre>`` for a message without HTML.
    Serve it with ``iframe_headers(allow_remote=...)``: that is what stops scripts."""
    if view.html is None:
        text = escape(view.text or "", quote=False)
        return f'<!DOCTYPE html>\n<pre style="white-space: pre-wrap">{text}</pre>\n'
    cid_urls = {
        part.content_id.lower(): part_url(part.index) for part in view.parts if part.content_id
    }
    return rewrite_html(view.html, cid_urls=cid_urls, allow_remote=allow_remote)


# The walk


def _walk(message: Message) -> Iterator[tuple[Message, int]]:
    """Every numbered part with its depth, in the module docstring's order.
    Iterative, so deep nesting costs no recursion."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    count = 0
    while stack and count < MAX_PARTS:
        node, depth = stack.pop()
        children = _children(node)
        if _content_type(node) in _ATTACHED_MESSAGE or not node.is_multipart():
            count += 1
            yield node, depth
            depth += 1
        stack.extend((child, depth) for child in reversed(children))


def _containers(message: Message) -> Iterator[Message]:
    """Every node, numbered or not (for their defects)."""
    stack = [message]
    count = 0
    while stack and count < MAX_PARTS:
        node = stack.pop()
        count += 1
        yield node
        stack.extend(reversed(_children(node)))


def _children(node: Message) -> list[Message]:
    if not node.is_multipart():
        return []
    payload = node.get_payload()
    return [c for c in payload if isinstance(c, Message)] if isinstance(payload, list) else []


def _parse(raw: bytes) -> MessageView:
    message = _PARSER.parsebytes(raw)
    headers, defects = _headers(message)
    received = tuple(parse_received(value) for name, value in headers if name.lower() == "received")

    numbers: dict[int, int] = {}  # id() of a numbered node: its number
    parts: list[Part] = []
    for index, (node, depth) in enumerate(_walk(message)):
        numbers[id(node)] = index
        parts.append(_describe(node, index, depth))
    for node in _containers(message):
        found = numbers.get(id(node))
        where = "a multipart" if found is None else f"part {found}"
        if node is message:
            where = "the message"
        for defect in node.defects:
            said = f"{where}: {_defect_text(defect)}"
            if said not in defects:
                defects.append(said)

    text_node = _body(message, "plain")
    html_node = _body(message, "html")
    text = html = None
    for body, kind in ((text_node, "text"), (html_node, "html")):
        if body is None:
            continue
        decoded, problem = _decode_text(body)
        if kind == "text":
            text = decoded
        else:
            html = decoded
        if problem:
            defects.append(f"part {numbers.get(id(body))}: {problem}")
    if text is None and html is None and defects:
        text = _body_as_sent(raw)
    return MessageView(
        headers=tuple(headers),
        text=text,
        html=html,
        parts=tuple(parts),
        received=received,
        defects=tuple(defects),
        text_part=None if text_node is None else numbers.get(id(text_node)),
        html_part=None if html_node is None else numbers.get(id(html_node)),
    )


def _headers(message: Message) -> tuple[list[tuple[str, str]], list[str]]:
    """Each header decoded (its text as sent if it does not decode), and their defects."""
    headers: list[tuple[str, str]] = []
    defects: list[str] = []
    for name, value in message.raw_items():
        try:
            header: Any = message.policy.header_fetch_parse(name, value)
            decoded = str(header)
            utf8 = _is_utf8(str(value))
            defects.extend(
                f"header {name}: {_defect_text(d)}"
                for d in header.defects
                if not (utf8 and isinstance(d, _UTF8_IS_FINE))
            )
        except Exception:
            decoded = " ".join(str(value).split())
        headers.append((without_surrogates(name), without_surrogates(decoded)))
    return headers, defects


def _is_utf8(value: str) -> bool:
    """Whether a raw header value's 8-bit octets (kept by the parser as surrogates)
    are UTF-8, which RFC 6532 allows in headers."""
    try:
        value.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return False
    return True


def _describe(node: Message, index: int, depth: int) -> Part:
    try:
        content_id: str | None = str(node.get("content-id", "")).strip().strip("<>").strip()
    except Exception:
        content_id = None
    try:
        disposition = node.get_content_disposition()
    except Exception:
        disposition = None
    return Part(
        index=index,
        content_type=_content_type(node),
        filename=_filename(node),
        size=len(_payload(node)),
        content_id=content_id or None,
        disposition=disposition,
        depth=depth,
    )


def _body(message: Message, subtype: str) -> Message | None:
    try:
        body = message.get_body(preferencelist=(subtype,))  # type: ignore[attr-defined]
    except Exception:
        return None
    return body if isinstance(body, Message) else None


def _content_type(node: Message) -> str:
    try:
        return node.get_content_type()
    except Exception:
        return "application/octet-stream"


def _charset(node: Message) -> str | None:
    try:
        charset = node.get_content_charset()
    except Exception:
        return None
    # Only a token can go back into a Content-Type header.
    if charset and all(c.isalnum() or c in "-_.:+" for c in charset) and charset.isascii():
        return charset
    return None


def _filename(node: Message) -> str | None:
    try:
        filename = node.get_filename()
    except Exception:
        return None
    return None if filename is None else without_surrogates(str(filename))


def _payload(node: Message) -> bytes:
    """The part's content: decoded octets; an attached message as its source."""
    try:
        if _content_type(node) in _ATTACHED_MESSAGE and node.is_multipart():
            inner = node.get_payload(0)
            if isinstance(inner, Message):
                return inner.as_bytes(policy=_AS_SENT)
        data = node.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


def _decode_text(node: Message) -> tuple[str, str | None]:
    """A text part as text: in its charset, else UTF-8, else UTF-8 with replacement
    characters; and what went wrong, if anything."""
    data = _payload(node)
    charset = _charset(node) or "us-ascii"
    try:
        return without_surrogates(data.decode(charset)), None
    except LookupError:
        problem = f"unknown charset {charset!r}, read as UTF-8"
    except (UnicodeDecodeError, ValueError):
        problem = f"text that is not {charset}, read as UTF-8"
    try:
        return without_surrogates(data.decode("utf-8")), problem
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), problem + " with replacement characters"


def _body_as_sent(raw: bytes) -> str:
    """What follows the header section, as text: the fallback for a broken message."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        _head, found, body = raw.partition(separator)
        if found:
            return without_surrogates(body.decode("utf-8", "replace"))
    return without_surrogates(raw.decode("utf-8", "replace"))


def _defect_text(defect: object) -> str:
    """A parser defect in words: its own message, else its class's first doc line."""
    said = str(defect).strip()
    if said:
        return said.splitlines()[0]
    doc = (type(defect).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else type(defect).__name__
