"""Local mailboxes (VRFY and RCPT checked against them) and the command timeout.

With ``ServerConfig.mailboxes`` set, VRFY answers 250 with the mailbox, 550 for
none and 553 when a bare user name fits several (RFC 5321 §3.5.1, §3.5.3), and
RCPT to an unknown address of a local domain is 550 5.1.1; postmaster is always
taken (§4.5.1). Without it VRFY is 252 (§3.5.3). The command timeout ends a
session whose command line does not complete in time, however its bytes
trickle in; the idle timeout alone would be reset by every byte.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.peers import TlsCerts
from tests.server.receiver import StoringServer, Wire, storing_server

from smtpx.server import ServerConfig

MAILBOXES = frozenset({"bob@example.org", "bob@example.net", "carol@example.org"})


def config(tls_certs: TlsCerts, **options: Any) -> ServerConfig:
    return ServerConfig(hostname="mx.test", tls=tls_certs.server_ssl_context(), **options)


@pytest.fixture
def mx(tmp_path: Path, tls_certs: TlsCerts) -> Iterator[StoringServer]:
    settings = config(tls_certs, mailboxes=MAILBOXES, domains=frozenset({"example.org"}))
    with storing_server(tmp_path / "store", settings) as server:
        yield server


@pytest.mark.parametrize(
    ("argument", "code", "text"),
    [
        ("carol@example.org", 250, "2.1.5 <carol@example.org>"),
        ("<Carol@Example.org>", 250, "2.1.5 <carol@example.org>"),
        ("Carol Smith <carol@example.org>", 250, "2.1.5 <carol@example.org>"),
        ("carol", 250, "2.1.5 <carol@example.org>"),
        ("bob", 553, "5.1.4 User ambiguous"),
        ("dave@example.org", 550, "5.1.1 No such mailbox"),
        ("dave", 550, "5.1.1 No such mailbox"),
    ],
)
def test_vrfy_checks_the_mailboxes(mx: StoringServer, argument: str, code: int, text: str) -> None:
    with Wire(mx.host, mx.port) as wire:
        wire.hello()
        answer = wire.command(f"VRFY {argument}")
    assert (answer.code, answer.text) == (code, text)


def test_vrfy_without_mailboxes_is_252(tmp_path: Path, tls_certs: TlsCerts) -> None:
    with storing_server(tmp_path, config(tls_certs)) as mx, Wire(mx.host, mx.port) as wire:
        wire.hello()
        answer = wire.command("VRFY anyone@example.org")
    assert (answer.code, answer.status) == (252, "2.0.0")


@pytest.mark.parametrize(
    ("recipient", "code", "status"),
    [
        ("carol@example.org", 250, "2.1.5"),
        ("CAROL@example.org", 250, "2.1.5"),
        ("dave@example.org", 550, "5.1.1"),
        ("postmaster@example.org", 250, "2.1.5"),
        ("Postmaster", 250, "2.1.5"),
        ("bob@example.net", 550, "5.7.1"),  # a mailbox, but not a local domain: relaying
    ],
)
def test_rcpt_checks_local_mailboxes(
    mx: StoringServer, recipient: str, code: int, status: str
) -> None:
    with Wire(mx.host, mx.port) as wire:
        wire.hello()
        assert wire.command("MAIL FROM:<alice@example.org>").code == 250
        answer = wire.command(f"RCPT TO:<{recipient}>")
    assert (answer.code, answer.status) == (code, status)


def test_a_command_trickled_byte_by_byte_times_out(tmp_path: Path, tls_certs: TlsCerts) -> None:
    settings = config(tls_certs, command_timeout=0.6, idle_timeout=30)
    with storing_server(tmp_path, settings) as mx, Wire(mx.host, mx.port) as wire:
        wire.hello()
        started = time.monotonic()
        line = b"NOOP " + b"x" * 400
        for index in range(len(line)):
            if time.monotonic() - started > 5:
                break
            try:
                wire.send(line[index : index + 1])
            except OSError:
                break  # closed under us: what the test waits for
            time.sleep(0.02)
        answer = wire.reply()
        elapsed = time.monotonic() - started
        assert (answer.code, answer.status) == (421, "4.4.2")
        assert wire.closed()
        assert 0.6 <= elapsed < 3.0, elapsed


def test_message_content_is_not_held_to_the_command_timeout(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    settings = config(tls_certs, command_timeout=0.3, idle_timeout=30)
    with storing_server(tmp_path, settings) as mx, Wire(mx.host, mx.port) as wire:
        wire.hello()
        assert wire.command("MAIL FROM:<alice@example.org>").code == 250
        assert wire.command("RCPT TO:<bob@example.org>").code == 250
        assert wire.command("DATA").code == 354
        wire.send(b"Subject: slow\r\n\r\n")
        for _ in range(8):  # 0.8 s of content, slower than the command timeout
            time.sleep(0.1)
            wire.send(b"a line\r\n")
        answer = wire.command(".")
        assert (answer.code, answer.status) == (250, "2.0.0")
        assert mx.count() == 1
