"""A real Postfix relays to smtpx: each message arrives as submitted, plus two Received fields.

The session's Postfix (tests/peers/, ``postfix_relay``) relays RELAY_DOMAIN over SMTP
to an smtpx receiver (``StoringServer``: StoringHandler over SQLite, in this process)
on a port the system picked, in clear or, with ``smtp_tls_security_level = encrypt``,
only after STARTTLS. smtplib submits each message to Postfix's smtpd, then the test
polls smtpx's store until every one is there: Postfix relays asynchronously, so a
bounded poll, never a sleep, is the wait.

What may differ between the bytes submitted and the bytes smtpx keeps, by design:
smtpx's Received field (RFC 5321 §4.4) on top, then Postfix's. Every test message
carries its own Date and Message-ID, and the session's Postfix rewrites no header
(``local_header_rewrite_clients`` is empty), so nothing else is added or changed.
"""

from __future__ import annotations

import base64
import re
import smtplib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.peers import (
    MX_HOSTNAME,
    POLL_INTERVAL,
    RELAY_DOMAIN,
    PostfixRelay,
    RelayTo,
    TlsCerts,
)
from tests.server.receiver import StoringServer, split_received, storing_server

from smtpx.server import ServerConfig
from smtpx.store import StoredMessage

# Not MX_HOSTNAME: Postfix bounces mail to a server that greets with its own name
# ("mail for relay.test loops back to myself").
SMTPX_HOSTNAME = "smtpx.test"
SUBMITTER_HELO = "client.example"
SENDER = "alice@example.com"
# Postfix's relaying takes well under a second here; the rest is headroom for a loaded CI.
RELAY_TIMEOUT = 30.0


def rcpt(name: str) -> str:
    return f"{name}@{RELAY_DOMAIN}"


@dataclass(frozen=True)
class Submission:
    """One message as submitted to Postfix: the envelope, the MAIL options, the bytes."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes
    mail_options: tuple[str, ...] = ()


def head(name: str, to: str, *fields: str, sender: str = f"Alice <{SENDER}>") -> str:
    """The header section, with a Date and a Message-ID of its own so Postfix adds neither."""
    return "\r\n".join(
        [
            f"From: {sender}",
            f"To: {to}",
            f"Subject: relayed {name}",
            "Date: Mon, 02 Mar 2026 10:00:00 +0000",
            f"Message-ID: <{name}.relay@example.com>",
            *fields,
            "",
            "",
        ]
    )


def submission(
    name: str,
    head_text: str,
    body: bytes,
    recipients: tuple[str, ...] = (rcpt("bob"),),
    *,
    sender: str = SENDER,
    mail_options: tuple[str, ...] = (),
) -> Submission:
    return Submission(
        f"<{name}.relay@example.com>",
        sender,
        recipients,
        head_text.encode("utf-8") + body,
        mail_options,
    )


ATTACHMENT = bytes(range(256)) * 8
BOUNDARY = "=-=relay-boundary=-="
MULTIPART_BODY = (
    f"--{BOUNDARY}\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "The attachment is 2,048 octets: every byte value, eight times.\r\n"
    f"--{BOUNDARY}\r\n"
    "Content-Type: application/octet-stream; name=bytes.bin\r\n"
    "Content-Disposition: attachment; filename=bytes.bin\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    + base64.encodebytes(ATTACHMENT).decode("ascii").replace("\n", "\r\n")
    + f"--{BOUNDARY}--\r\n"
).encode("ascii")

SUBMISSIONS = (
    submission(
        "plain",
        head("plain", f"Bob <{rcpt('bob')}>"),
        b"Hello Bob,\r\n\r\nA plain text message, relayed.\r\n\r\n-- \r\nAlice\r\n",
    ),
    submission(
        "8bit",
        head(
            "8bit",
            f"Bob <{rcpt('bob')}>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ),
        "Café crème, Grüße, 日本語, emoji 📮.\r\n".encode(),
        mail_options=("BODY=8BITMIME",),
    ),
    # RFC 6531: UTF-8 in the addresses and raw in the header fields.
    submission(
        "smtputf8",
        head(
            "smtputf8",
            f"Zoë <{rcpt('zoë')}>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "Comments: naïve façade, 送信",
            sender=f"José <josé@{SENDER.split('@')[1]}>",
        ),
        "Olá Zoë.\r\n".encode(),
        (rcpt("zoë"),),
        sender=f"josé@{SENDER.split('@')[1]}",
        mail_options=("SMTPUTF8", "BODY=8BITMIME"),
    ),
    submission(
        "multipart",
        head(
            "multipart",
            f"Bob <{rcpt('bob')}>",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"',
        ),
        MULTIPART_BODY,
    ),
    # Three recipients in the header fields and one only in the envelope (a Bcc):
    # Postfix relays them in one transaction, so neither Received field has "for".
    submission(
        "recipients",
        head("recipients", f"{rcpt('bob')}, {rcpt('carol')}", f"Cc: {rcpt('dave')}"),
        b"For Bob, Carol, Dave and, unnamed, Erin.\r\n",
        (rcpt("bob"), rcpt("carol"), rcpt("dave"), rcpt("erin")),
    ),
    # RFC 5321 §4.5.2: dot-stuffed on each hop, unstuffed on each arrival; the last
    # line is a lone dot, so the end of data follows a stuffed "..".
    submission(
        "dots",
        head("dots", rcpt("bob")),
        b".\r\n..\r\n...\r\n.leading dot\r\n. and a space\r\nmiddle . dot\r\n.\r\n",
    ),
    # The null reverse-path (a bounce), relayed as <>.
    submission(
        "bounce",
        head("bounce", rcpt("bob"), sender="MAILER-DAEMON <postmaster@example.com>"),
        b"Your message could not be delivered.\r\n",
        sender="",
    ),
)

# Postfix's Received field, as its smtpd writes it for a client on loopback (see
# tests/peers/_postfix.py, PostfixRelay): "for <rcpt>; date" on the third line with
# one recipient; with several, "id ...;" and the date alone on the third line.
POSTFIX_RECEIVED = re.compile(
    rb"Received: from (?P<helo>\S+) \(\S+ \[127\.0\.0\.1\]\)\r\n"
    rb"\tby (?P<by>\S+) \(Postfix\) with (?P<with>[A-Z0-9]+) id [0-9A-F]+"
    rb"(?:\r\n\tfor <(?P<for>[^>\r\n]+)>; |;\r\n\t)[^\r\n]+\r\n"
)


def split_postfix_received(raw: bytes) -> tuple[re.Match[bytes], bytes]:
    """Postfix's Received field at the top of ``raw`` (parsed), and the rest."""
    match = POSTFIX_RECEIVED.match(raw)
    assert match is not None, raw[:400]
    return match, raw[match.end() :]


@pytest.fixture(params=[False, True], ids=["clear", "starttls"])
def relayed_to_smtpx(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tls_certs: TlsCerts,
    postfix_relay: RelayTo,
) -> Iterator[tuple[StoringServer, PostfixRelay]]:
    """An smtpx receiver, and Postfix relaying RELAY_DOMAIN to it (in clear or over TLS)."""
    tls: bool = request.param
    config = ServerConfig(
        hostname=SMTPX_HOSTNAME, tls=tls_certs.server_ssl_context() if tls else None
    )
    with storing_server(tmp_path / "data", config) as server:
        yield server, postfix_relay(server.port, tls=tls)


def submit(relay: PostfixRelay, submissions: tuple[Submission, ...]) -> None:
    postfix = relay.postfix
    with smtplib.SMTP(postfix.host, postfix.port, SUBMITTER_HELO, timeout=10) as smtp:
        for message in submissions:
            refused = smtp.sendmail(
                message.sender,
                list(message.recipients),
                message.data,
                mail_options=list(message.mail_options),
            )
            assert refused == {}, (message.message_id, refused)


def wait_for_stored(
    server: StoringServer, relay: PostfixRelay, count: int
) -> list[tuple[StoredMessage, bytes]]:
    """Every message smtpx has stored, once there are ``count`` (a bounded poll)."""
    deadline = time.monotonic() + RELAY_TIMEOUT
    while server.count() < count:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"smtpx stored {server.count()} of {count} messages relayed by Postfix in "
                f"{RELAY_TIMEOUT} s; the end of Postfix's maillog:\n{relay.postfix.log_tail()}"
            )
        time.sleep(POLL_INTERVAL)
    return [(stored, server.raw(stored.id)) for stored in server.stored()]


def message_id(data: bytes) -> str:
    match = re.search(rb"^Message-ID: (<[^>]+>)\r$", data, re.MULTILINE)
    assert match is not None, data[:300]
    return match.group(1).decode()


def test_postfix_relays_each_message_byte_for_byte_with_its_envelope(
    relayed_to_smtpx: tuple[StoringServer, PostfixRelay],
) -> None:
    server, relay = relayed_to_smtpx
    submit(relay, SUBMISSIONS)
    arrived = wait_for_stored(server, relay, len(SUBMISSIONS))
    assert len(arrived) == len(SUBMISSIONS)

    by_id: dict[str, tuple[StoredMessage, str, re.Match[bytes], bytes]] = {}
    for stored, raw in arrived:
        smtpx_received, after_smtpx = split_received(raw)
        postfix_received, as_submitted = split_postfix_received(after_smtpx)
        key = message_id(as_submitted)
        assert key not in by_id, f"relayed twice: {key}"
        by_id[key] = (stored, smtpx_received, postfix_received, as_submitted)
    assert sorted(by_id) == sorted(message.message_id for message in SUBMISSIONS)

    for message in SUBMISSIONS:
        stored, smtpx_received, postfix_received, as_submitted = by_id[message.message_id]
        # The bytes: as submitted, once the two Received fields are off.
        assert as_submitted == message.data, message.message_id
        # The envelope: MAIL FROM as submitted (<> stays <>), every RCPT once.
        assert stored.envelope.sender == message.sender
        relayed_to = sorted(recipient.address for recipient in stored.envelope.recipients)
        assert relayed_to == sorted(message.recipients), message.message_id
        # smtpx offers DSN (RFC 3461), so Postfix names each original recipient.
        for recipient in stored.envelope.recipients:
            assert recipient.params == (("ORCPT", f"rfc822;{recipient.address}"),)
        # RFC 6152, RFC 6531: smtpx offers 8BITMIME and SMTPUTF8, so Postfix passes
        # BODY=8BITMIME and SMTPUTF8 on as submitted, the content not downgraded.
        params = dict(stored.envelope.params)
        assert params.get("BODY") == (
            "8BITMIME" if "BODY=8BITMIME" in message.mail_options else None
        )
        assert ("SMTPUTF8" in params) == ("SMTPUTF8" in message.mail_options), params
        # Where it came from: Postfix's smtp client, from loopback, greeting as itself.
        assert stored.origin.client_address == "127.0.0.1"
        assert stored.origin.helo == MX_HOSTNAME
        tls = stored.origin.tls
        if relay.tls:
            assert tls is not None
            assert tls.startswith("TLSv1."), tls
        else:
            assert tls is None

        utf8 = "SMTPUTF8" in message.mail_options
        protocol = ("UTF8SMTP" if utf8 else "ESMTP") + ("S" if relay.tls else "")
        assert smtpx_received.startswith(
            f"Received: from {MX_HOSTNAME} ([127.0.0.1]) by {SMTPX_HOSTNAME} (smtpx) "
            f"with {protocol} id "
        ), smtpx_received
        single = message.recipients[0] if len(message.recipients) == 1 else None
        assert (f" for <{single}>; " in smtpx_received) == (single is not None), smtpx_received

        # Postfix's own field: the submitting client's HELO, loopback, Postfix's name.
        assert postfix_received["helo"] == SUBMITTER_HELO.encode()
        assert postfix_received["by"] == MX_HOSTNAME.encode()
        assert postfix_received["with"] == (b"UTF8SMTP" if utf8 else b"ESMTP")
        expected_for = single.encode() if single is not None else None
        assert postfix_received["for"] == expected_for, postfix_received[0]
