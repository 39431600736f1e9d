"""The inbox's pages, rendered from plain data into HTML strings (no HTTP here).

Theory of operation: a route reads the store, then calls :func:`render_list` or
:func:`render_message` with what it read; the pages are server-rendered Jinja2
templates (``templates/``, autoescaped), made live by one plain ES module
(``static/inbox.js``, no build step). Nothing is loaded from another host: no
CDN, no web font. Every URL a page links to comes from :class:`Urls`, so the
inbox can live under a prefix (``root="/mail"``).

The URL scheme (relative to ``root``), with what each route calls::

    GET    /                                  render_list; ?query=&inbox=&cursor=
                                              (list_inbox(inbox): absent or "*" is
                                              every inbox, "" the default one)
    GET    /messages/{id}                     render_message; ?remote=1
    GET    /messages/{id}/html                html_for_iframe, iframe_headers; ?remote=1
    GET    /static/{name}                     inbox.js, inbox.css (from this package)
    GET    /api/v1/messages                   ?query=&inbox=&limit=&cursor=: MessageList
                                              of summary_json
    DELETE /api/v1/messages                   ?query=&inbox=: delete all matching
    GET    /api/v1/messages/wait              ?query=&inbox=&after=&timeout=: long poll,
                                              message_json or 408
    POST   /api/v1/messages/seen              {"ids": [...], "seen": true}
    GET    /api/v1/messages/{id}              message_json(stored, parse_message(raw))
    DELETE /api/v1/messages/{id}
    GET    /api/v1/messages/{id}/raw          the message as received
    GET    /api/v1/messages/{id}/parts/{n}    part_bytes, part_headers; ?download=1
    POST   /api/v1/messages/{id}/release      {"to": [...]}: ReleaseResult
    GET    /api/v1/events                     server-sent events; ?inbox=
                                              "event: message", data: summary_json
    GET    /api/v1/faults, PUT /api/v1/faults fault injection rules
    GET    /metrics                           Prometheus text
    GET    /api/v1/openapi.json               _openapi.OPENAPI

The shapes are _openapi.OPENAPI's. ``cursor`` is the id of the last message of
the previous page: the next page holds the messages older than it (the store's
``before``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import quote, urlencode

import jinja2

from smtpx.store import StoredMessage

from ._json import timestamp_json
from ._render import MessageView
from ._sandbox import has_remote_references

__all__ = [
    "ALL_INBOXES",
    "PAGE_CSP",
    "Urls",
    "list_inbox",
    "page_headers",
    "render_list",
    "render_message",
]

# The inbox selector's "All inboxes": "" cannot say it, as it names the default inbox.
ALL_INBOXES = "*"

# The policy of the inbox's own pages: only this server, no inline script or style
# (the templates have none), no framing by others.
PAGE_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# The Raw tab shows this much of a message; the whole is a link away.
RAW_PREVIEW = 512 * 1024
# Image parts small enough to be shown in the Parts tab, of types every browser shows.
_THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_THUMBNAIL_MAX = 5 * 1024 * 1024

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("smtpx.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def list_inbox(value: str | None) -> str | None:
    """The inbox a list URL's ``inbox`` parameter asks for (None: every inbox)."""
    return None if value is None or value == ALL_INBOXES else value


def page_headers() -> dict[str, str]:
    """The response headers for a page of :func:`render_list` or :func:`render_message`."""
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


@dataclass(frozen=True, slots=True)
class Urls:
    """Every URL of the inbox (the scheme in the module docstring), under ``root``."""

    root: str = ""  # "" or a path prefix without a trailing slash: "/mail"

    def list(self, *, query: str = "", inbox: str | None = None, cursor: str | None = None) -> str:
        """``inbox`` None: every inbox; "" the default one."""
        parameters = {"query": query} if query else {}
        if inbox is not None:
            parameters["inbox"] = inbox
        if cursor:
            parameters["cursor"] = cursor
        return f"{self.root}/?{urlencode(parameters)}" if parameters else f"{self.root}/"

    def message(self, message_id: str, *, remote: bool = False, inbox: str | None = None) -> str:
        """``inbox``: the list the reader came from (None: every inbox)."""
        path = f"{self.root}/messages/{_segment(message_id)}"
        parameters = {"remote": "1"} if remote else {}
        if inbox is not None:
            parameters["inbox"] = inbox
        return f"{path}?{urlencode(parameters)}" if parameters else path

    def message_html(self, message_id: str, *, remote: bool = False) -> str:
        return self._with(f"{self.root}/messages/{_segment(message_id)}/html", remote=remote)

    def static(self, name: str) -> str:
        return f"{self.root}/static/{_segment(name)}"

    def api_messages(self) -> str:
        return f"{self.root}/api/v1/messages"

    def api_message(self, message_id: str) -> str:
        return f"{self.api_messages()}/{_segment(message_id)}"

    def api_raw(self, message_id: str) -> str:
        return f"{self.api_message(message_id)}/raw"

    def api_part(self, message_id: str, n: int, *, download: bool = False) -> str:
        path = f"{self.api_message(message_id)}/parts/{n}"
        return f"{path}?download=1" if download else path

    def api_release(self, message_id: str) -> str:
        return f"{self.api_message(message_id)}/release"

    def api_seen(self) -> str:
        return f"{self.api_messages()}/seen"

    def api_events(self) -> str:
        return f"{self.root}/api/v1/events"

    @staticmethod
    def _with(path: str, *, remote: bool) -> str:
        return f"{path}?remote=1" if remote else path


@dataclass(frozen=True, slots=True)
class _Row:
    """One line of the list, ready to print."""

    id: str
    from_: str
    to: str
    subject: str
    attachments: int
    received_iso: str
    received_text: str
    size: int
    unread: bool
    inbox: str


def render_list(
    messages: Sequence[StoredMessage],
    *,
    query: str = "",
    inbox: str | None = None,
    inboxes: Sequence[str] = (),
    before: str | None = None,
    cursor: str | None = None,
    total: int | None = None,
    error: str | None = None,
    urls: Urls = Urls(),
) -> str:
    """The list page: ``messages`` newest first, as the store returned them.

    ``inbox`` is the inbox shown (None: every inbox, "" the default one), one of
    ``inboxes``, the names to choose from; ``before`` is the cursor this page was
    read from (None for the first page: only it takes new messages live);
    ``cursor`` the one for the next, older page (None: this is the last);
    ``total`` how many messages match, if known; ``error`` what is wrong with
    the query (the page then shows it above the search box's text, to mend)."""
    rows = [_row(message) for message in messages]
    return _ENVIRONMENT.get_template("list.html").render(
        rows=rows,
        query=query,
        inbox=inbox,
        inboxes=list(inboxes),
        all_inboxes=ALL_INBOXES,
        before=before,
        cursor=cursor,
        total=total,
        error=error,
        urls=urls,
    )


def render_message(
    stored: StoredMessage,
    view: MessageView,
    raw: bytes,
    *,
    allow_remote: bool = False,
    can_release: bool = True,
    inbox: str | None = None,
    inboxes: Sequence[str] = (),
    urls: Urls = Urls(),
) -> str:
    """The message page: its HTML (in a sandboxed iframe), text, headers, raw
    source, parts, envelope and session, and a form to release it.

    ``allow_remote`` loads the iframe with remote images; ``can_release`` says
    whether a server to release to is configured; ``inbox`` is the list the reader
    came from (None: every inbox). An unseen message is marked seen by the page's
    script (POST /api/v1/messages/seen), so the page's GET changes nothing."""
    summary = stored.summary
    preview = raw[:RAW_PREVIEW].decode("utf-8", "replace")
    thumbnails = {
        part.index
        for part in view.parts
        if part.content_type in _THUMBNAIL_TYPES and part.size <= _THUMBNAIL_MAX
    }
    return _ENVIRONMENT.get_template("message.html").render(
        stored=stored,
        view=view,
        subject=summary.subject,
        from_=summary.from_ or _sender(stored),
        to=", ".join(summary.to) or _recipients(stored),
        cc=", ".join(summary.cc),
        received_iso=timestamp_json(stored.received_at),
        received_text=_when(stored),
        remote_content=view.html is not None and has_remote_references(view.html),
        allow_remote=allow_remote,
        can_release=can_release,
        raw_text=preview,
        raw_truncated=len(raw) > RAW_PREVIEW,
        raw_size=len(raw),
        thumbnails=thumbnails,
        release_to=", ".join(r.address for r in stored.envelope.recipients),
        query="",
        inbox=inbox,
        inboxes=list(inboxes),
        all_inboxes=ALL_INBOXES,
        urls=urls,
    )


def _row(message: StoredMessage) -> _Row:
    summary = message.summary
    return _Row(
        id=message.id,
        from_=summary.from_ or _sender(message),
        to=", ".join(summary.to) or _recipients(message),
        subject=summary.subject,
        attachments=len(summary.attachments),
        received_iso=timestamp_json(message.received_at),
        received_text=_when(message),
        size=message.size,
        unread=not message.seen,
        inbox=message.inbox,
    )


def _sender(message: StoredMessage) -> str:
    return message.envelope.sender or "<>"


def _recipients(message: StoredMessage) -> str:
    return ", ".join(recipient.address for recipient in message.envelope.recipients)


def _when(message: StoredMessage) -> str:
    """UTC, to the minute; the page's script shows it in the reader's time zone."""
    return message.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _segment(text: str) -> str:
    return quote(text, safe="")


def _octets(size: int) -> str:
    """A size for people: "512 B", "12.3 kB", "4.0 MB" (SI units)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value:.1f} TB"


_ENVIRONMENT.filters["octets"] = _octets
