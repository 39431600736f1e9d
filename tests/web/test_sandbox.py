"""The iframe's policy stops scripts by itself; the rewrite is a second fence that also
makes cid: images work and keeps remote references out until the user asks."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpx.web._sandbox import (
    has_remote_references,
    iframe_csp,
    iframe_headers,
    part_headers,
    rewrite_html,
)

CIDS = {"logo@example.org": "/parts/2", "a b@x": "/parts/3"}


def rewrite(html: str, *, allow_remote: bool = False) -> str:
    return rewrite_html(html, cid_urls=CIDS, allow_remote=allow_remote)


def directives(csp: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for directive in csp.split(";"):
        name, *values = directive.split()
        assert name not in found, f"{name} given twice"
        found[name] = values
    return found


class Collect(HTMLParser):
    """The tags and attributes a browser-like parse of the output finds."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)


def collect(html: str) -> Collect:
    parser = Collect()
    parser.feed(html)
    parser.close()
    return parser


# The policy


@pytest.mark.parametrize("allow_remote", [False, True])
def test_csp_sandboxes_without_scripts_or_same_origin(allow_remote: bool) -> None:
    policy = directives(iframe_csp(allow_remote=allow_remote))
    assert "sandbox" in policy
    assert "allow-scripts" not in policy["sandbox"]
    assert "allow-same-origin" not in policy["sandbox"]
    assert policy["script-src"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["form-action"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" in policy["style-src"]
    assert {"'self'", "data:"} <= set(policy["img-src"])
    for directive in ("img-src", "style-src", "font-src"):
        assert ("https:" in policy[directive]) is allow_remote
        assert ("http:" in policy[directive]) is allow_remote
    assert "script-src" not in {d for d, v in policy.items() if "https:" in v}


def test_iframe_headers_carry_the_policy() -> None:
    headers = iframe_headers(allow_remote=False)
    assert headers["Content-Security-Policy"] == iframe_csp(allow_remote=False)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


# Scripts: the second fence


def test_script_elements_go_with_their_content() -> None:
    out = rewrite("<p>a<script>alert(1)</script>b<SCRIPT src=x.js></SCRIPT>c</p>")
    assert out == "<p>abc</p>"


def test_event_handlers_are_dropped() -> None:
    out = rewrite('<img src="cid:logo@example.org" onerror="alert(1)" ONLOAD=x><body onload=y>')
    assert out == '<img src="/parts/2"><body>'


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", " JaVa\tScRiPt:alert(1)", "vbscript:x", "data:text/html,<b>"]
)
def test_script_urls_are_dropped(url: str) -> None:
    out = rewrite(f'<a href="{url}">x</a><form action="{url}"><button formaction="{url}">')
    assert "href" not in out
    assert "action" not in out
    assert out.startswith("<a>x</a><form>")


def test_frames_objects_base_and_refresh_are_dropped() -> None:
    out = rewrite(
        '<base href="//evil.example/"><meta http-equiv="refresh" content="0;url=//evil.example">'
        '<iframe src="x"></iframe><object data="x"></object><embed src="x">'
        '<link rel="prefetch" href="x"><meta name="viewport" content="width=device-width">'
    )
    assert out == '<meta name="viewport" content="width=device-width">'


def test_attribute_values_and_text_are_escaped() -> None:
    out = rewrite('<p title="&quot;><script>x</script>">1 &lt; 2 &amp; <b>3</b></p>')
    assert out == '<p title="&quot;&gt;&lt;script&gt;x&lt;/script&gt;">1 &lt; 2 &amp; <b>3</b></p>'


def test_malformed_attribute_names_are_dropped() -> None:
    out = rewrite('<img src="cid:logo@example.org" "onerror=alert(1) a<b=c>')
    assert collect(out).attributes == [("src", "/parts/2")]


def test_a_style_element_cannot_end_early() -> None:
    # html.parser ends <style> only at "</style>"; a browser also at "</style foo>".
    out = rewrite("<style>p{}</style foo><img src=x onerror=alert(1)></style><p>after</p>")
    assert "<img" not in out
    assert "onerror" in out  # as CSS text, where it is inert
    assert out.endswith("</style><p>after</p>")
    assert "</style foo>" not in out


def test_self_closing_raw_text_elements_are_closed() -> None:
    out = rewrite("<style/><p>text</p>")
    assert out == "<style></style><p>text</p>"


def test_links_open_outside_the_frame_without_referrer() -> None:
    out = rewrite('<a href="https://example.org/" target="_self" rel="x">go</a>')
    assert out == (
        '<a href="https://example.org/" target="_blank" rel="noopener noreferrer">go</a>'
    )


def test_comments_go_and_the_doctype_stays() -> None:
    assert rewrite("<!DOCTYPE html><!--[if mso]>x<![endif]--><p>y</p>") == "<!DOCTYPE html><p>y</p>"


# cid: references


def test_cid_references_become_part_urls() -> None:
    out = rewrite(
        '<img src="cid:logo@example.org"><img src="CID:%3Clogo@EXAMPLE.org%3E">'
        '<td background="cid:a%20b@x">'
        "<div style=\"background: url('cid:logo@example.org')\">"
    )
    assert out == (
        '<img src="/parts/2"><img src="/parts/2"><td background="/parts/3">'
        '<div style="background: url(&quot;/parts/2&quot;)">'
    )


def test_an_unknown_cid_is_dropped() -> None:
    assert rewrite('<img src="cid:nobody@example.org" alt="x">') == '<img alt="x">'


# Remote references


@pytest.mark.parametrize(
    "html",
    [
        '<img src="https://t.example/p.gif">',
        '<img src="//t.example/p.gif">',
        '<img srcset="a.png 1x, https://t.example/b.png 2x">',
        '<table background="http://t.example/bg.png">',
        '<video poster="https://t.example/p.png">',
        '<div style="background-image: url(https://t.example/bg.png)">',
        '<link rel="stylesheet" href="https://t.example/s.css">',
        "<style>@import 'https://t.example/s.css';</style>",
        '<style>p { background: url("//t.example/x.png") }</style>',
        '<svg><image href="https://t.example/x.png"/></svg>',
    ],
)
def test_remote_references_are_removed_unless_allowed(html: str) -> None:
    assert has_remote_references(html)
    blocked = rewrite(html)
    assert "t.example" not in blocked or "@import-blocked" in blocked
    allowed = rewrite(html, allow_remote=True)
    assert "t.example" in allowed
    assert "@import-blocked" not in allowed


def test_links_and_local_references_are_not_remote_loads() -> None:
    html = '<a href="https://example.org/">x</a><img src="cid:logo@example.org"><img src="data:,">'
    assert not has_remote_references(html)
    assert rewrite(html) == (
        '<a href="https://example.org/" target="_blank" rel="noopener noreferrer">x</a>'
        '<img src="/parts/2"><img src="data:,">'
    )


# Hostile input at random: the output never holds a script, a handler or a remote load.

_FRAGMENTS = [
    "<script>",
    "</script>",
    "<script/>",
    "<style>",
    "</style>",
    "</style x>",
    "<style/>",
    "<img src=https://t.example/a onerror=alert(1)>",
    '<img src="java\nscript:x">',
    "<a href=javascript:x>",
    "<svg><script>x</script></svg>",
    "<textarea>",
    "</textarea>",
    "<title>",
    "<xmp>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<p ",
    '"',
    "'",
    ">",
    "<",
    "=",
    "&lt;",
    "&#60;",
    "url(//t.example/x)",
    "@import",
    "alert(1)",
    "onload=",
    "text",
]


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=30))
def test_random_hostile_html_comes_out_inert(fragments: list[str]) -> None:
    out = rewrite("".join(fragments))
    found = collect(out)
    assert "script" not in found.tags
    for name, value in found.attributes:
        assert not name.startswith("on")
        assert "t.example" not in (value or "")
        assert "script:" not in (value or "").replace("\n", "").lower()


# Serving a part by itself


def test_parts_are_served_sandboxed_even_when_they_are_html_or_svg() -> None:
    headers = part_headers("image/svg+xml", "logo.svg", download=False)
    assert headers["Content-Type"] == "image/svg+xml"
    assert (
        headers["Content-Disposition"] == "inline; filename=\"logo.svg\"; filename*=UTF-8''logo.svg"
    )
    assert directives(headers["Content-Security-Policy"])["sandbox"] == []
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none'
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_part_file_names_are_made_safe_for_the_header() -> None:
    headers = part_headers("text/plain; charset=utf-8", '../évil"\r\nX: y.txt', download=True)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"_vil_X: y.txt\"; filename*=UTF-8''%C3%A9vil%22X%3A%20y.txt"
    )


@pytest.mark.parametrize(
    "content_type", ["text/html\r\nX-Evil: 1", "nonsense", 'text/plain; charset="a b"']
)
def test_malformed_content_types_are_served_as_octets_or_without_charset(
    content_type: str,
) -> None:
    headers = part_headers(content_type, None, download=True)
    assert headers["Content-Type"] in ("application/octet-stream", "text/plain")
    assert headers["Content-Disposition"] == "attachment"
