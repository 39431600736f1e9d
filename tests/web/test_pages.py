"""The pages: autoescaped templates rendered from plain data, nothing loaded from
another host, no inline script or style (the page policy forbids them)."""

from __future__ import annotations

from html.parser import HTMLParser
from importlib import resources

import jinja2
import pytest
from tests.web import samples

from smtpx.web import _pages
from smtpx.web._pages import PAGE_CSP, Urls, page_headers, render_list, render_message
from smtpx.web._render import parse_message

WEB = resources.files("smtpx.web")
HOSTILE = "<script>alert(1)</script>"


class Page(HTMLParser):
    """What a rendered page holds: elements with their attributes, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, *present: str, **wanted: str) -> list[dict[str, str | None]]:
        """The ``tag`` elements with each attribute of ``present`` and ``wanted``
        (``data_id="x"`` for ``data-id="x"``)."""
        return [
            attrs
            for name, attrs in self.elements
            if name == tag
            and all(p in attrs for p in present)
            and all(attrs.get(k.replace("_", "-")) == v for k, v in wanted.items())
        ]


def shipped_files() -> list[str]:
    names = []
    for folder in ("templates", "static"):
        names += [f"{folder}/{entry.name}" for entry in (WEB / folder).iterdir() if entry.is_file()]
    return sorted(names)


# Nothing from another host


def test_the_package_ships_its_templates_and_assets() -> None:
    assert shipped_files() == [
        "static/inbox.css",
        "static/inbox.js",
        "templates/base.html",
        "templates/list.html",
        "templates/message.html",
    ]


@pytest.mark.parametrize("name", shipped_files())
def test_no_url_of_another_host_anywhere(name: str) -> None:
    text = (WEB / name).read_text(encoding="utf-8").lower()
    assert "http:" not in text
    assert "https:" not in text
    assert "//" not in text.replace("://", "") or name.endswith(".js")  # js comments


def test_every_template_compiles() -> None:
    environment = _pages._ENVIRONMENT
    assert environment.autoescape is True
    for name in environment.list_templates():
        environment.get_template(name)


def test_the_page_policy_allows_only_this_server() -> None:
    assert "'unsafe-inline'" not in PAGE_CSP
    assert "http" not in PAGE_CSP
    assert "script-src 'self'" in PAGE_CSP
    assert "frame-ancestors 'none'" in PAGE_CSP
    assert page_headers()["Content-Security-Policy"] == PAGE_CSP


def assert_policy_compliant(html: str, urls: Urls) -> Page:
    """No inline script or style, and every static file referenced exists."""
    page = Page(html)
    for tag, attrs in page.elements:
        assert "style" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), tag
        assert tag != "style"
        if tag == "script":
            assert attrs.get("src", "").startswith(urls.static(""))  # type: ignore[union-attr]
        for name in ("src", "href", "action"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//")), value
            if value.startswith(urls.static("")):
                assert (WEB / "static" / value.removeprefix(urls.static(""))).is_file()
    return page


# The list


def test_list_escapes_what_a_message_says() -> None:
    message = samples.stored(HOSTILE)
    html = render_list([message])
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_policy_compliant(html, Urls())


def test_list_rows_show_from_to_subject_time_size_attachments_and_unread() -> None:
    read = samples.stored("Read one", message_id="0190a1b2c3d4e5f60718", seen=True)
    unread = samples.stored("New one", message_id="0190a1b2c3d4e5f60719", attachments=("a.pdf",))
    page = Page(render_list([unread, read], total=2))
    rows = page.find("tr", data_id=unread.id)
    assert rows == [{"class": "unread", "data-id": unread.id}]
    assert page.find("tr", data_id=read.id)[0]["class"] == "read"
    assert page.find("a", href=f"/messages/{unread.id}")
    assert page.find("input", name="id", value=unread.id)
    assert page.find("span", title="1 attachment")
    assert page.find("time", datetime="2025-07-01T10:00:00.123Z")
    text = " ".join(page.text)
    for expected in ("Ann Example <ann@example.org>", "bob@example.net", "New one", "2.3 kB"):
        assert expected in text
    assert "2 messages" in text


def test_list_paging_and_first_page_marker() -> None:
    message = samples.stored()
    first = Page(render_list([message], query='from:"a b"', cursor=message.id))
    assert first.find("form", data_first_page="true")
    assert first.find("a", rel="next", href=f"/?query=from%3A%22a+b%22&cursor={message.id}")
    assert not [a for a in first.find("a") if (a.get("href") or "").endswith("/") and a.get("rel")]
    older = Page(render_list([message], before=message.id))
    assert older.find("form", data_first_page="false")
    assert not older.find("a", rel="next")  # the last page
    assert older.find("a", href="/")  # back to the newest


def test_list_search_box_keeps_the_query_escaped() -> None:
    query = '"><img src=x>'
    html = render_list([], query=query)
    assert "<img src=x>" not in html
    page = Page(html)
    assert page.find("input", name="query", value=query)
    assert "No message matches this search." in page.text


def test_list_inbox_selector_marks_the_current_inbox() -> None:
    page = Page(render_list([], inbox="qa", inboxes=["", "dev", "qa"]))
    options = page.find("option")
    assert [o["value"] for o in options] == [_pages.ALL_INBOXES, "", "dev", "qa"]
    assert [o["value"] for o in options if "selected" in o] == ["qa"]
    assert page.find("form", data_inbox="qa")
    assert "Default inbox" in page.text


def test_list_of_the_default_inbox_is_not_every_inbox() -> None:
    default = Page(render_list([], inbox="", inboxes=["", "qa"]))
    assert [o["value"] for o in default.find("option") if "selected" in o] == [""]
    assert default.find("form", data_inbox="")
    every = Page(render_list([samples.stored(inbox="qa")], inbox=None, inboxes=["", "qa"]))
    assert [o["value"] for o in every.find("option") if "selected" in o] == [_pages.ALL_INBOXES]
    assert not every.find("form", "data-list", "data-inbox")
    assert "qa" in every.text  # each row names its inbox


@pytest.mark.parametrize(("value", "inbox"), [(None, None), ("*", None), ("", ""), ("qa", "qa")])
def test_list_inbox_parameter(value: str | None, inbox: str | None) -> None:
    assert _pages.list_inbox(value) == inbox
    assert Urls().list(inbox="") == "/?inbox="


def test_list_under_a_prefix_links_under_it() -> None:
    urls = Urls("/mail")
    message = samples.stored()
    html = render_list([message], urls=urls)
    page = assert_policy_compliant(html, urls)
    assert page.find("a", href=f"/mail/messages/{message.id}")
    assert page.find("body", data_events="/mail/api/v1/events")
    assert page.find("link", href="/mail/static/inbox.css")


# The message


def message_page(
    raw: bytes, *, allow_remote: bool = False, can_release: bool = True
) -> tuple[str, Page]:
    stored = samples.stored(HOSTILE)
    view = parse_message(raw)
    html = render_message(stored, view, raw, allow_remote=allow_remote, can_release=can_release)
    return html, assert_policy_compliant(html, Urls())


def test_message_shows_html_in_a_sandboxed_frame() -> None:
    html, page = message_page(samples.inline_image())
    assert HOSTILE not in html
    (frame,) = page.find("iframe")
    assert frame["src"] == "/messages/0190a1b2c3d4e5f60718/html"
    sandbox = (frame["sandbox"] or "").split()
    assert "allow-scripts" not in sandbox
    assert "allow-same-origin" not in sandbox
    (button,) = page.find("a", "data-load-remote")
    assert button["data-src"] == "/messages/0190a1b2c3d4e5f60718/html?remote=1"
    assert button["href"] == "/messages/0190a1b2c3d4e5f60718?remote=1#html"


def test_message_with_remote_images_allowed_loads_them_and_offers_nothing() -> None:
    _, page = message_page(samples.inline_image(), allow_remote=True)
    assert page.find("iframe")[0]["src"] == "/messages/0190a1b2c3d4e5f60718/html?remote=1"
    assert not page.find("a", "data-load-remote")


def test_message_without_remote_content_offers_no_button() -> None:
    _, page = message_page(samples.alternative())
    assert page.find("iframe")
    assert not page.find("a", "data-load-remote")


def test_plain_message_has_no_frame_but_its_text() -> None:
    _, page = message_page(samples.plain())
    assert not page.find("iframe")
    assert "Hello, Bob.\r\nSee you.\r\n" in page.text


def test_message_lists_parts_with_download_links_and_thumbnails() -> None:
    _, page = message_page(samples.inline_image())
    base = "/api/v1/messages/0190a1b2c3d4e5f60718/parts"
    downloads = [a["href"] for a in page.find("a", "download")]
    assert downloads[1:] == [f"{base}/{n}?download=1" for n in range(3)]  # after the .eml
    assert page.find("img", src=f"{base}/2")


def test_message_shows_envelope_session_and_received_chain() -> None:
    message = samples.headed()
    message["Received"] = "from relay.example ([198.51.100.7]) by mx.example with ESMTPS id r1"
    message.set_content("x\n")
    _, page = message_page(samples.as_bytes(message))
    text = " ".join(page.text)
    for expected in (
        "<ann@example.org> SIZE=2345 SMTPUTF8",
        "<bob@example.net> NOTIFY=SUCCESS,FAILURE",
        "192.0.2.1 port 40123",
        "client.example",
        "TLSv1.3 TLS_AES_256_GCM_SHA384",
        "relay.example (198.51.100.7)".replace("(", "([").replace(")", "])"),
        "ESMTPS",
        "r1",
    ):
        assert expected in text, expected


def test_message_headers_and_raw_source_are_escaped() -> None:
    message = samples.headed(HOSTILE)
    message.set_content(f"{HOSTILE}\n")
    html, page = message_page(samples.as_bytes(message))
    assert HOSTILE not in html
    assert HOSTILE in "".join(page.text)


def test_long_raw_source_is_cut_with_a_link_to_all_of_it() -> None:
    raw = samples.plain() + b"x" * (_pages.RAW_PREVIEW + 10)
    _, page = message_page(raw)
    assert page.find("a", href="/api/v1/messages/0190a1b2c3d4e5f60718/raw")
    assert "the whole source" in page.text


def test_release_form_only_when_a_server_is_configured() -> None:
    _, page = message_page(samples.plain())
    (form,) = page.find("form", "data-release")
    assert form["action"] == "/api/v1/messages/0190a1b2c3d4e5f60718/release"
    assert page.find("input", name="to", value="bob@example.net")
    _, without = message_page(samples.plain(), can_release=False)
    assert not without.find("form", "data-release")


def test_message_page_for_an_unparseable_message_still_renders() -> None:
    html, page = message_page(samples.MISSING_BOUNDARY)
    assert page.find("article", data_unread="true")
    assert "problems in this message" in html


def test_undefined_template_variables_fail_loudly() -> None:
    with pytest.raises(jinja2.UndefinedError):
        _pages._ENVIRONMENT.get_template("list.html").render()
