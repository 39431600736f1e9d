"""The inbox in a real browser: Debian's headless Chromium, driven by Playwright.

Theory of operation. One ``smtpx serve`` runs for the module, with its HTTP side
on loopback ports picked at run time (tests/web/inbox.py), and is emptied before
each test; one Chromium runs for the module (Debian's ``chromium`` package at
/usr/bin/chromium, never a ``playwright install`` download), and each test has a
browser context of its own. Mail goes in with smtplib; the tests drive the pages
as a reader would: the live list, the message view with its sandboxed HTML,
downloads, search, deletion, read state.

Nothing reaches the network: Chromium resolves no name but loopback
(:data:`CHROMIUM_ARGS`), every request a page makes is recorded
(:class:`Browsing`), and the one remote image a test asks for is aborted by a
route. Every wait is a Playwright wait of a few seconds, or a bounded poll of the
server's metrics; nothing sleeps to synchronise.
"""

from __future__ import annotations

import os
import smtplib
import struct
import time
import zlib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Route,
    expect,
    sync_playwright,
)
from tests.peers import LOOPBACK, POLL_INTERVAL, STARTUP_TIMEOUT, require_binary
from tests.web.inbox import Inbox, start_inbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    # No host name resolves, and no DNS query leaves: what a page asks of another
    # host fails at once (ERR_NAME_NOT_RESOLVED), whether or not a test routes it.
    # The inbox is on an address, not a name.
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
]
if os.geteuid() == 0:
    # Chromium's own sandbox (user namespaces, or the setuid helper) cannot run as
    # root, and Chromium refuses to start as root without this flag. The pages are
    # the inbox's own on loopback; the message HTML stays fenced by the iframe's
    # sandbox attribute and CSP, which this flag does not touch.
    CHROMIUM_ARGS.append("--no-sandbox")
# Milliseconds for any one Playwright step: a loopback page answers in far less.
STEP_TIMEOUT_MS = 5_000
# A new message must be in the open list within this (the page waits 250 ms to
# take a burst in one refresh, then fetches the list again).
LIVE_TIMEOUT_MS = 1_000
# A remote image on a name that cannot resolve (RFC 6761 §6.4, and the resolver
# rules above); the test that asks for it aborts the request by a route too.
REMOTE_IMAGE = "http://tracker.invalid/pixel.gif"
CONTENT_ID = "logo@smtpx.test"


def png(width: int, height: int) -> bytes:
    """A real PNG of ``width`` x ``height`` red pixels (so the browser can draw it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(rows)),
            chunk(b"IEND", b""),
        )
    )


LOGO = png(7, 5)
# What the hostile HTML's script and handlers would do, had they run: post to
# the parent page, and write into their own document.
HOSTILE_HTML = f"""<!DOCTYPE html>
<html><head><title>inner</title></head>
<body onload="parent.postMessage('onload ran', '*')">
<p>Hello from the <b>HTML part</b>.</p>
<img id="logo" alt="logo" src="cid:{CONTENT_ID}">
<img id="remote" alt="remote" src="{REMOTE_IMAGE}" onerror="parent.postMessage('onerror ran', '*')">
<script>
parent.postMessage("script ran", "*");
document.body.insertAdjacentHTML("beforeend", "<p id='ran'>script ran</p>");
</script>
</body></html>
"""
# Runs in every frame before the page's own scripts: collects what is posted.
RECORD_POSTS = """
window.__posted = [];
window.addEventListener("message", (event) => window.__posted.push(String(event.data)));
"""


def hostile_message(subject: str) -> EmailMessage:
    """Text and HTML alternatives; the HTML related to an inline image by Content-ID."""
    message = EmailMessage()
    message["From"] = "mallory@example.org"
    message["To"] = "bob@example.net"
    message["Subject"] = subject
    message.set_content("Hello from the text part.\n")
    message.add_alternative(HOSTILE_HTML, subtype="html")
    html_part = message.get_body(("html",))
    assert html_part is not None
    html_part.add_related(LOGO, maintype="image", subtype="png", cid=f"<{CONTENT_ID}>")
    return message


def send_message(inbox: Inbox, message: EmailMessage) -> None:
    with smtplib.SMTP(LOOPBACK, inbox.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


class Browsing:
    """A page in a fresh context, with every request and console error recorded.

    Nothing is routed by default: a route would change what the browser does (with
    one, Chromium does not even ask for /favicon.ico), and the resolver rules keep
    every other host out of reach anyway (:data:`CHROMIUM_ARGS`)."""

    def __init__(self, browser: Browser, inbox: Inbox) -> None:
        self.inbox = inbox
        self.origin = inbox.base_url
        self.context = browser.new_context(base_url=self.origin, accept_downloads=True)
        self.context.set_default_timeout(STEP_TIMEOUT_MS)
        self.context.add_init_script(RECORD_POSTS)
        self.requests: list[str] = []
        self.errors: list[str] = []  # console errors and uncaught exceptions
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def close(self) -> None:
        self.context.close()

    def foreign(self) -> list[str]:
        """The requests to anywhere but the inbox."""
        return [url for url in self.requests if not url.startswith(f"{self.origin}/")]

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location['url']})")

    def open_list(self, query: str = "") -> None:
        """The list page, its event stream connected (so no new message is missed)."""
        with self.page.expect_response(lambda response: "/api/v1/events" in response.url):
            self.page.goto(f"/?{urlencode({'query': query})}" if query else "/")
        wait_for_listeners(self.inbox, 1)  # and the previous page's stream gone

    def rows(self) -> Locator:
        return self.page.locator("tbody[data-rows] tr[data-id]")

    def subjects(self) -> Locator:
        return self.page.locator("tbody[data-rows] td.subject a")

    def row(self, subject: str) -> Locator:
        return self.rows().filter(has=self.page.get_by_role("link", name=subject, exact=True))

    def posted(self) -> list[str]:
        posted: list[str] = self.page.evaluate("window.__posted")
        return posted


def wait_for_listeners(inbox: Inbox, count: int) -> None:
    """Return once exactly ``count`` event streams are open (the server's metrics say so)."""
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    line = f"smtpx_inbox_listeners {float(count)}"
    while line not in inbox.http.get("/metrics").text.splitlines():
        assert time.monotonic() < deadline, f"no {line!r} in time"
        time.sleep(POLL_INTERVAL)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # In CI a missing browser is a failure with the command that installs it.
    require_binary(CHROMIUM, "chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=STARTUP_TIMEOUT * 1000,
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def running_inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inbox]:
    with start_inbox(tmp_path_factory.mktemp("inbox") / "data") as running:
        yield running


@pytest.fixture
def inbox(running_inbox: Inbox) -> Inbox:
    """The module's ``smtpx serve``, emptied (one start per test would double the time)."""
    assert running_inbox.http.delete("/api/v1/messages").status_code == 200
    assert running_inbox.ids() == []
    return running_inbox


@pytest.fixture
def browsing(browser: Browser, inbox: Inbox) -> Iterator[Browsing]:
    session = Browsing(browser, inbox)
    try:
        yield session
    finally:
        session.close()


def test_a_new_message_appears_in_the_open_list_without_a_reload(
    browsing: Browsing, inbox: Inbox
) -> None:
    browsing.open_list()
    page = browsing.page
    expect(page.get_by_text("No messages yet.")).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    inbox.send("live one")
    expect(browsing.subjects()).to_have_text(["live one"], timeout=LIVE_TIMEOUT_MS)
    inbox.send("live two")
    expect(browsing.subjects()).to_have_text(["live two", "live one"], timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("[data-count]")).to_have_text("2 messages")
    assert page.evaluate("window.__notReloaded") is True  # the same document all along


def test_a_reset_from_the_server_refreshes_the_open_list(browsing: Browsing, inbox: Inbox) -> None:
    """A stream that fell behind is told to start over ("event: reset": its queue
    overflowed, some ids were dropped), and the page fetches its list again. A route
    stands in for the stream, as no test can make the server fall behind on demand."""

    def fell_behind(route: Route) -> None:
        inbox.send("missed")  # stored after the page was rendered, never announced
        # The "retry" puts the browser's reconnection (which refreshes too) far off.
        events = "retry: 600000\n\nevent: reset\ndata: {}\n\n"
        route.fulfill(content_type="text/event-stream", body=events)

    browsing.page.route("**/api/v1/events", fell_behind)
    browsing.page.goto("/")
    expect(browsing.subjects()).to_have_text(["missed"], timeout=LIVE_TIMEOUT_MS)


def test_message_html_is_sandboxed_and_remote_images_wait_for_a_click(
    browsing: Browsing, inbox: Inbox
) -> None:
    send_message(inbox, hostile_message("hostile"))
    (message_id,) = inbox.ids()
    page = browsing.page
    page.goto(f"/messages/{message_id}")
    body_frame = page.locator("iframe[data-body-frame]")
    sandbox = (body_frame.get_attribute("sandbox") or "").split()
    assert "allow-scripts" not in sandbox
    assert "allow-same-origin" not in sandbox
    frame = page.frame_locator("iframe[data-body-frame]")
    expect(frame.get_by_text("Hello from the HTML part.")).to_be_visible()
    # The inline image, by Content-ID: loaded from the message's own part.
    logo = frame.locator("img#logo")
    expect(logo).to_have_js_property("complete", True)
    assert logo.evaluate("image => [image.naturalWidth, image.naturalHeight]") == [7, 5]
    # Loaded (its load event has fired), and no script, onload= or onerror= ran.
    document = body_frame.element_handle().content_frame()
    assert document is not None
    document.wait_for_load_state("load")
    expect(frame.locator("#ran")).to_have_count(0)
    assert browsing.posted() == []
    assert page.title() == "hostile · smtpx"
    assert browsing.errors == []  # a blocked script or load would log one
    # The remote image: not requested, until the reader asks for it.
    assert frame.locator("img#remote").get_attribute("src") is None
    assert browsing.foreign() == []
    aborted: list[str] = []

    def abort(route: Route) -> None:
        aborted.append(route.request.url)
        route.abort()

    page.route(REMOTE_IMAGE, abort)
    with page.expect_request(REMOTE_IMAGE) as requested:
        page.get_by_role("link", name="Load remote images").click()
    assert requested.value.frame.url.endswith(f"/messages/{message_id}/html?remote=1")
    document.wait_for_load_state("load")  # the image failed: its onerror= would have run
    expect(frame.locator("img#remote")).to_have_attribute("src", REMOTE_IMAGE)
    assert browsing.foreign() == [REMOTE_IMAGE]
    assert aborted == [REMOTE_IMAGE]
    assert sorted((body_frame.get_attribute("sandbox") or "").split()) == sorted(sandbox)
    expect(frame.locator("#ran")).to_have_count(0)
    assert browsing.posted() == []


def test_an_attachment_downloads_as_sent(browsing: Browsing, inbox: Inbox) -> None:
    data = bytes(range(256)) * 64
    inbox.send("with a file", attachment=("data.bin", data))
    (message_id,) = inbox.ids()
    page = browsing.page
    page.goto(f"/messages/{message_id}")
    page.get_by_role("link", name="Parts").click()
    row = page.locator("table.parts tbody tr", has_text="data.bin")
    with page.expect_download() as downloading:
        row.get_by_role("link", name="Download").click()
    download = downloading.value
    assert download.suggested_filename == "data.bin"
    assert Path(download.path()).read_bytes() == data
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download .eml").click()
    eml = Path(downloading.value.path()).read_bytes()
    assert eml == inbox.http.get(f"/api/v1/messages/{message_id}/raw").content


def test_search_from_and_has_attachment(browsing: Browsing, inbox: Inbox) -> None:
    inbox.send("from carol", sender="carol@example.org")
    inbox.send("with a file", attachment=("report.pdf", b"%PDF-1.4 "))
    inbox.send("from carol, with a file", sender="carol@example.org",
               attachment=("notes.txt", b"notes"))  # fmt: skip
    inbox.send("plain")
    browsing.open_list()
    expect(browsing.subjects()).to_have_count(4)
    search = browsing.page.get_by_role("searchbox", name="Search")
    search.fill("from:carol@example.org")
    search.press("Enter")
    expect(browsing.subjects()).to_have_text(["from carol, with a file", "from carol"])
    expect(search).to_have_value("from:carol@example.org")
    search.fill("has:attachment")
    browsing.page.get_by_role("button", name="Search").click()
    expect(browsing.subjects()).to_have_text(["from carol, with a file", "with a file"])
    expect(browsing.page.locator("[data-count]")).to_have_text("2 messages")
    search.fill("has:attachment from:nobody@example.org")
    search.press("Enter")
    expect(browsing.rows()).to_have_count(0)
    expect(browsing.page.get_by_text("No message matches this search.")).to_be_visible()


def test_delete_selected_and_delete_all_matching(browsing: Browsing, inbox: Inbox) -> None:
    for subject in ("keep", "drop one", "drop two", "select me"):
        inbox.send(subject)
    ids = dict(zip(("select me", "drop two", "drop one", "keep"), inbox.ids(), strict=True))
    browsing.open_list()
    page = browsing.page
    browsing.row("select me").get_by_role("checkbox").check()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(browsing.subjects()).to_have_text(["drop two", "drop one", "keep"])
    assert inbox.ids() == [ids["drop two"], ids["drop one"], ids["keep"]]
    browsing.open_list('subject:"drop"')
    expect(browsing.subjects()).to_have_text(["drop two", "drop one"])
    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.get_by_role("button", name="Delete all matching").click()
    expect(page.get_by_text("No message matches this search.")).to_be_visible()
    assert asked == ['Delete every message matching "subject:"drop""?']
    assert inbox.ids() == [ids["keep"]]
    browsing.open_list()
    expect(browsing.subjects()).to_have_text(["keep"])
    # From the message view: back to the list, without it.
    browsing.row("keep").get_by_role("link").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No messages yet.")).to_be_visible()
    assert page.url == f"{browsing.origin}/"
    assert inbox.ids() == []


def test_mark_read_and_unread(browsing: Browsing, inbox: Inbox) -> None:
    inbox.send("first")
    inbox.send("second")
    second, first = inbox.ids()
    browsing.open_list()
    page = browsing.page
    row = browsing.row("first")
    expect(row).to_have_class("unread")
    expect(row.locator(".dot")).to_have_count(1)
    row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Mark read").click()
    expect(row).to_have_class("read")
    expect(row.locator(".dot")).to_have_count(0)
    expect(browsing.row("second")).to_have_class("unread")
    assert inbox.ids("is:read") == [first]
    expect(row.get_by_role("checkbox")).to_be_checked()  # kept across the refresh
    page.get_by_role("button", name="Mark unread").click()
    expect(row).to_have_class("unread")
    expect(row.locator(".dot")).to_have_count(1)
    assert inbox.ids("is:read") == []
    # Opening a message marks it read; its "Mark unread" undoes that.
    with page.expect_response(lambda response: response.url.endswith("/seen")) as marking:
        browsing.row("second").get_by_role("link").click()
    assert marking.value.status == 204
    assert inbox.ids("is:read") == [second]
    page.get_by_role("button", name="Mark unread").click()
    expect(page.get_by_role("status")).to_have_text("Marked unread.")
    assert inbox.ids("is:read") == []
    browsing.open_list()
    expect(browsing.row("second")).to_have_class("unread")


def test_the_pages_load_nothing_from_elsewhere_and_log_no_errors(
    browsing: Browsing, inbox: Inbox
) -> None:
    inbox.send("with a file", attachment=("data.bin", b"data"))
    send_message(inbox, hostile_message("hostile"))
    browsing.open_list()
    page = browsing.page
    expect(browsing.subjects()).to_have_text(["hostile", "with a file"])
    inbox.send("live")
    expect(browsing.subjects()).to_have_count(3, timeout=LIVE_TIMEOUT_MS)
    browsing.row("hostile").get_by_role("link").click()
    frame = page.frame_locator("iframe[data-body-frame]")
    expect(frame.locator("img#logo")).to_have_js_property("complete", True)
    tabs = page.locator("[data-tabs] a")
    expect(tabs).to_have_count(7)
    for tab in [*tabs.all()[1:], tabs.first]:
        tab.click()
        expect(tab).to_have_class("current")
    expect(page.locator("img.thumbnail")).to_have_count(1)
    page.get_by_role("link", name="smtpx").click()
    expect(browsing.subjects()).to_have_count(3)
    assert len(browsing.requests) > 5
    assert browsing.foreign() == []
    assert browsing.errors == []
