"""Messages and stored records the web tests share: well-formed ones built with the
stdlib (never hand-written MIME), broken ones written out byte by byte."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

from smtpx.store import Envelope, Origin, Recipient, StoredMessage, Summary

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
SMTP = policy.default.clone(linesep="\r\n")


def as_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=SMTP)


def headed(subject: str = "Hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ann Example <ann@example.org>"
    message["To"] = "bob@example.net"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Jul 2025 10:00:00 +0000"
    return message


def plain() -> bytes:
    message = headed("Plain café")
    message.set_content("Hello, Bob.\nSee you.\n")
    return as_bytes(message)


def html_only() -> bytes:
    message = headed()
    message.set_content("<p>Hello <b>Bob</b></p>", subtype="html")
    return as_bytes(message)


def alternative() -> bytes:
    message = headed()
    message.set_content("Hello, Bob.\n")
    message.add_alternative("<p>Hello, <i>Bob</i>.</p>", subtype="html")
    return as_bytes(message)


def with_attachments() -> bytes:
    message = headed()
    message.set_content("Two files attached.\n")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    message.add_attachment(
        b"a,b\r\n1,2\r\n", maintype="text", subtype="csv", filename="données.csv"
    )
    return as_bytes(message)


def inline_image() -> bytes:
    """multipart/alternative (text, multipart/related (html, image)), the image by cid."""
    message = headed()
    message.set_content("Our logo.\n")
    message.add_alternative(
        '<p>Our logo: <img src="cid:logo@example.org" alt="logo">'
        '<img src="https://tracker.example/pixel.gif"></p>',
        subtype="html",
    )
    html = message.get_payload(1)
    assert isinstance(html, EmailMessage)
    html.add_related(PNG, maintype="image", subtype="png", cid="<logo@example.org>")
    return as_bytes(message)


def forwarded() -> bytes:
    """A message with another one attached (message/rfc822), which has a PDF."""
    inner = headed("Inner")
    inner.set_content("The original.\n")
    inner.add_attachment(PDF, maintype="application", subtype="pdf", filename="inner.pdf")
    outer = headed("Fwd: Inner")
    outer.set_content("Forwarding this.\n")
    outer.add_attachment(inner)
    return as_bytes(outer)


MISSING_BOUNDARY = (
    b"From: ann@example.org\r\n"
    b"Subject: no boundary\r\n"
    b"Content-Type: multipart/mixed\r\n"
    b"\r\n"
    b"--x\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"the body\r\n"
    b"--x--\r\n"
)
BAD_CHARSET = (
    b"From: ann@example.org\r\n"
    b"Subject: bad charset\r\n"
    b"Content-Type: text/plain; charset=x-no-such-charset\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"caf\xc3\xa9\r\n"
)
BAD_BASE64 = (
    b"From: ann@example.org\r\n"
    b"Subject: bad base64\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"SGVsbG8g!!d29y*bGQ\r\n"
)
UNCLOSED_MULTIPART = (
    b"Subject: cut short\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n'
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<p>half a message"
)
BROKEN = (MISSING_BOUNDARY, BAD_CHARSET, BAD_BASE64, UNCLOSED_MULTIPART)


def stored(
    subject: str = "Hello",
    *,
    message_id: str = "0190a1b2c3d4e5f60718",
    attachments: tuple[str, ...] = (),
    seen: bool = False,
    inbox: str = "",
) -> StoredMessage:
    return StoredMessage(
        id=message_id,
        received_at=datetime(2025, 7, 1, 10, 0, 0, 123000, tzinfo=UTC),
        size=2345,
        envelope=Envelope(
            "ann@example.org",
            (Recipient("bob@example.net", (("NOTIFY", "SUCCESS,FAILURE"),)),),
            (("SIZE", "2345"), ("SMTPUTF8", "")),
        ),
        origin=Origin(
            "192.0.2.1", 40123, "client.example", "TLSv1.3 TLS_AES_256_GCM_SHA384", "ann"
        ),
        summary=Summary(
            subject=subject,
            from_="Ann Example <ann@example.org>",
            to=("bob@example.net",),
            cc=(),
            date="Tue, 01 Jul 2025 10:00:00 +0000",
            message_id="<1@example.org>",
            attachments=attachments,
        ),
        seen=seen,
        inbox=inbox,
    )
