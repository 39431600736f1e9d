"""Fault injection: the replies a test asks for, at MAIL, RCPT, end of data and AUTH.

Rules are given as text (``RCPT 550 match=fail-550@*``), as ``smtpx serve --fault``
takes them, and replaced while the server runs. The server is a StoringServer; the
clients are smtplib and hand-written commands (:class:`Wire`).
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.peers import TlsCerts
from tests.server.receiver import MESSAGE, SENDER, StoringServer, Wire, storing_server

from smtpx.server import FaultError, FaultRule, ServerConfig, Users


@pytest.fixture
def mx(tmp_path: Path, tls_certs: TlsCerts) -> Iterator[StoringServer]:
    config = ServerConfig(
        hostname="mx.test",
        tls=tls_certs.server_ssl_context(),
        users=Users.from_lines(["carol:{PLAIN}secret"]),
        allow_insecure_auth=True,
        auth_failure_delay=0.0,
    )
    with storing_server(tmp_path / "store", config) as server:
        yield server


def rules(mx: StoringServer, *texts: str) -> None:
    mx.config.faults.replace(FaultRule.parse(text) for text in texts)


def test_magic_recipients_get_their_codes(mx: StoringServer) -> None:
    rules(mx, "RCPT 550 match=fail-550@*", "RCPT 451 match=defer@*")
    with smtplib.SMTP(mx.host, mx.port, timeout=5) as smtp:
        refused = smtp.sendmail(
            SENDER, ["fail-550@example.org", "defer@example.org", "ok@example.org"], MESSAGE
        )
    assert refused == {
        "fail-550@example.org": (550, b"5.1.1 Mailbox unavailable (fault injected)"),
        "defer@example.org": (451, b"4.3.0 Local error, try again later (fault injected)"),
    }
    (stored, _) = mx.only()
    assert [r.address for r in stored.envelope.recipients] == ["ok@example.org"]


def test_a_fraction_with_a_seed_is_the_same_in_every_run(mx: StoringServer) -> None:
    def outcomes() -> list[int]:
        rules(mx, "MAIL 451 fraction=0.5 seed=7")
        codes = []
        with Wire(mx.host, mx.port) as wire:
            wire.hello()
            for _ in range(20):
                codes.append(wire.command(f"MAIL FROM:<{SENDER}>").code)
                wire.command("RSET")
        return codes

    first = outcomes()
    assert first == outcomes()  # the rule made anew: the same dice
    assert 2 < first.count(451) < 18
    assert set(first) == {250, 451}


def test_data_fault_refuses_the_message_after_it_was_sent(mx: StoringServer) -> None:
    rules(mx, "DATA 554 text=no_thanks")
    with smtplib.SMTP(mx.host, mx.port, timeout=5) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail(SENDER, ["bob@example.org"], MESSAGE)
        assert refused.value.args == (554, b"5.0.0 no thanks")
        mx.config.faults.replace([])
        assert smtp.sendmail(SENDER, ["bob@example.org"], MESSAGE) == {}
    assert mx.count() == 1


def test_drop_closes_the_connection_without_a_reply(mx: StoringServer) -> None:
    rules(mx, "RCPT drop match=gone@*")
    with Wire(mx.host, mx.port) as wire:
        wire.hello()
        assert wire.command(f"MAIL FROM:<{SENDER}>").code == 250
        wire.send(b"RCPT TO:<gone@example.org>\r\n")
        assert wire.closed()


def test_a_delayed_fault_keeps_the_client_waiting_but_not_the_others(mx: StoringServer) -> None:
    rules(mx, "MAIL 421 delay=0.5 match=slow@*")
    with Wire(mx.host, mx.port) as slow, Wire(mx.host, mx.port) as other:
        slow.hello()
        other.hello()
        started = time.monotonic()
        slow.send(b"MAIL FROM:<slow@example.org>\r\n")
        assert other.command(f"MAIL FROM:<{SENDER}>").code == 250
        assert time.monotonic() - started < 0.4
        answer = slow.reply()
        assert (answer.code, answer.status) == (421, "4.3.0")
        assert time.monotonic() - started >= 0.5


def test_auth_fault_answers_for_the_user(mx: StoringServer) -> None:
    rules(mx, "AUTH 454 match=carol")
    with smtplib.SMTP(mx.host, mx.port, timeout=5) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login("carol", "secret")
        assert refused.value.args[0] == 454


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("RCPT", "write COMMAND CODE|drop"),
        ("HELO 550", "the command is one of"),
        ("RCPT 250", "is 4xx or 5xx"),
        ("RCPT abc", "code='abc': not a number"),
        ("RCPT 550 fraction=2", "from 0 to 1"),
        ("RCPT 550 colour=red", "options are"),
        ("RCPT 550 delay=-1", "0 or more"),
        # nan compared as no delay at all, and inf would never answer.
        ("RCPT 550 delay=nan", "0 or more"),
        ("RCPT 550 delay=inf", "0 or more"),
        ("RCPT 550 fraction=nan", "from 0 to 1"),
        # An empty pattern matches no address: the rule would never apply, silently.
        ("RCPT 550 match=", "give a pattern"),
    ],
)
def test_malformed_rules(text: str, error: str) -> None:
    with pytest.raises(FaultError, match=error):
        FaultRule.parse(text)


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"command": "RCPT", "code": 550, "delay": float("nan")}, "0 or more"),
        ({"command": "RCPT", "code": 550, "match": ""}, "give a pattern"),
        ({"command": "RCPT", "code": 550, "match": 5}, '"match" is a string'),
        ({"command": "RCPT", "code": 550, "text": "a\r\n250 forged"}, "CR"),
    ],
)
def test_malformed_rules_from_the_api(rule: dict[str, object], error: str) -> None:
    """The inbox API's rules are held to the same rules, text that breaks a reply included."""
    with pytest.raises(FaultError, match=error):
        FaultRule.from_description(rule)


def test_describe_round_trips_what_was_parsed() -> None:
    rule = FaultRule.parse("rcpt 451 match=defer@* fraction=0.25 seed=3 delay=1.5")
    assert rule.describe() == {
        "command": "RCPT", "code": 451, "drop": False, "match": "defer@*",
        "fraction": 0.25, "seed": 3, "delay": 1.5, "text": None,
    }  # fmt: skip
