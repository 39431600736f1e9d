"""A message's HTML made fit to show: the iframe's policy, and a rewrite as second fence.

Theory of operation: a message's HTML is hostile. What keeps it harmless is the
response it is served with, not what is done to it: :func:`iframe_csp` gives a
Content-Security-Policy whose ``sandbox`` directive (without ``allow-scripts`` or
``allow-same-origin``) and ``script-src 'none'`` stop every script, inline,
``onload=`` or ``javascript:``, and whose ``default-src 'none'`` stops every load
but images from this server (the message's own parts) and ``data:``. Remote
images, stylesheets and fonts are allowed only when the user asked for them.

:func:`rewrite_html` is the second fence, and the one that makes ``cid:`` images
work. It reads the HTML with the stdlib's ``html.parser`` (no regular expressions
over HTML) and writes it out again, every attribute value and text escaped:

- ``cid:`` references (RFC 2392) become the URLs of the parts they name;
- remote references that load by themselves (``src``, ``srcset``, ``background``,
  ``poster``, a ``<link>`` or SVG ``href``, CSS ``url()`` and ``@import``) are
  removed unless allowed, and counted, so the page can offer to load them;
- scripts (with their content), ``on*`` handlers, ``javascript:`` URLs,
  frames, objects, ``<base>``, ``<meta http-equiv>`` (a refresh would load a
  remote page) and non-stylesheet ``<link>`` (prefetch) are dropped;
- links open in a new browsing context (``target=_blank``, ``rel=noreferrer``).

CSS is rewritten with a regular expression, which CSS escapes can defeat: the
policy still blocks what it misses. Inside ``<style>``, ``<`` is written as the
CSS escape ``\\3c``, so no ``</style`` can end the element early where a browser
and ``html.parser`` disagree on where it ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from html.parser import HTMLParser
from urllib.parse import quote, unquote

__all__ = [
    "has_remote_references",
    "iframe_csp",
    "iframe_headers",
    "part_headers",
    "rewrite_html",
]

# Elements dropped together with their content.
_DROP_WITH_CONTENT = frozenset({"script"})
# Elements dropped, their content kept.
_DROP_TAG = frozenset(
    {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal", "param"}
)
# Attributes whose URL the browser fetches by itself, without a click.
_LOADING = frozenset({"src", "background", "poster", "lowsrc", "dynsrc", "data"})
# Attributes that hold a URL to follow (checked for javascript: and the like).
_URL_ATTRIBUTES = frozenset(
    {"href", "xlink:href", "action", "formaction", "cite", "longdesc", "usemap", *_LOADING}
)
_LINK_ELEMENTS = frozenset({"a", "area"})
_VOID = frozenset(
    {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
# URL schemes that run code or render a document of their own.
_FORBIDDEN_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:image/svg")
_NAME = re.compile(r"[a-z][a-z0-9:_.-]*\Z")  # a tag or attribute name safe to write back
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import", re.IGNORECASE)
# RFC 2045 §5.1: type "/" subtype, each a token; anything else is served as octets.
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+\Z")
_CHARSET = re.compile(r"; charset=[A-Za-z0-9!#$&^_.+:-]+\Z")
# A part served by itself (a download, an inline image opened in a tab) is as
# hostile as the HTML: an SVG or HTML part must not run scripts on this origin.
PART_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def iframe_csp(*, allow_remote: bool) -> str:
    """The Content-Security-Policy to serve a message's HTML with.

    'self' is this server (the message's parts); ``allow_remote`` adds remote
    images, stylesheets and fonts, never scripts, frames or form submissions."""
    remote = " https: http:" if allow_remote else ""
    return "; ".join(
        (
            # Popups (a clicked link with target=_blank) leave the sandbox, so the
            # linked page works as it would in a mail client.
            "sandbox allow-popups allow-popups-to-escape-sandbox",
            "default-src 'none'",
            "script-src 'none'",
            f"img-src 'self' data:{remote}",
            f"style-src 'self' 'unsafe-inline'{remote}",
            f"font-src 'self' data:{remote}",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'self'",
        )
    )


def iframe_headers(*, allow_remote: bool) -> dict[str, str]:
    """Every response header to serve :func:`rewrite_html`'s output with."""
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": iframe_csp(allow_remote=allow_remote),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def part_headers(content_type: str, filename: str | None, *, download: bool) -> dict[str, str]:
    """The response headers for a part's octets (``part_bytes``): its type if it is
    a well-formed one, a sandbox either way, and ``attachment`` when ``download``."""
    media_type, _, charset = content_type.partition(";")
    media_type = media_type.strip().lower()
    if not _MEDIA_TYPE.match(media_type):
        media_type, charset = "application/octet-stream", ""
    if charset and _CHARSET.match(f";{charset}"):
        media_type += f";{charset}"
    disposition = "attachment" if download else "inline"
    if filename:
        # RFC 6266 §4.3: an ASCII fallback, then the name itself in RFC 8187 form.
        name = "".join(c for c in filename.replace("\\", "/").rsplit("/", 1)[-1] if c >= " ")
        fallback = "".join(c if " " <= c <= "~" and c not in '"%' else "_" for c in name)
        disposition += f"; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    return {
        "Content-Type": media_type,
        "Content-Disposition": disposition,
        "Content-Security-Policy": PART_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def rewrite_html(html: str, *, cid_urls: Mapping[str, str], allow_remote: bool) -> str:
    """``html`` written out again as the module docstring says.

    ``cid_urls`` maps a Content-ID (without angle brackets, lower case) to the URL
    of its part; a ``cid:`` reference to no known part is dropped."""
    rewriter = _Rewriter(cid_urls, allow_remote=allow_remote)
    rewriter.run(html)
    return "".join(rewriter.out)


def has_remote_references(html: str) -> bool:
    """Whether ``html`` loads anything remote by itself (the "load remote images" offer)."""
    rewriter = _Rewriter({}, allow_remote=False)
    rewriter.run(html)
    return rewriter.remote > 0


def _scheme_of(value: str) -> str:
    """The URL's start, lower case, without the whitespace and control characters
    browsers ignore there (so "java\\tscript:" is seen as "javascript:")."""
    return "".join(c for c in value[:64] if c > " " and c != "\x7f").lower()


def _is_remote(url: str) -> bool:
    start = _scheme_of(url)
    return start.startswith(("http:", "https:", "//", "ftp:"))


class _Rewriter(HTMLParser):
    def __init__(self, cid_urls: Mapping[str, str], *, allow_remote: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.cid_urls = cid_urls
        self.allow_remote = allow_remote
        self.out: list[str] = []
        self.remote = 0  # remote references seen (removed unless allowed)
        self._dropping: str | None = None  # inside an element dropped with its content
        self._in_style = False

    def run(self, html: str) -> None:
        self.feed(html)
        self.close()

    # Tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=True)

    def handle_endtag(self, tag: str) -> None:
        if self._dropping is not None:
            if tag == self._dropping:
                self._dropping = None
            return
        if tag == "style":
            self._in_style = False
        if tag in _DROP_TAG or tag in _DROP_WITH_CONTENT or tag in _VOID or not _NAME.match(tag):
            return
        self.out.append(f"</{tag}>")

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, self_closing: bool) -> None:
        if self._dropping is not None:
            return
        if tag in _DROP_WITH_CONTENT:
            if not self_closing:
                self._dropping = tag
            return
        if tag in _DROP_TAG or not _NAME.match(tag):
            return
        kept = self._attributes(tag, attrs)
        if kept is None:
            return
        if tag in _LINK_ELEMENTS and any(name == "href" for name, _ in kept):
            kept = [(n, v) for n, v in kept if n not in ("target", "rel")]
            kept += [("target", "_blank"), ("rel", "noopener noreferrer")]
        text = "".join(f" {n}" if v is None else f' {n}="{escape(v)}"' for n, v in kept)
        if not self_closing:
            self.out.append(f"<{tag}{text}>")
            self._in_style = tag == "style"
        elif tag in _VOID:
            self.out.append(f"<{tag}{text} />")
        else:
            # A browser ignores the "/" of <div/> or <style/> and opens the element;
            # html.parser does not. Close it here, so both read the rest alike.
            self.out.append(f"<{tag}{text}></{tag}>")

    def _attributes(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> list[tuple[str, str | None]] | None:
        """The attributes to keep; None to drop the element itself."""
        names = {name for name, _ in attrs}
        if tag == "meta" and names & {"http-equiv", "charset"}:
            return None  # a refresh loads a page; the charset is the response's (UTF-8)
        if tag == "link":
            rel = next((v or "" for n, v in attrs if n == "rel"), "").lower().split()
            if "stylesheet" not in rel:
                return None  # prefetch, preconnect, icons: loads nobody asked for
        kept: list[tuple[str, str | None]] = []
        for name, value in attrs:
            if not _NAME.match(name) or name.startswith("on") or name == "ping":
                continue
            if value is None:
                kept.append((name, None))
                continue
            if name == "style":
                kept.append((name, self._css(value)))
                continue
            loads = name in _LOADING or (
                name in ("href", "xlink:href") and tag not in _LINK_ELEMENTS
            )
            if name == "srcset":
                if any(_is_remote(c.strip()) for c in value.split(",")):
                    self.remote += 1
                    if not self.allow_remote:
                        continue
                kept.append((name, value))
                continue
            if name not in _URL_ATTRIBUTES:
                kept.append((name, value))
            elif (url := self._url(value, loads=loads)) is not None:
                kept.append((name, url))
        return kept

    def _url(self, value: str, *, loads: bool) -> str | None:
        """The URL to write for ``value``; None to drop the attribute."""
        start = _scheme_of(value)
        if start.startswith(_FORBIDDEN_SCHEMES):
            return None
        if start.startswith("cid:"):
            return self._cid(value)
        if loads and _is_remote(value):
            self.remote += 1
            return value if self.allow_remote else None
        return value

    def _cid(self, url: str) -> str | None:
        content_id = unquote(url.strip()[4:]).strip().strip("<>").lower()
        return self.cid_urls.get(content_id)

    def _css(self, css: str) -> str:
        def replace(match: re.Match[str]) -> str:
            url = next(g for g in match.groups() if g is not None)
            if _scheme_of(url).startswith("cid:"):
                part = self._cid(url)
                return 'url("")' if part is None else f'url("{part}")'
            if _scheme_of(url).startswith(_FORBIDDEN_SCHEMES):
                return 'url("")'
            if _is_remote(url):
                self.remote += 1
                if not self.allow_remote:
                    return 'url("")'
            return match.group(0)

        css = _CSS_URL.sub(replace, css)
        if not self.allow_remote and _CSS_IMPORT.search(css):
            # An unknown at-rule is ignored up to its ";" (CSS Syntax §5.4.2).
            self.remote += 1
            css = _CSS_IMPORT.sub("@import-blocked", css)
        return css

    # Content

    def handle_data(self, data: str) -> None:
        if self._dropping is not None:
            return
        if self._in_style:
            self.out.append(self._css(data).replace("<", "\\3c "))
        else:
            self.out.append(escape(data, quote=False))

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype") and self._dropping is None:
            self.out.append(f"<!{escape(decl, quote=False)}>")

    # Comments, processing instructions and CDATA sections are dropped: they show
    # nothing, and conditional comments are for Outlook.
    def handle_comment(self, data: str) -> None:
        return

    def handle_pi(self, data: str) -> None:
        return

    def unknown_decl(self, data: str) -> None:
        return
