"""The inbox's JSON API against a running `smtpx serve`, fed by smtplib.

Each test starts the console script with its HTTP side on loopback ports picked at
run time (tests/web/inbox.py) and reads it with httpx: listing and search, one
message and its parts, read state, deletion, the long poll, server-sent events,
the sandboxed HTML, fault injection, release, metrics, basic auth, inboxes and
retention.
"""

from __future__ import annotations

import json
import smtplib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.cli_command import smtpx
from tests.peers import LOOPBACK, TlsCerts
from tests.server.receiver import storing_server
from tests.web.inbox import Inbox, start_inbox

from smtpx.server import ServerConfig

HTML = (
    '<p>Hi <img src="cid:logo"> <img src="https://tracker.example/p.gif"></p><script>x()</script>'
)


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with start_inbox(tmp_path / "data") as running:
        yield running


def test_list_search_and_one_message(inbox: Inbox) -> None:
    inbox.send("plain one", sender="carol@example.org")
    inbox.send("with a file", attachment=("report.pdf", b"%PDF-1.4 " + b"x" * 20_000))
    inbox.send("fancy", html=HTML)
    page = inbox.http.get("/api/v1/messages").json()
    assert [m["subject"] for m in page["messages"]] == ["fancy", "with a file", "plain one"]
    assert page["total"] == 3
    assert page["cursor"] is None
    assert all(m["seen"] is False for m in page["messages"])
    assert inbox.ids("from:carol@example.org") == [page["messages"][2]["id"]]
    assert inbox.ids("has:attachment") == [page["messages"][1]["id"]]
    assert inbox.ids("-has:attachment subject:fancy") == [page["messages"][0]["id"]]
    bad = inbox.http.get("/api/v1/messages", params={"query": "colour:red"})
    assert bad.status_code == 400
    assert "colour" in bad.json()["error"]
    page_with_error = inbox.http.get("/", params={"query": "colour:red"})
    assert page_with_error.status_code == 400
    assert 'role="alert"' in page_with_error.text  # the list page, to mend the query in
    assert 'value="colour:red"' in page_with_error.text
    message_id = page["messages"][1]["id"]
    message = inbox.http.get(f"/api/v1/messages/{message_id}").json()
    assert message["subject"] == "with a file"
    pdf = next(part for part in message["parts"] if part["filename"] == "report.pdf")
    part = inbox.http.get(f"/api/v1/messages/{message_id}/parts/{pdf['index']}")
    assert part.content == b"%PDF-1.4 " + b"x" * 20_000
    raw = inbox.http.get(f"/api/v1/messages/{message_id}/raw")
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.content.startswith(b"Received: from ")
    assert inbox.http.get("/api/v1/messages/0123456789abcdef0123").status_code == 404


def test_paging_with_the_cursor(inbox: Inbox) -> None:
    for n in range(5):
        inbox.send(f"number {n}")
    first = inbox.http.get("/api/v1/messages", params={"limit": 2}).json()
    second = inbox.http.get("/api/v1/messages", params={"limit": 2, "cursor": first["cursor"]})
    third = inbox.http.get(
        "/api/v1/messages", params={"limit": 2, "cursor": second.json()["cursor"]}
    )
    subjects = [
        m["subject"] for page in (first, second.json(), third.json()) for m in page["messages"]
    ]
    assert subjects == [f"number {n}" for n in range(4, -1, -1)]
    assert third.json()["cursor"] is None


def test_seen_and_delete(inbox: Inbox) -> None:
    for subject in ("keep", "drop me", "drop me too"):
        inbox.send(subject)
    ids = inbox.ids()  # newest first: "keep" is the last
    marked = inbox.http.post("/api/v1/messages/seen", json={"ids": ids[2:], "seen": True})
    assert marked.status_code == 204
    assert inbox.ids("is:unread") == ids[:2]
    assert inbox.ids("is:read") == ids[2:]
    form = inbox.http.post("/api/v1/messages/seen", data={"ids": "x"})
    assert form.status_code == 415  # a form post from another site is not JSON
    deleted = inbox.http.delete("/api/v1/messages", params={"query": 'subject:"drop me"'})
    assert deleted.json() == {"deleted": 2}
    assert inbox.ids() == ids[2:]
    assert inbox.http.delete(f"/api/v1/messages/{ids[2]}").status_code == 204
    assert inbox.ids() == []


def test_wait_returns_within_a_second_of_a_matching_message(inbox: Inbox) -> None:
    inbox.send("older news")
    (cursor,) = inbox.ids()
    answer: list[httpx.Response] = []
    waiting = threading.Thread(
        target=lambda: answer.append(
            inbox.http.get(
                "/api/v1/messages/wait",
                params={"query": "subject:code", "after": cursor, "timeout": 20},
            )
        )
    )
    waiting.start()
    time.sleep(0.3)
    inbox.send("not it")
    inbox.send("your code is 123456", body="code: 123456\n")
    sent = time.monotonic()
    waiting.join(timeout=20)
    assert time.monotonic() - sent < 1.0
    (response,) = answer
    assert response.status_code == 200
    assert response.json()["subject"] == "your code is 123456"
    assert "123456" in response.json()["text"]


def test_wait_times_out_with_408_when_nothing_matches(inbox: Inbox) -> None:
    inbox.send("something else")
    started = time.monotonic()
    response = inbox.http.get(
        "/api/v1/messages/wait", params={"query": "subject:never", "after": "0", "timeout": 1}
    )
    assert response.status_code == 408
    assert 1.0 <= time.monotonic() - started < 3.0


def test_events_announce_new_messages(inbox: Inbox) -> None:
    with inbox.http.stream("GET", "/api/v1/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ": connected"
        inbox.send("live one")
        event = data = None
        for line in lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                break
    assert event == "message"
    assert data is not None
    assert data["subject"] == "live one"


def test_html_is_served_sandboxed(inbox: Inbox) -> None:
    inbox.send("fancy", html=HTML)
    (message_id,) = inbox.ids()
    response = inbox.http.get(f"/messages/{message_id}/html")
    policy = response.headers["content-security-policy"]
    assert "sandbox" in policy
    assert "allow-scripts" not in policy
    assert "script-src 'none'" in policy
    assert "https:" not in policy
    assert "<script" not in response.text
    assert "tracker.example" not in response.text
    remote = inbox.http.get(f"/messages/{message_id}/html", params={"remote": "1"})
    assert "https:" in remote.headers["content-security-policy"]
    page = inbox.http.get(f"/messages/{message_id}")
    assert page.status_code == 200
    assert "fancy" in page.text


def test_fault_rules_through_the_api(inbox: Inbox) -> None:
    rules = {"rules": [{"command": "RCPT", "code": 550, "match": "fail-550@*"}]}
    assert inbox.http.put("/api/v1/faults", json=rules).status_code == 200
    assert inbox.http.get("/api/v1/faults").json()["rules"][0]["match"] == "fail-550@*"
    with smtplib.SMTP(LOOPBACK, inbox.smtp_port, timeout=10) as smtp:
        refused = smtp.sendmail("a@example.org", ["fail-550@example.org", "ok@example.org"], b"x")
    assert refused == {"fail-550@example.org": (550, b"5.1.1 Mailbox unavailable (fault injected)")}
    bad = inbox.http.put("/api/v1/faults", json={"rules": [{"command": "HELO", "code": 550}]})
    assert bad.status_code == 400
    assert inbox.http.put("/api/v1/faults", json={"rules": []}).json() == {"rules": []}


def test_metrics(inbox: Inbox) -> None:
    inbox.send("counted")
    with smtplib.SMTP(LOOPBACK, inbox.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.docmd("RCPT TO:<x@example.org>")[0] == 503
    text = inbox.http.get("/metrics").text
    assert "smtpx_messages_stored 1.0" in text
    assert "smtpx_messages_accepted_total 1.0" in text
    assert 'smtpx_replies_refused_total{reply="503 5.5.1"} 1.0' in text
    assert inbox.http.get("/api/openapi.json").json()["openapi"].startswith("3.1")


def test_release_sends_the_message_on_to_allowed_recipients(tmp_path: Path) -> None:
    with storing_server(tmp_path / "real", ServerConfig(hostname="real.test")) as real:
        release = ["--release-to", f"{LOOPBACK}:{real.port}", "--release-tls", "none"]
        with start_inbox(tmp_path / "data", *release, "--release-allow", "*@example.com") as inbox:
            inbox.send("to release")
            (message_id,) = inbox.ids()
            refused = inbox.http.post(
                f"/api/v1/messages/{message_id}/release", json={"to": ["x@elsewhere.net"]}
            )
            assert refused.status_code == 403
            released = inbox.http.post(
                f"/api/v1/messages/{message_id}/release", json={"to": ["dev@example.com"]}
            )
            assert released.json() == {"delivered": ["dev@example.com"], "refused": []}
        stored, raw = real.only()
        assert [r.address for r in stored.envelope.recipients] == ["dev@example.com"]
        assert b"Subject: to release" in raw


def test_basic_auth(tmp_path: Path) -> None:
    users = tmp_path / "users"
    assert smtpx("passwd", str(users), "dev", stdin="s3cret\n").code == 0
    with start_inbox(tmp_path / "data", "--http-auth-file", str(users)) as inbox:
        assert inbox.http.get("/api/v1/messages").status_code == 401
        assert inbox.http.get("/", auth=("dev", "wrong")).status_code == 401
        assert inbox.http.get("/api/v1/messages", auth=("dev", "s3cret")).status_code == 200


def test_inboxes_by_recipient_and_retention(tmp_path: Path) -> None:
    with start_inbox(tmp_path / "data", "--inbox", "signup=*@signup.test",
                     "--max-messages", "3") as inbox:  # fmt: skip
        inbox.send("welcome", to="new@signup.test")
        for n in range(4):
            inbox.send(f"other {n}")
        deadline = time.monotonic() + 15
        while len(inbox.ids()) > 3:
            assert time.monotonic() < deadline, inbox.ids()
            time.sleep(0.1)
        subjects = [m["subject"] for m in inbox.http.get("/api/v1/messages").json()["messages"]]
        assert subjects == ["other 3", "other 2", "other 1"]  # the oldest went first
        inbox.send("welcome again", to="again@signup.test")
        signup = inbox.http.get("/api/v1/messages", params={"inbox": "signup"}).json()
        assert [m["subject"] for m in signup["messages"]] == ["welcome again"]
        default = inbox.http.get("/api/v1/messages", params={"inbox": ""}).json()
        assert "welcome again" not in [m["subject"] for m in default["messages"]]


def test_https_inbox(tmp_path: Path, tls_certs: TlsCerts) -> None:
    https = [
        "--http-tls-cert",
        str(tls_certs.cert_chain_pem),
        "--http-tls-key",
        str(tls_certs.key_pem),
    ]
    with start_inbox(tmp_path / "data", *https, scheme="https") as inbox:
        inbox.send("over https")
        with httpx.Client(base_url=inbox.base_url, verify=tls_certs.client_ssl_context()) as web:
            page = web.get("/api/v1/messages").json()
    assert [m["subject"] for m in page["messages"]] == ["over https"]


def test_a_burst_of_messages_is_announced_once_each_in_order(inbox: Inbox) -> None:
    with inbox.http.stream("GET", "/api/v1/events") as stream:
        lines = stream.iter_lines()
        assert next(lines) == ": connected"
        with smtplib.SMTP(LOOPBACK, inbox.smtp_port, timeout=10) as smtp:
            for n in range(12):
                smtp.sendmail(
                    "a@example.org", ["b@example.org"], f"Subject: burst {n}\r\n\r\nx\r\n"
                )
        subjects = []
        for line in lines:
            if line.startswith("data: "):
                subjects.append(json.loads(line.removeprefix("data: "))["subject"])
                if len(subjects) == 12:
                    break
    assert subjects == [f"burst {n}" for n in range(12)]
