"""Bad envelopes and messages given to `smtpx send` and `sendmail`, refused before connecting.

An address the engine would refuse to write (too long for RFC 5321 §4.5.3.1, a
malformed address literal), a header with a control character, a sender that
would forge a header line, an option --message would silently drop: each is one
stderr line and 65 (bad data) or 64 (usage), and the server is never contacted.
As in test_cli_sender_input.py, the server is a loopback port where nothing
listens: an input let through would end in "Connection refused" and 75.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli_command import (
    EX_DATAERR,
    EX_OK,
    EX_USAGE,
    STEP_TIMEOUT,
    Run,
    at,
    parse,
    refused,
    smtpx,
)
from tests.peers import LOOPBACK, StartAiosmtpd, free_port

# RFC 5321 §4.5.3.1.1: 64 octets of local part; §4.5.3.1.2: 255 of domain.
LONG_LOCAL = "a" * 65 + "@example.org"
LONG_DOMAIN = "a@" + ".".join(["b" * 60] * 5)  # 304 octets, each label legal
LONG_UTF8_LOCAL = "ü" * 33 + "@example.org"  # 33 characters, 66 octets
BAD_LITERAL = "a@[999.0.0.1]"  # RFC 5321 §4.1.3: Snum is at most 255


def nowhere() -> str:
    return at(LOOPBACK, free_port())


def send(*args: str) -> Run:
    return smtpx("send", "--server", nowhere(), "--timeout", STEP_TIMEOUT, *args)


def sendmail(*args: str, stdin: str = "Subject: x\n\nbody\n", **env: str) -> Run:
    return smtpx(
        *("sendmail", "--server", nowhere(), "--timeout", STEP_TIMEOUT),
        *args,
        stdin=stdin,
        env={"USER": "app", **env},
    )


# --- addresses the engine would not write ------------------------------------------------

TOO_LONG = {
    "local part": (LONG_LOCAL, "Local part too long: 65 octets"),
    "domain": (LONG_DOMAIN, "Domain too long: 304 octets"),
    "utf-8 local part counts octets": (LONG_UTF8_LOCAL, "Local part too long: 66 octets"),
    "bad address literal": (BAD_LITERAL, "[999.0.0.1]"),
}


@pytest.mark.parametrize(("address", "said"), TOO_LONG.values(), ids=TOO_LONG.keys())
@pytest.mark.parametrize("role", ["--to", "--from"])
def test_an_address_the_engine_would_refuse_is_65_before_connecting(
    role: str, address: str, said: str
) -> None:
    envelope = {"--from": "a@example.com", "--to": "b@example.org", role: address}
    line = refused(
        send(*(part for pair in envelope.items() for part in pair), "--body", "x"),
        "send",
        EX_DATAERR,
    )
    assert said in line
    assert ("sender" if role == "--from" else "recipient") in line


def test_a_message_files_long_recipient_is_65_before_connecting(tmp_path: Path) -> None:
    eml = tmp_path / "message.eml"
    eml.write_text(f"From: a@example.com\nTo: {LONG_LOCAL}\nSubject: x\n\nbody\n")
    line = refused(send("--message", str(eml)), "send", EX_DATAERR)
    assert "Local part too long: 65 octets" in line


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([LONG_LOCAL], id="recipient"),
        pytest.param(["-f", LONG_LOCAL, "b@example.org"], id="sender"),
        pytest.param([BAD_LITERAL], id="literal"),
    ],
)
def test_sendmail_refuses_what_the_engine_would_refuse_before_connecting(args: list[str]) -> None:
    refused(sendmail(*args), "sendmail", EX_DATAERR)


# --- --message sends the file as it is ----------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ["--body", "x"],
        ["--body-file", "{tmp}/body.txt"],
        ["--html-file", "{tmp}/page.html"],
        ["--attach", "/nonexistent"],
        ["--header", "X-A: 1"],
        ["--subject", "x"],
        ["--subject", ""],
    ],
    ids=lambda option: f"{option[0]}={option[1]!r}",
)
def test_an_option_message_would_ignore_is_a_usage_error_naming_it(
    tmp_path: Path, option: list[str]
) -> None:
    eml = tmp_path / "message.eml"
    eml.write_text("From: a@example.com\nTo: b@example.org\nSubject: x\n\nbody\n")
    (tmp_path / "body.txt").write_text("body")
    (tmp_path / "page.html").write_text("<p>body</p>")
    given = [part.replace("{tmp}", str(tmp_path)) for part in option]
    line = refused(send("--message", str(eml), *given), "send", EX_USAGE)
    assert given[0] in line


# --- header fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--header", "X-A: b\x01"], id="header-soh"),
        pytest.param(["--header", "X-A: b\x1bc"], id="header-esc"),
        pytest.param(["--header", "X-A: b\x7f"], id="header-del"),
        pytest.param(["--subject", "hi\x07"], id="subject-bel"),
    ],
)
def test_a_control_character_in_a_header_is_65_as_a_line_break_is(args: list[str]) -> None:
    line = refused(
        send("--from", "a@example.com", "--to", "b@example.org", *args), "send", EX_DATAERR
    )
    assert "control character" in line


def test_a_tab_in_a_header_is_not_a_control_character_to_refuse(
    aiosmtpd_server: StartAiosmtpd,
) -> None:
    server = aiosmtpd_server()
    run = smtpx(
        *("send", "--server", at(server.host, server.port), "--timeout", STEP_TIMEOUT),
        *("--from", "a@example.com", "--to", "b@example.org", "--header", "X-A: b\tc"),
    )
    assert run.code == EX_OK, run.stderr
    [envelope] = server.envelopes
    assert parse(envelope.original_content)["X-A"] == "b\tc"


def test_a_given_message_id_and_date_replace_the_generated_ones(
    aiosmtpd_server: StartAiosmtpd,
) -> None:
    server = aiosmtpd_server()
    date = "Sat, 28 Nov 2026 04:00:00 +0000"
    run = smtpx(
        *("send", "--server", at(server.host, server.port), "--timeout", STEP_TIMEOUT),
        *("--from", "a@example.com", "--to", "b@example.org"),
        *("--header", "Message-ID: <given@example.com>", "--header", f"Date: {date}"),
    )
    assert run.code == EX_OK, run.stderr
    [envelope] = server.envelopes
    message = parse(envelope.original_content)
    assert message.get_all("Message-ID") == ["<given@example.com>"]
    assert message.get_all("Date") == [date]


def test_two_message_ids_are_still_refused() -> None:
    line = refused(
        send(
            *("--from", "a@example.com", "--to", "b@example.org"),
            *("--header", "Message-ID: <one@example.com>"),
            *("--header", "Message-ID: <two@example.com>"),
        ),
        "send",
        EX_DATAERR,
    )
    assert "Message-ID" in line


# --- sendmail's sender: -f, -F and the login name -------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        pytest.param(["-f", "a@example.com\r\nX: y"], {}, "-f", id="f-crlf"),
        pytest.param(["-f", "a@example.com\x1b"], {}, "-f", id="f-esc"),
        pytest.param(["-F", "Name\r\nBcc: spy@example.net"], {}, "-F", id="capital-f-crlf"),
        pytest.param(["-F", "Name\x01"], {}, "-F", id="capital-f-soh"),
        pytest.param([], {"USER": "app\r\nBcc: spy@example.net"}, "give -f", id="user-crlf"),
        pytest.param([], {"USER": "John Doe"}, "give -f", id="user-space"),
    ],
)
def test_a_sender_that_would_break_a_header_is_65_and_nothing_is_sent(
    args: list[str], env: dict[str, str], said: str
) -> None:
    line = refused(sendmail(*args, "b@example.org", **env), "sendmail", EX_DATAERR)
    assert said in line
