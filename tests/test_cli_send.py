"""`smtpx send` as users run it: the installed console script against real peers.

Each test runs .venv/bin/smtpx in a subprocess (bounded by RUN_TIMEOUT, and the
command's own --timeout) against smtp-sink, aiosmtpd or Postfix, and checks the
sysexits code (DESIGN.md, Command line), what is printed, and what arrived:

    0 sent   64 usage   65 bad data   66 missing input file
    69 refused for good (5yz)   75 try again later (4yz, no connection, no TLS)
    77 authentication failed

A failure is told on stderr in ONE line starting "smtpx send: ", never a traceback.
"""

from __future__ import annotations

import base64
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from tests.cli_command import (
    EX_DATAERR,
    EX_NOINPUT,
    EX_NOPERM,
    EX_OK,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    EX_USAGE,
    STEP_TIMEOUT,
    Run,
    at,
    one_error_line,
    parse,
    smtpx,
)
from tests.peers import (
    AUTH_PASSWORD,
    AUTH_USER,
    Postfix,
    StartAiosmtpd,
    StartSink,
    TlsCerts,
    free_port,
    parse_sink_dump,
    strip_trace_headers,
)


def send(server: str, *args: str, env: dict[str, str] | None = None) -> Run:
    return smtpx("send", "--server", server, "--timeout", STEP_TIMEOUT, *args, env=env)


def error_line(run: Run) -> str:
    return one_error_line(run, "smtpx send")


def secret_forms(user: str, password: str) -> list[str]:
    """The password as it could leak: in clear, and base64-encoded at any offset.

    AUTH PLAIN sends base64("\\0user\\0password"), LOGIN base64("password"): any
    base64 text carrying the password contains, whatever precedes it, the middle
    characters of one of three encodings (the ones not touching the neighbours).
    """
    secret = password.encode()
    forms = [
        password,
        base64.b64encode(secret).decode(),
        base64.b64encode(b"\0" + user.encode() + b"\0" + secret).decode(),
    ]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode()
        forms.append(encoded[4 if offset else 0 : -4])
    return [form for form in forms if len(form) >= 8]


# --- a composed message ------------------------------------------------------------------


def test_composed_message_gets_one_accepted_line_per_recipient_and_a_transcript(
    smtp_sink: StartSink,
) -> None:
    sink = smtp_sink(dump=True)
    run = send(
        at(sink.host, sink.port),
        *("--from", "a@example.com", "--to", "b@example.org", "--cc", "c@example.org"),
        *("--bcc", "d@example.org", "--subject", "Hello", "--body", "It works."),
        "-v",
    )
    assert run.code == EX_OK, run.stderr
    assert run.stderr == ""
    assert run.outcome("accepted") == {
        "b@example.org": "250 2.1.5 Ok",
        "c@example.org": "250 2.1.5 Ok",
        "d@example.org": "250 2.1.5 Ok",
    }
    assert run.outcome("refused") == {}
    assert run.lines[-1] == "message   250 2.0.0 Ok"
    # -v: the dialogue first, each line marked by its direction.
    dialogue = run.lines[: -len(run.outcome("accepted")) - 1]
    assert dialogue[0] == "<- 220 smtp-sink ESMTP"
    assert all(line[:3] in ("-> ", "<- ", "** ") for line in dialogue), dialogue
    assert "-> MAIL FROM:<a@example.com>" in dialogue
    assert "-> RCPT TO:<d@example.org>" in dialogue
    assert dialogue[-2:] == ["-> QUIT", "<- 221 Bye"]

    [dump] = sink.dumps()
    sent = parse_sink_dump(dump)
    assert sent.rcpt_args == ("<b@example.org>", "<c@example.org>", "<d@example.org>")
    message = parse(sent.message)
    assert message["Subject"] == "Hello"
    assert message["Bcc"] is None  # a hidden recipient stays hidden
    assert message.get_content().strip() == "It works."


def test_body_file_html_file_attachment_and_header_arrive(
    aiosmtpd_server: StartAiosmtpd, tmp_path: Path
) -> None:
    server = aiosmtpd_server()
    (tmp_path / "body.txt").write_text("Grüße aus der Datei.\n", encoding="utf-8")
    (tmp_path / "page.html").write_text("<p>Hello <b>HTML</b></p>\n", encoding="utf-8")
    payload = bytes(range(256)) * 4
    (tmp_path / "data.bin").write_bytes(payload)
    run = send(
        at(server.host, server.port),
        *("--from", "a@example.com", "--to", "b@example.org", "--subject", "files"),
        *("--body-file", str(tmp_path / "body.txt")),
        *("--html-file", str(tmp_path / "page.html")),
        *("--attach", str(tmp_path / "data.bin")),
        *("--header", "X-Test: 1"),
    )
    assert run.code == EX_OK, run.stderr
    assert run.outcome("accepted").keys() == {"b@example.org"}

    [envelope] = server.envelopes
    assert envelope.mail_from == "a@example.com"
    assert envelope.rcpt_tos == ("b@example.org",)
    message = parse(envelope.original_content)
    assert message["X-Test"] == "1"
    assert message.get_content_type() == "multipart/mixed"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    # Decoded text parts keep the wire's CRLF line ends.
    assert text.get_content().replace("\r\n", "\n") == "Grüße aus der Datei.\n"
    assert html.get_content().replace("\r\n", "\n") == "<p>Hello <b>HTML</b></p>\n"
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "data.bin"
    assert attachment.get_content() == payload


# --- a message file ----------------------------------------------------------------------

EML = (
    "From: Alice <a@example.com>\r\n"
    "To: b@example.org\r\n"
    "Cc: c@example.org\r\n"
    "Bcc: d@example.org\r\n"
    "Subject: from a file\r\n"
    "Date: Sat, 28 Nov 2026 04:00:00 +0000\r\n"
    "Message-ID: <file-1@example.com>\r\n"
    "\r\n"
    "The body, as written.\r\n"
)


def test_message_file_goes_as_it_is_with_the_envelope_from_its_headers(
    aiosmtpd_server: StartAiosmtpd, tmp_path: Path
) -> None:
    server = aiosmtpd_server()
    eml = tmp_path / "message.eml"
    eml.write_bytes(EML.encode())
    run = send(at(server.host, server.port), "--message", str(eml))
    assert run.code == EX_OK, run.stderr
    assert run.outcome("accepted").keys() == {"b@example.org", "c@example.org", "d@example.org"}

    [envelope] = server.envelopes
    assert envelope.mail_from == "a@example.com"
    assert envelope.rcpt_tos == ("b@example.org", "c@example.org", "d@example.org")
    # The file's bytes, less the Bcc line.
    assert envelope.original_content == EML.replace("Bcc: d@example.org\r\n", "").encode()


@pytest.mark.parametrize(
    ("drop", "args", "expected"),
    [
        pytest.param(
            (),
            ("--from", "bounce@example.net", "--to", "x@example.net", "--to", "y@example.net"),
            ("bounce@example.net", ("x@example.net", "y@example.net")),
            id="both-overridden",
        ),
        # --help: "the envelope from its headers unless given": each half on its own.
        pytest.param(
            ("To", "Cc", "Bcc"),
            ("--to", "x@example.net"),
            ("a@example.com", ("x@example.net",)),
            id="file-without-recipients-and-to-given",
        ),
    ],
)
def test_from_and_to_override_the_message_files_envelope(
    aiosmtpd_server: StartAiosmtpd,
    tmp_path: Path,
    drop: tuple[str, ...],
    args: tuple[str, ...],
    expected: tuple[str, tuple[str, ...]],
) -> None:
    server = aiosmtpd_server()
    text = EML
    for field in drop:
        text = re.sub(rf"(?m)^{field}: .*\r\n", "", text)
    eml = tmp_path / "message.eml"
    eml.write_bytes(text.encode())
    run = send(at(server.host, server.port), "--message", str(eml), *args)
    assert run.code == EX_OK, run.stderr
    [envelope] = server.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == expected
    # The header section is the file's: the envelope is not written into it.
    message = parse(envelope.original_content)
    assert message["From"] == "Alice <a@example.com>"
    assert message["Subject"] == "from a file"


# --- bad input: one line, the right code, nothing sent ----------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "garbage.eml").write_bytes(b"\x00\xff\xfe\x01 not a message at all\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        pytest.param(["--attach", "{tmp}/missing.pdf"], EX_NOINPUT, "missing.pdf", id="attach"),
        pytest.param(["--message", "{tmp}/missing.eml"], EX_NOINPUT, "missing.eml", id="message"),
        pytest.param(["--message", "{tmp}/garbage.eml"], EX_DATAERR, "garbage.eml", id="garbage"),
        pytest.param(["--to", "not an address"], EX_DATAERR, "not an address", id="bad-address"),
        pytest.param(
            ["--header", "X-Test: 1\r\nBcc: spy@example.net"], EX_DATAERR, "X-Test", id="crlf"
        ),
        pytest.param(["--from", ""], EX_USAGE, "--from", id="no-from"),
        pytest.param(["--server", "127.0.0.1:99999"], EX_USAGE, "99999", id="bad-port"),
    ],
)
def test_bad_input_is_one_line_with_the_right_code_and_sends_nothing(
    smtp_sink: StartSink, files: Path, args: list[str], code: int, said: str
) -> None:
    sink = smtp_sink(dump=True)
    given = [arg.replace("{tmp}", str(files)) for arg in args]
    options = dict(zip(given[::2], given[1::2], strict=True))
    defaults = {
        "--server": at(sink.host, sink.port),
        "--from": "a@example.com",
        "--to": "b@example.org",
        "--body": "x",
    }
    if "--message" in options:
        defaults = {"--server": defaults["--server"]}
    merged = {**defaults, **options}
    argv = [part for key, value in merged.items() if value for part in (key, value)]
    run = smtpx("send", "--timeout", STEP_TIMEOUT, *argv)
    assert run.code == code, run.stderr
    assert run.stdout == ""
    assert said in error_line(run)
    assert sink.dumps() == []


def test_a_bad_message_file_is_bad_data_even_when_the_server_is_down(tmp_path: Path) -> None:
    # A sendmail-style caller retries on 75 forever; a message with no sender can
    # never go, so it must hear 65 whether or not the server answers. The message
    # is checked before connecting, as a composed one is.
    eml = tmp_path / "no-from.eml"
    eml.write_bytes(b"To: b@example.org\r\nSubject: no sender\r\n\r\nbody\r\n")
    run = send(at("127.0.0.1", free_port()), "--message", str(eml))
    assert run.code == EX_DATAERR, run.stderr
    assert "From" in error_line(run)


# --- what the server says ----------------------------------------------------------------


def test_connection_refused_is_temporary() -> None:
    port = free_port()
    run = send(at("127.0.0.1", port), "--from", "a@example.com", "--to", "b@example.org")
    assert run.code == EX_TEMPFAIL
    assert run.stdout == ""
    line = error_line(run)
    assert str(port) in line
    assert "refused" in line.lower()


@pytest.mark.parametrize(
    ("fault", "code", "refused", "said"),
    [
        pytest.param(("-f", "RCPT"), EX_UNAVAILABLE, "500 5.3.0", "refused", id="5xx-rcpt"),
        pytest.param(("-r", "RCPT"), EX_TEMPFAIL, "450 4.3.0", "accepted", id="4xx-rcpt"),
        pytest.param(("-r", "DATA"), EX_TEMPFAIL, None, "450 4.3.0", id="4xx-data"),
        pytest.param(("-f", "MAIL"), EX_UNAVAILABLE, None, "500 5.3.0", id="5xx-mail"),
    ],
)
def test_refusals_map_to_sysexits(
    smtp_sink: StartSink, fault: tuple[str, str], code: int, refused: str | None, said: str
) -> None:
    sink = smtp_sink(*fault)
    run = send(
        at(sink.host, sink.port),
        *("--from", "a@example.com", "--to", "b@example.org", "--to", "c@example.org"),
        *("--body", "x"),
    )
    assert run.code == code, run.stderr
    assert said in error_line(run)
    assert run.outcome("accepted") == {}
    if refused is None:
        assert run.outcome("refused") == {}
    else:
        assert set(run.outcome("refused")) == {"b@example.org", "c@example.org"}
        assert all(reply.startswith(refused) for reply in run.outcome("refused").values())


# --- TLS, with Postfix ---------------------------------------------------------------------


def delivered_by(postfix: Postfix, n: int) -> list[tuple[bytes, EmailMessage]]:
    """Each delivery's Received-with line (ESMTP, ESMTPS, ESMTPSA...) and its message."""
    found = []
    for data in postfix.wait_for_delivery(n):
        match = re.search(rb"\bwith (\w+) id ", data)
        assert match is not None, data[:400]
        found.append((match.group(1), parse(strip_trace_headers(data))))
    return found


def test_starttls_with_the_ca_file_delivers(fresh_postfix: Postfix, tls_certs: TlsCerts) -> None:
    run = send(
        at(fresh_postfix.host, fresh_postfix.port),
        *("--tls", "starttls", "--ca-file", str(tls_certs.ca_pem)),
        *("--from", "a@example.com", "--to", "b@example.org", "--subject", "over TLS"),
    )
    assert run.code == EX_OK, run.stderr
    assert run.outcome("accepted").keys() == {"b@example.org"}
    [(protocol, message)] = delivered_by(fresh_postfix, 1)
    assert protocol == b"ESMTPS"
    assert message["Subject"] == "over TLS"


def test_starttls_fails_closed_on_an_untrusted_certificate_and_insecure_goes(
    fresh_postfix: Postfix,
) -> None:
    server = at(fresh_postfix.host, fresh_postfix.port)
    envelope = ("--from", "a@example.com", "--to", "b@example.org")
    # The trustme CA is not in the system's trust store.
    run = send(server, "--tls", "starttls", *envelope, "--subject", "verified", "-v")
    assert run.code == EX_TEMPFAIL
    assert "certificate" in error_line(run)
    assert "-> STARTTLS" in run.lines
    assert not any(line.startswith(("-> MAIL", "-> AUTH")) for line in run.lines), run.stdout

    run = send(server, "--tls", "starttls", "--insecure", *envelope, "--subject", "insecure")
    assert run.code == EX_OK, run.stderr
    # Exactly one delivery, and it is the second message: the first never left.
    [(protocol, message)] = delivered_by(fresh_postfix, 1)
    assert protocol == b"ESMTPS"
    assert message["Subject"] == "insecure"


# --- AUTH, with Postfix's submission port ---------------------------------------------------


@pytest.mark.parametrize("source", ["--password-env", "--password-file"])
def test_auth_on_the_submission_port_never_shows_the_password(
    fresh_postfix: Postfix, tls_certs: TlsCerts, tmp_path: Path, source: str
) -> None:
    if source == "--password-env":
        env, where, mechanism = (
            {"SMTPX_TEST_PASSWORD": AUTH_PASSWORD},
            "SMTPX_TEST_PASSWORD",
            "PLAIN",
        )
    else:
        (tmp_path / "password").write_text(AUTH_PASSWORD + "\n")
        env, where, mechanism = {}, str(tmp_path / "password"), "LOGIN"
    run = send(
        at(fresh_postfix.host, fresh_postfix.submission_port),
        *("--tls", "starttls", "--ca-file", str(tls_certs.ca_pem)),
        *("--user", AUTH_USER, source, where, "--auth-mechanism", mechanism),
        *("--from", "a@example.com", "--to", "b@example.org", "--subject", "submitted"),
        "-v",
        env=env,
    )
    assert run.code == EX_OK, run.stderr
    assert f"** authenticated as {AUTH_USER} with {mechanism}" in run.lines
    for form in secret_forms(AUTH_USER, AUTH_PASSWORD):
        assert form not in run.stdout + run.stderr, form
    [(protocol, message)] = delivered_by(fresh_postfix, 1)
    assert protocol == b"ESMTPSA"
    assert message["Subject"] == "submitted"


def test_a_wrong_password_is_77_and_not_shown(fresh_postfix: Postfix, tls_certs: TlsCerts) -> None:
    wrong = "not-the-password-1234"
    run = send(
        at(fresh_postfix.host, fresh_postfix.submission_port),
        *("--tls", "starttls", "--ca-file", str(tls_certs.ca_pem)),
        *("--user", AUTH_USER, "--password-env", "SMTPX_TEST_PASSWORD"),
        *("--from", "a@example.com", "--to", "b@example.org"),
        "-v",
        env={"SMTPX_TEST_PASSWORD": wrong},
    )
    assert run.code == EX_NOPERM
    assert "535" in error_line(run)
    for form in secret_forms(AUTH_USER, wrong):
        assert form not in run.stdout + run.stderr, form


def test_credentials_are_not_sent_in_clear_unless_allowed(fresh_postfix: Postfix) -> None:
    # Postfix's main port offers AUTH without TLS: only smtpx can refuse.
    server = at(fresh_postfix.host, fresh_postfix.port)
    args = (
        *("--tls", "none", "--user", AUTH_USER, "--password-env", "SMTPX_TEST_PASSWORD"),
        *("--from", "a@example.com", "--to", "b@example.org", "-v"),
    )
    env = {"SMTPX_TEST_PASSWORD": AUTH_PASSWORD}
    run = send(server, *args, "--subject", "refused", env=env)
    assert run.code in (EX_USAGE, EX_NOPERM), run.stderr
    line = error_line(run)
    assert "--auth-without-tls" in line, f"the message should name the way out: {line}"
    assert not any(line.startswith(("-> AUTH", "-> MAIL")) for line in run.lines), run.stdout

    run = send(server, *args, "--auth-without-tls", "--subject", "allowed", env=env)
    assert run.code == EX_OK, run.stderr
    [(protocol, message)] = delivered_by(fresh_postfix, 1)
    assert protocol == b"ESMTPA"
    assert message["Subject"] == "allowed"
