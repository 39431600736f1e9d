"""The Received header (RFC 5321 §4.4) whatever name the client gives in EHLO.

The server takes a HELO name it cannot vouch for (as Postfix does by default),
but the header it writes must still read right: a ``;`` or ``(`` in the name
must not end the from clause early or swallow the date. Each case sends one
message over a raw socket to the in-process ``smtpx_server`` fixture and parses
what was kept with the standard ``email`` package.
"""

from __future__ import annotations

import email.utils
import socket
from email import policy
from email.parser import BytesParser

import pytest

from smtpx.server.capture import CapturingServer

BODY = b"Subject: trace\r\n\r\nbody\r\n"


def send(server: CapturingServer, helo: bytes, recipient: bytes = b"<b@example.org>") -> bytes:
    """One message after ``EHLO helo`` (SMTPUTF8 when the name is not ASCII); what was kept."""
    utf8 = b" SMTPUTF8" if not helo.isascii() else b""
    commands = [
        b"EHLO " + helo,
        b"MAIL FROM:<a@example.org>" + utf8,
        b"RCPT TO:" + recipient,
        b"DATA",
        BODY + b".",
        b"QUIT",
    ]
    count = len(server.messages) + 1
    with socket.create_connection((server.host, server.port), timeout=10) as wire:
        wire.sendall(b"".join(command + b"\r\n" for command in commands))
        answers = b""
        while chunk := wire.recv(65536):
            answers += chunk
    assert b"\r\n250 2.0.0 " in answers, answers
    return server.wait_for(count)[-1].data


def received(data: bytes) -> str:
    message = BytesParser(policy=policy.default).parsebytes(data)
    (header,) = message.get_all("Received") or []
    return " ".join(str(header).split())  # unfolded, runs of white space as one space


@pytest.mark.parametrize(
    ("helo", "clause"),
    [
        (b"client.example", "from client.example ([127.0.0.1])"),
        (b"my_host", "from my_host ([127.0.0.1])"),  # Windows names: taken as they are
        (b"[127.0.0.1]", "from [127.0.0.1] ([127.0.0.1])"),
        (b"a;b", "from [127.0.0.1] ([127.0.0.1]) (helo=a;b)"),
        (b"x(y", "from [127.0.0.1] ([127.0.0.1]) (helo=x\\(y)"),
        (b"x)y\\z", "from [127.0.0.1] ([127.0.0.1]) (helo=x\\)y\\\\z)"),
        ("bücher.example".encode(), "from xn--bcher-kva.example ([127.0.0.1])"),
        # Not a name IDNA can encode (a label over 63 characters): a comment, 8-bit as "?".
        ("é".encode() * 70, "from [127.0.0.1] ([127.0.0.1]) (helo=" + "?" * 70 + ")"),
    ],
)
def test_the_from_clause_keeps_the_header_readable(
    smtpx_server: CapturingServer, helo: bytes, clause: str
) -> None:
    data = send(smtpx_server, helo)
    header = received(data)
    assert header.startswith(clause + " by "), header
    # The date is whole after the last ";" (RFC 5322 §3.6.7).
    date = email.utils.parsedate_to_datetime(header.rpartition(";")[2].strip())
    assert date.tzinfo is not None
    assert data.isascii() or not helo.isascii()
    assert data.endswith(BODY)


def test_for_names_a_mailbox_but_not_a_bare_postmaster(smtpx_server: CapturingServer) -> None:
    header = received(send(smtpx_server, b"client.example", b"<postmaster>"))
    assert " for " not in header, header
    header = received(send(smtpx_server, b"client.example", b"<b@example.org>"))
    assert " for <b@example.org>;" in header, header
