"""What the inbox tests share: ``smtpx serve`` with its HTTP side, and a client for it.

Theory of operation. :func:`start_inbox` runs the console script (as users run it)
on loopback ports picked at run time, SMTP and HTTP, and waits until both accept
connections. Mail goes in with smtplib, a real SMTP client; the API is read with
httpx. Every wait is bounded.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import httpx
from tests.peers import LOOPBACK, STARTUP_TIMEOUT, free_port, wait_for_port
from tests.server.test_server_serve import Serving


class Inbox:
    """A running ``smtpx serve`` with the inbox on ``base_url``."""

    def __init__(self, serving: Serving, http_port: int, scheme: str = "http") -> None:
        self.serving = serving
        self.smtp_port = serving.port
        # The test certificate names "localhost", not the address.
        host = "localhost" if scheme == "https" else LOOPBACK
        self.base_url = f"{scheme}://{host}:{http_port}"
        self.http = httpx.Client(base_url=self.base_url, timeout=10, verify=False)

    def send(
        self,
        subject: str,
        *,
        to: str = "bob@example.net",
        sender: str = "alice@example.org",
        body: str = "Hello.\n",
        html: str | None = None,
        attachment: tuple[str, bytes] | None = None,
    ) -> None:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
        if attachment is not None:
            name, data = attachment
            message.add_attachment(
                data, maintype="application", subtype="octet-stream", filename=name
            )
        with smtplib.SMTP(LOOPBACK, self.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)

    def ids(self, query: str = "") -> list[str]:
        page = self.http.get("/api/v1/messages", params={"query": query}).json()
        return [summary["id"] for summary in page["messages"]]


@contextmanager
def start_inbox(data_dir: Path, *options: str, scheme: str = "http") -> Iterator[Inbox]:
    http_port = free_port()
    serving = Serving(data_dir, data_dir.parent / "serve.log", "--http",
                      f"{LOOPBACK}:{http_port}", *options)  # fmt: skip
    try:
        wait_for_port(LOOPBACK, http_port, time.monotonic() + STARTUP_TIMEOUT, serving.process)
        inbox = Inbox(serving, http_port, scheme)
        try:
            yield inbox
        finally:
            inbox.http.close()
    finally:
        serving.close()
