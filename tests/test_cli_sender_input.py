"""Bad connection options to `smtpx send`, `probe` and `sendmail`, refused before connecting.

Every option the three commands share (tests/cli_command.py runs them) is
checked before a socket is opened: a mistake is one stderr line naming the
command and what was wrong, and its sysexits code, never a traceback. The
server is a loopback port where nothing listens, so an option let through
would end in "Connection refused" and 75 instead of the code asserted here.

    64 usage: --server, --timeout, --helo, --auth-mechanism
    65 data: what a --password-file holds
    66 no input: a --password-file that is not there
    78 config: a --ca-file with no certificate; $SMTPX_CONFIG, $SMTPX_SERVER
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli_command import (
    EX_DATAERR,
    EX_NOINPUT,
    EX_OK,
    EX_USAGE,
    STEP_TIMEOUT,
    Run,
    at,
    one_error_line,
    refused,
    smtpx,
)
from tests.peers import LOOPBACK, StartSink, free_port, parse_sink_dump

EX_CONFIG = 78
COMMANDS = ["send", "probe", "sendmail"]
NOT_UTF8 = b"\xff\xfe bad"


def to_nowhere(command: str, *args: str, server: str | None = None) -> Run:
    """``smtpx COMMAND`` with a valid message and envelope, to a port where nothing listens."""
    where = server if server is not None else at(LOOPBACK, free_port())
    if command == "send":
        argv = ["send", "--server", where, "--from", "a@example.com", "--to", "b@example.org"]
    elif command == "probe":
        argv = ["probe", where]
    else:
        argv = ["sendmail", "--server", where, "b@example.org"]
    return smtpx(
        *argv,
        *("--timeout", STEP_TIMEOUT),
        *args,
        stdin="Subject: x\n\nbody\n",
        env={"USER": "app"},
    )


# --- --ca-file ------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [NOT_UTF8, b""], ids=["binary", "empty"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_ca_file_without_a_certificate_is_a_config_error_naming_it(
    tmp_path: Path, command: str, content: bytes
) -> None:
    # As `smtpx serve --relay-ca-file` (78); a --ca-file that is not there stays 64 (click).
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(content)
    line = refused(to_nowhere(command, "--ca-file", str(ca_file)), command, EX_CONFIG)
    assert str(ca_file) in line
    assert "--ca-file" in line


# --- --password-file (and serve's --relay-password-file, which reads it the same way) -------


@pytest.mark.parametrize(
    ("content", "code", "said"),
    [
        pytest.param(NOT_UTF8, EX_DATAERR, "not UTF-8", id="not-utf8"),
        pytest.param(b"", EX_DATAERR, "first line is empty", id="empty"),
        pytest.param(b"\nsecret\n", EX_DATAERR, "first line is empty", id="empty-first-line"),
        pytest.param(None, EX_NOINPUT, "no such file", id="missing"),
    ],
)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_password_file_that_holds_no_password_is_one_line(
    tmp_path: Path, command: str, content: bytes | None, code: int, said: str
) -> None:
    secret = tmp_path / "password"
    if content is not None:
        secret.write_bytes(content)
    line = refused(
        to_nowhere(command, "--user", "me", "--password-file", str(secret)), command, code
    )
    assert str(secret) in line
    assert said in line
    assert "Errno" not in line


def test_a_relay_password_file_that_is_not_utf8_stops_serve(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(NOT_UTF8)
    data_dir = tmp_path / "data"
    run = smtpx(
        *("serve", "--listen", at(LOOPBACK, free_port()), "--no-http"),
        *("--data-dir", str(data_dir), "--relay", "--relay-host", at(LOOPBACK, free_port())),
        *("--relay-user", "me", "--relay-password-file", str(secret)),
    )
    assert run.code == EX_DATAERR, run.stderr
    assert str(secret) in one_error_line(run, "smtpx serve")
    assert not data_dir.exists()


# --- --timeout ------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", "1e12"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_timeout_that_is_not_a_finite_number_of_seconds_is_a_usage_error(
    command: str, seconds: str
) -> None:
    line = refused(to_nowhere(command, "--timeout", seconds), command, EX_USAGE)
    assert "--timeout" in line


# --- --server -------------------------------------------------------------------------------

BAD_SERVERS = {
    # str.isdigit() takes superscripts and other scripts' digits: int() then fails,
    # or reads ٣٩٥٠١ as 39501.
    "superscript port": ("127.0.0.1:²", "the port '²'"),
    "arabic-indic port": ("127.0.0.1:٣٩٥٠١", "the port '٣٩٥٠١'"),
    "port zero": ("127.0.0.1:0", "the port '0'"),
    "port too big": ("127.0.0.1:65536", "the port '65536'"),
    "no port after colon": ("127.0.0.1:", "no port"),
    "space in host": ("a b:25", "'a b' is not a host name"),
    "leading space": (" 127.0.0.1:25", "' 127.0.0.1' is not a host name"),
    "empty label": ("mail..example:25", "'mail..example' is not a host name"),
    "two ports": ("127.0.0.1:25:1", "more than one ':'"),
    # An IPv6 address with a port needs brackets: in ::1:25 the 25 could be either.
    "ipv6 without brackets": ("::1:25", "[::1]:25"),
    "no closing bracket": ("[::1", "no ']'"),
    "text after bracket": ("[::1]25", "'25' after ']'"),
    "empty brackets": ("[]:25", "no host name"),
}


@pytest.mark.parametrize(("server", "said"), BAD_SERVERS.values(), ids=BAD_SERVERS.keys())
def test_a_bad_server_is_a_usage_error_saying_what_is_wrong(server: str, said: str) -> None:
    line = refused(to_nowhere("send", server=server), "send", EX_USAGE)
    assert said in line


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_reads_the_server_the_same_way(command: str) -> None:
    line = refused(to_nowhere(command, server="::1:25"), command, EX_USAGE)
    assert "brackets: [::1]:25" in line


def test_serve_listen_wants_brackets_around_ipv6_too(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run = smtpx("serve", "--listen", "::1:2525", "--no-http", "--data-dir", str(data_dir))
    assert run.code == EX_USAGE, run.stderr
    assert "[::1]:2525" in one_error_line(run, "smtpx serve")
    assert not data_dir.exists()


@pytest.mark.parametrize(
    "server", ["{host}:{port}", "[{host}]:{port}", "localhost:{port}"], ids=str
)
def test_good_server_forms_still_reach_the_server(smtp_sink: StartSink, server: str) -> None:
    sink = smtp_sink()
    run = smtpx("probe", server.format(host=sink.host, port=sink.port), "--timeout", STEP_TIMEOUT)
    assert run.code == EX_OK, run.stderr


# --- --helo and --auth-mechanism ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "said"),
    [
        pytest.param("a b", "give one host name", id="space"),
        pytest.param("127.0.0.1", "address literal", id="bare-address"),
        pytest.param("[not-an-address]", "address literal", id="bad-literal"),
        # Refused, not converted: the error gives the A-label form to use.
        pytest.param("hé.test", "xn--h-bga.test", id="non-ascii"),
    ],
)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_helo_name_ehlo_cannot_carry_is_a_usage_error(command: str, name: str, said: str) -> None:
    line = refused(to_nowhere(command, "--helo", name), command, EX_USAGE)
    assert "--helo" in line
    assert said in line


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_auth_mechanism_is_a_usage_error(command: str) -> None:
    line = refused(
        to_nowhere(command, "--user", "me", "--auth-mechanism", "BOGUS"),
        command,
        EX_USAGE,
    )
    assert "BOGUS" in line


@pytest.mark.parametrize("helo", ["client.example", "[192.0.2.1]"])
def test_a_helo_name_or_address_literal_is_sent(smtp_sink: StartSink, helo: str) -> None:
    sink = smtp_sink(dump=True)
    run = smtpx(
        *("send", "--server", at(sink.host, sink.port), "--timeout", STEP_TIMEOUT),
        *("--helo", helo, "--from", "a@example.com", "--to", "b@example.org"),
    )
    assert run.code == EX_OK, run.stderr
    [dump] = sink.dumps()
    assert parse_sink_dump(dump).helo_args == helo


# --- sendmail's server from the environment and the config file ---------------------------


def sendmail(env: dict[str, str]) -> Run:
    return smtpx(
        "sendmail",
        *("--timeout", STEP_TIMEOUT, "b@example.org"),
        stdin="Subject: x\n\nbody\n",
        env={"USER": "app", **env},
    )


BAD_CONFIGS = {
    "not utf-8": (NOT_UTF8, "not UTF-8"),
    "toml syntax": (b"[sendmail\nserver = 1\n", "not valid TOML"),
    "sendmail not a table": (b'sendmail = "x"\n', "sendmail should be a table"),
    "server a number": (b"[sendmail]\nserver = 25\n", "server should be a string"),
    "server an array": (b'[sendmail]\nserver = ["a"]\n', "server should be a string"),
    "server empty": (b'[sendmail]\nserver = ""\n', "server should be a string"),
    "server malformed": (b'[sendmail]\nserver = "a b:25"\n', "'a b' is not a host name"),
}


@pytest.mark.parametrize(("content", "said"), BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_a_bad_config_file_is_78_naming_it(tmp_path: Path, content: bytes, said: str) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(content)
    line = refused(sendmail({"SMTPX_CONFIG": str(config)}), "sendmail", EX_CONFIG)
    assert str(config) in line
    assert said in line
    assert "--help" not in line


def test_a_config_that_is_a_directory_is_78(tmp_path: Path) -> None:
    line = refused(sendmail({"SMTPX_CONFIG": str(tmp_path)}), "sendmail", EX_CONFIG)
    assert str(tmp_path) in line


def test_a_malformed_smtpx_server_is_78_naming_it() -> None:
    line = refused(sendmail({"SMTPX_SERVER": "127.0.0.1:25:1"}), "sendmail", EX_CONFIG)
    assert "$SMTPX_SERVER" in line
