"""`smtpx probe` and `smtpx sendmail` as users run them, against real peers.

probe: what a server says about itself (greeting, extensions, TLS session), one
"name  value" line each. sendmail: the /usr/sbin/sendmail interface (sendmail(8):
-t, -i, -f, -F, recipients as arguments), relaying to the server named by
--server, $SMTPX_SERVER or the [sendmail] table of $SMTPX_CONFIG. Exit codes are
sysexits.h; a failure is one stderr line naming the command, never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.cli_command import (
    EX_OK,
    EX_TEMPFAIL,
    EX_USAGE,
    STEP_TIMEOUT,
    Run,
    at,
    one_error_line,
    parse,
    smtpx,
)
from tests.peers import AiosmtpdServer, Postfix, StartAiosmtpd, StartSink, TlsCerts, free_port

# --- probe ---------------------------------------------------------------------------------


def probe(server: str, *args: str) -> Run:
    return smtpx("probe", server, "--timeout", STEP_TIMEOUT, *args)


def test_probe_shows_greeting_and_extensions_of_smtp_sink(smtp_sink: StartSink) -> None:
    sink = smtp_sink()
    run = probe(at(sink.host, sink.port))
    assert run.code == EX_OK, run.stderr
    assert run.stderr == ""
    said = run.fields()
    assert said["server"] == [at(sink.host, sink.port)]
    assert said["greeting"] == ["220 smtp-sink ESMTP"]
    assert said["pipelining"] == ["yes"]
    assert said["chunking"][0].startswith("no")
    assert said["dsn"] == ["yes"]
    assert said["starttls"] == ["no"]
    assert said["tls"] == ["none"]


def test_probe_says_when_the_server_only_speaks_helo(smtp_sink: StartSink) -> None:
    sink = smtp_sink("-e")  # EHLO gets 500
    run = probe(at(sink.host, sink.port))
    assert run.code == EX_OK, run.stderr
    said = run.fields()
    [extensions] = said["extensions"]
    assert "only speaks HELO" in extensions
    assert "pipelining" not in said
    assert said["tls"] == ["none"]


def test_probe_connection_refused_is_temporary() -> None:
    port = free_port()
    run = probe(at("127.0.0.1", port))
    assert run.code == EX_TEMPFAIL
    assert run.stdout == ""
    line = one_error_line(run, "smtpx probe")
    assert str(port) in line
    assert "refused" in line.lower()


def test_probe_v_with_nothing_said_prints_nothing_on_stdout() -> None:
    # No connection, no dialogue: -v adds no empty line.
    run = probe(at("127.0.0.1", free_port()), "-v")
    assert run.code == EX_TEMPFAIL
    assert run.stdout == ""
    assert "refused" in one_error_line(run, "smtpx probe").lower()


def test_probe_v_prints_the_dialogue_a_line_each(smtp_sink: StartSink) -> None:
    sink = smtp_sink()
    run = probe(at(sink.host, sink.port), "-v")
    assert run.code == EX_OK, run.stderr
    dialogue = [line for line in run.lines if line[:3] in ("-> ", "<- ", "** ")]
    assert dialogue[0] == "<- 220 smtp-sink ESMTP"
    assert "" not in run.lines


@pytest.fixture(scope="module")
def postfix_probe(postfix: Postfix, tls_certs: TlsCerts) -> Run:
    """One `smtpx probe --tls starttls --ca-file CA` of Postfix, read by several tests."""
    return probe(
        at(postfix.host, postfix.port), "--tls", "starttls", "--ca-file", str(tls_certs.ca_pem)
    )


def test_probe_shows_the_tls_session_and_certificate(postfix_probe: Run) -> None:
    run = postfix_probe
    assert run.code == EX_OK, run.stderr
    said = run.fields()
    assert said["greeting"] == ["220 mx.example ESMTP Postfix"]
    [tls] = said["tls"]
    assert re.match(r"TLSv1\.[23], \S+", tls), tls
    [subject] = said["subject"]
    [issuer] = said["issuer"]
    assert "trustme" in subject
    assert "Testing CA" in issuer  # trustme's CA, not the leaf
    [names] = said["names"]
    assert {"localhost", "127.0.0.1", "mx.example"} <= set(names.split(", "))
    [expires] = said["expires"]
    assert re.search(r"\b\d{4} GMT$", expires), expires
    assert said["auth"] == ["PLAIN LOGIN"]  # offered after STARTTLS


def test_probe_says_starttls_was_offered_when_it_used_it(postfix_probe: Run) -> None:
    # After STARTTLS, Postfix's second EHLO reply no longer lists STARTTLS (RFC 3207
    # §4.2), but the server did offer it: "starttls no" above a TLS session misleads.
    assert postfix_probe.code == EX_OK, postfix_probe.stderr
    [starttls] = postfix_probe.fields()["starttls"]
    assert starttls.startswith("yes"), starttls


# --- sendmail ----------------------------------------------------------------------------


def sendmail(server: AiosmtpdServer | None, *args: str, stdin: str, **env: str) -> Run:
    where = ("--server", at(server.host, server.port)) if server is not None else ()
    return smtpx(
        "sendmail",
        *where,
        "--timeout",
        STEP_TIMEOUT,
        *args,
        stdin=stdin,
        env={"USER": "app", **env},
    )


def test_sendmail_t_takes_the_recipients_from_the_headers(
    aiosmtpd_server: StartAiosmtpd,
) -> None:
    server = aiosmtpd_server()
    stdin = "To: b@example.org\nBcc: hidden@example.org\nSubject: x\n\nbody\n"
    run = sendmail(server, "-t", stdin=stdin)
    assert run.code == EX_OK, run.stderr
    assert run.outcome("accepted").keys() == {"b@example.org", "hidden@example.org"}
    [envelope] = server.envelopes
    assert envelope.rcpt_tos == ("b@example.org", "hidden@example.org")
    assert envelope.mail_from == "app@localhost"  # $USER, as sendmail(8) does
    message = parse(envelope.original_content)
    assert message["Bcc"] is None
    assert message["From"] == "app@localhost"
    assert message["Date"] is not None
    assert message["Message-ID"] is not None
    assert message.get_content() == "body\r\n"


@pytest.mark.parametrize(
    ("stdin", "to_header"),
    [
        pytest.param(
            "To: listed@example.org\nSubject: x\n\nbody\n", "listed@example.org", id="with-to"
        ),
        # The everyday `printf 'Subject: ...' | sendmail user@host`: no To at all.
        pytest.param("Subject: x\n\nbody\n", None, id="without-to"),
    ],
)
def test_sendmail_arguments_are_the_recipients(
    aiosmtpd_server: StartAiosmtpd, stdin: str, to_header: str | None
) -> None:
    server = aiosmtpd_server()
    run = sendmail(server, "c@example.org", "d@example.org", stdin=stdin)
    assert run.code == EX_OK, run.stderr
    [envelope] = server.envelopes
    assert envelope.rcpt_tos == ("c@example.org", "d@example.org")
    assert parse(envelope.original_content)["To"] == to_header


@pytest.mark.parametrize(
    ("from_header", "from_after"),
    [
        pytest.param(None, "Alice Example <bounce@example.com>", id="no-from-header"),
        pytest.param("Me <me@example.com>", "Me <me@example.com>", id="from-header-kept"),
    ],
)
def test_sendmail_f_sets_the_envelope_sender_and_capital_f_the_name(
    aiosmtpd_server: StartAiosmtpd, from_header: str | None, from_after: str
) -> None:
    server = aiosmtpd_server()
    header = f"From: {from_header}\n" if from_header else ""
    stdin = f"{header}To: b@example.org\nSubject: x\n\nbody\n"
    run = sendmail(server, "-t", "-f", "bounce@example.com", "-F", "Alice Example", stdin=stdin)
    assert run.code == EX_OK, run.stderr
    [envelope] = server.envelopes
    assert envelope.mail_from == "bounce@example.com"
    assert parse(envelope.original_content)["From"] == from_after


@pytest.mark.parametrize("ignore_dots", [False, True], ids=["dot-ends-input", "dash-i"])
def test_sendmail_a_lone_dot_ends_input_unless_i(
    aiosmtpd_server: StartAiosmtpd, ignore_dots: bool
) -> None:
    server = aiosmtpd_server()
    stdin = "To: b@example.org\nSubject: dots\n\nbefore\n.\nafter\n"
    run = sendmail(server, "-t", *(["-i"] if ignore_dots else []), stdin=stdin)
    assert run.code == EX_OK, run.stderr
    [envelope] = server.envelopes
    content = envelope.original_content
    assert content.endswith(
        b"\r\n\r\nbefore\r\n.\r\nafter\r\n" if ignore_dots else b"\r\n\r\nbefore\r\n"
    )


@pytest.mark.parametrize("source", ["SMTPX_SERVER", "SMTPX_CONFIG"])
def test_sendmail_finds_the_server_in_the_environment_or_config(
    aiosmtpd_server: StartAiosmtpd, tmp_path: Path, source: str
) -> None:
    server = aiosmtpd_server()
    if source == "SMTPX_SERVER":
        env = {"SMTPX_SERVER": at(server.host, server.port)}
    else:
        config = tmp_path / "config.toml"
        config.write_text(f'[sendmail]\nserver = "{at(server.host, server.port)}"\n')
        env = {"SMTPX_CONFIG": str(config)}
    stdin = "To: b@example.org\nSubject: configured\n\nbody\n"
    run = sendmail(None, "b@example.org", stdin=stdin, **env)
    assert run.code == EX_OK, run.stderr
    [envelope] = server.envelopes
    assert envelope.rcpt_tos == ("b@example.org",)


@pytest.mark.parametrize(
    ("server", "args", "said"),
    [
        pytest.param(False, ["b@example.org"], "--server", id="no-server"),
        pytest.param(True, [], "-t", id="no-recipients"),
    ],
)
def test_sendmail_usage_mistakes_exit_64(
    smtp_sink: StartSink, server: bool, args: list[str], said: str
) -> None:
    sink = smtp_sink(dump=True)
    where = ["--server", at(sink.host, sink.port)] if server else []
    run = smtpx("sendmail", *where, *args, stdin="Subject: x\n\nbody\n")
    assert run.code == EX_USAGE
    assert run.stdout == ""
    assert said in one_error_line(run, "smtpx sendmail")
    assert sink.dumps() == []


def test_sendmail_failures_are_told_as_sendmail() -> None:
    port = free_port()
    run = smtpx(
        "sendmail",
        *("--server", at("127.0.0.1", port), "--timeout", STEP_TIMEOUT, "b@example.org"),
        stdin="Subject: x\n\nbody\n",
    )
    assert run.code == EX_TEMPFAIL
    assert str(port) in one_error_line(run, "smtpx sendmail")
