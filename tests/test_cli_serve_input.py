"""`smtpx serve` refuses a bad command line before it listens: one line, a sysexits code.

Theory of operation. Each case runs the console script with its SMTP port (and, when
the inbox is asked for, its HTTP port) already taken by a listening socket this test
holds. A server that tried to listen would fail there with 69 (EX_UNAVAILABLE, "cannot
listen"); so a 64 (EX_USAGE) or 78 (EX_CONFIG) proves the option was checked before
anything listened, and a check that is missing fails the test at once instead of
leaving a server running. stderr must be one line, "smtpx serve: ...", no traceback,
and never the "listening on" line.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from tests.cli_command import NO_CONFIG, SCRIPT, Run, one_error_line
from tests.peers import LOOPBACK, STOP_TIMEOUT

from smtpx.cli import main
from smtpx.cli._options import Seconds
from smtpx.cli._relay import MAX_DURATION_DAYS, RelayOption
from smtpx.relay import RelayConfig, Schedule
from smtpx.relay._config import LONGEST_WAIT

EX_USAGE = 64
EX_CONFIG = 78
# Seconds a bad command line gets to be refused (it takes a fraction of one).
REFUSAL_TIMEOUT = 15.0
# Bytes that are not PEM, as a CA file or certificate.
NOT_PEM = b"\xff\xfe bad"
NOT_PEM_FILE = "NOT_PEM"  # in a list of options: the path of a file holding NOT_PEM


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port with a listening socket on it, for as long as the block runs."""
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        yield taken.getsockname()[1]


def serve(tmp_path: Path, *options: str) -> Run:
    """``smtpx serve`` on a taken port (unless --listen is given), which must end at once."""
    environment = {key: value for key, value in os.environ.items() if "SMTPX_" not in key}
    environment["SMTPX_CONFIG"] = NO_CONFIG
    with taken_port() as port:
        listen = [] if "--listen" in options else ["--listen", f"{LOOPBACK}:{port}"]
        http = [] if "--http" in options else ["--no-http"]
        process = subprocess.Popen(
            [str(SCRIPT), "serve", *listen, *http, "--data-dir", str(tmp_path / "data"), *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        try:
            stdout, stderr = process.communicate(timeout=REFUSAL_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate(timeout=STOP_TIMEOUT)
            pytest.fail(f"smtpx serve {' '.join(options)}: started instead of refusing:\n{stderr}")
    return Run(process.returncode, stdout, stderr)


def refused(tmp_path: Path, code: int, *options: str) -> str:
    """The one line ``smtpx serve *options`` was refused with, before it listened."""
    run = serve(tmp_path, *options)
    assert run.code == code, run
    assert "listening on" not in run.stderr
    assert not (tmp_path / "data").exists()  # nor was the store touched
    return one_error_line(run, "smtpx serve")


@pytest.fixture
def not_pem(tmp_path: Path) -> str:
    path = tmp_path / "bin.txt"
    path.write_bytes(NOT_PEM)
    return str(path)


# --- 1. a CA file that cannot be loaded ------------------------------------------------------


def test_a_relay_ca_file_that_cannot_be_loaded_is_exit_78_naming_it(
    tmp_path: Path, not_pem: str
) -> None:
    """Once accepted: then every delivery logged an ssl.SSLError traceback, mail kept queued."""
    line = refused(tmp_path, EX_CONFIG, "--relay", "--route", "far.test=127.0.0.1:2",
                   "--require-tls", "far.test", "--relay-ca-file", not_pem)  # fmt: skip
    assert "--relay-ca-file" in line
    assert not_pem in line


def test_a_release_ca_file_that_cannot_be_loaded_is_exit_78_naming_it(
    tmp_path: Path, not_pem: str
) -> None:
    with taken_port() as http:
        options = ["--release-to", "smtp.example.net:25", "--release-ca-file", not_pem]
        line = refused(tmp_path, EX_CONFIG, "--http", f"{LOOPBACK}:{http}", *options)
    assert "--release-ca-file" in line
    assert not_pem in line


# --- 2. --hostname -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hostname",
    [
        "evil\r\n250 x",  # once a LocalProtocolError traceback at the first greeting
        "a b",  # once greeted "220 a b ESMTP smtpx"
        "",
        "mx_1.example",
        "-mx.example",
        "mx.example.",
        "999.1.1.1",
        "a" * 64 + ".example",
    ],
)
def test_a_hostname_that_is_not_a_host_name_is_exit_64(tmp_path: Path, hostname: str) -> None:
    line = refused(tmp_path, EX_USAGE, "--hostname", hostname)
    assert "--hostname" in line
    assert "host name" in line


# --- 3. non-finite and unworkable numbers ---------------------------------------------------


def float_options() -> list[click.Parameter]:
    serve_command = main.commands["serve"]
    return [param for param in serve_command.params if isinstance(param.type, click.FloatRange)]


def test_every_float_option_of_serve_refuses_nan_and_infinity() -> None:
    """A FloatRange alone takes nan: every float option is a Seconds."""
    floats = float_options()
    assert {param.name for param in floats} >= {"idle_timeout", "command_timeout"}
    for param in floats:
        assert isinstance(param.type, Seconds), param.name


@pytest.mark.parametrize("value", ["nan", "inf", "NaN", "Infinity"])
@pytest.mark.parametrize(
    "option", [param.opts[0] for param in float_options()], ids=lambda option: option
)
def test_a_float_option_that_is_not_finite_is_exit_64(
    tmp_path: Path, option: str, value: str
) -> None:
    assert option in refused(tmp_path, EX_USAGE, option, value)


@pytest.mark.parametrize("value", ["0", "0s", "0.05s", "nan", "inf"])
def test_a_dns_timeout_that_cannot_work_is_exit_64(tmp_path: Path, value: str) -> None:
    """Refused, not replaced: 0 once became 5 seconds without a word."""
    assert "--dns-timeout" in refused(tmp_path, EX_USAGE, "--relay", "--dns-timeout", value)


@pytest.mark.parametrize(
    "rule", ["RCPT 550 delay=nan", "RCPT 550 delay=inf", "MAIL 451 delay=-1", "RCPT 550 match="]
)
def test_a_fault_with_a_delay_that_is_no_delay_or_an_empty_match_is_exit_64(
    tmp_path: Path, rule: str
) -> None:
    assert "--fault" in refused(tmp_path, EX_USAGE, "--fault", rule)


# --- 4. durations are bounded --------------------------------------------------------------------

HUGE = "99999999999999999999999999d"


@pytest.mark.parametrize(
    "options",
    [
        ["--relay", "--retry", HUGE],
        ["--relay", "--retry", f"1m,{MAX_DURATION_DAYS + 1}d"],
        ["--relay", "--max-lifetime", HUGE],
        ["--relay", "--delay-warning", HUGE],
        ["--relay", "--dns-timeout", HUGE],
        ["--max-age", HUGE],
    ],
    ids=lambda options: options[-2],
)
def test_a_duration_over_ten_years_is_exit_64(tmp_path: Path, options: list[str]) -> None:
    """Once accepted: `smtpx queue list` then died with OverflowError."""
    line = refused(tmp_path, EX_USAGE, *options)
    assert options[-2] in line
    assert f"at most {MAX_DURATION_DAYS}d" in line


@pytest.mark.parametrize(
    "settings",
    [
        {"lifetime": LONGEST_WAIT + 1},
        {"then": math.inf},
        {"intervals": (math.nan,)},
        {"delay_warning": -1.0},
        {"jitter": 1.0},
    ],
)
def test_a_schedule_refuses_waits_it_cannot_keep(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"give|a wait"):
        Schedule(**settings)  # type: ignore[arg-type]


def test_a_relay_config_refuses_a_dns_timeout_that_cannot_work() -> None:
    for timeout in (0.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="dns_timeout"):
            RelayConfig(hostname="relay.test", dns_timeout=timeout)


# --- 5. listen addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "host", "extra"),
    [
        ("--listen", "999.1.1.1", []),  # once "listening beyond loopback needs --domain"
        ("--listen", "999.1.1.1", ["--domain", "example.org"]),  # once 69, unnamed
        ("--listen", "1.2.3", ["--domain", "example.org"]),
        ("--listen", "bad_host!", ["--domain", "example.org"]),
        ("--tls-listen", "256.0.0.1", ["--domain", "example.org"]),
    ],
    ids=["999-octet", "999-octet-with-domain", "three-octets", "underscore", "tls-listen"],
)
def test_a_listen_address_that_is_no_address_is_exit_64_naming_it(
    tmp_path: Path, option: str, host: str, extra: list[str]
) -> None:
    line = refused(tmp_path, EX_USAGE, option, f"{host}:2525", *extra)
    assert option in line
    assert repr(host) in line


def test_an_http_address_that_is_no_address_is_exit_64_naming_it(tmp_path: Path) -> None:
    line = refused(tmp_path, EX_USAGE, "--http", "999.1.1.1:8025")
    assert "--http" in line
    assert "'999.1.1.1'" in line


# --- 6. every option is checked before anything listens --------------------------------------


def test_a_bad_max_age_is_refused_before_listening(tmp_path: Path) -> None:
    """Once "listening on ..." came first, then the 64 (retention was read after start)."""
    assert "--max-age" in refused(tmp_path, EX_USAGE, "--max-age", "bogus")


HTTPS_BOTH = ["--http-tls-cert", NOT_PEM_FILE, "--http-tls-key", NOT_PEM_FILE]
RELEASE_ALONE = ["--release-to", "smtp.example.net", "--release-user", "u"]
LATE_OPTIONS = {
    "http auth file": (EX_CONFIG, ["--http-auth-file", "/nonexistent/users"], "/nonexistent/users"),
    "https certificate": (EX_CONFIG, HTTPS_BOTH, "HTTPS"),
    "https key missing": (EX_USAGE, ["--http-tls-cert", NOT_PEM_FILE], "--http-tls-key"),
    "release port": (EX_USAGE, ["--release-to", "smtp.example.net:99999"], "65535"),
    "release user alone": (EX_USAGE, RELEASE_ALONE, "--release-user"),
    "inbox rule": (EX_USAGE, ["--inbox", "no-equals-sign"], "--inbox"),
    "relay retry": (EX_USAGE, ["--relay", "--retry", "bogus"], "--retry"),
    "relay route": (EX_USAGE, ["--relay", "--route", "example.net"], "example.net"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("code", "options", "says"), LATE_OPTIONS.values(), ids=LATE_OPTIONS.keys()
)
def test_an_inbox_or_relay_option_is_refused_before_listening(
    tmp_path: Path, not_pem: str, code: int, options: list[str], says: str
) -> None:
    """The SMTP and HTTP ports are both taken: any listener would have been a 69."""
    given = [not_pem if value == NOT_PEM_FILE else value for value in options]
    with taken_port() as http:
        line = refused(tmp_path, code, "--http", f"{LOOPBACK}:{http}", *given)
    assert says in line


# --- 7. relay options without --relay -------------------------------------------------------

# One valid value for each relay option: without --relay every one is a usage error.
RELAY_ONLY = {
    "--relay-domain": "example.net",
    "--route": "example.net=127.0.0.1:25",
    "--relay-host": "smtp.example.net:587",
    "--relay-host-tls": "starttls",
    "--relay-user": "alice",
    "--relay-password-env": "PATH",
    "--relay-password-file": "/nonexistent",
    "--require-tls": "example.net",
    "--relay-ca-file": "CA",
    "--retry": "1m,5m",
    "--max-lifetime": "5d",
    "--delay-warning": "4h",
    "--max-received": "50",
    "--per-destination": "10",
    "--max-deliveries": "100",
    "--dns-server": "127.0.0.1:53",
    "--dns-timeout": "5s",
    "--mx-port": "25",
}


def test_the_relay_only_cases_cover_every_relay_option() -> None:
    serve_command = main.commands["serve"]
    relay_options = {
        param.opts[0] for param in serve_command.params if isinstance(param, RelayOption)
    }
    assert relay_options == set(RELAY_ONLY)


@pytest.mark.parametrize(("option", "value"), RELAY_ONLY.items(), ids=RELAY_ONLY.keys())
def test_a_relay_option_without_relay_is_exit_64(
    tmp_path: Path, not_pem: str, option: str, value: str
) -> None:
    """Once --retry bogus, --relay-ca-file, --mx-port... started a server that ignored them."""
    line = refused(tmp_path, EX_USAGE, option, not_pem if value == "CA" else value)
    assert f"{option} is for relaying: add --relay" in line


# --- 8. domains, mailboxes, inbox names ------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        ["--domain", "not a domain"],
        ["--domain", ""],
        ["--domain", "example.org\r\nx"],
        ["--relay", "--relay-domain", "not a domain"],
        ["--relay", "--require-tls", "a b"],
    ],
    ids=repr,
)
def test_a_domain_that_is_not_a_domain_is_exit_64(tmp_path: Path, options: list[str]) -> None:
    line = refused(tmp_path, EX_USAGE, *options)
    assert options[-2] in line
    assert "give a domain" in line


@pytest.mark.parametrize("mailbox", ["not an address", "a@b\r\nx", "", "@example.org"])
def test_a_mailbox_that_is_not_an_address_is_exit_64(tmp_path: Path, mailbox: str) -> None:
    assert "--mailbox" in refused(tmp_path, EX_USAGE, "--mailbox", mailbox)


@pytest.mark.parametrize("rule", ["a\r\nb=*@example.org", "a\nb=*@x", "a=auth:u\x1b"])
def test_an_inbox_rule_with_a_control_character_is_exit_64(tmp_path: Path, rule: str) -> None:
    assert "--inbox" in refused(tmp_path, EX_USAGE, "--inbox", rule)


RELAY_HOST = ["--relay", "--relay-host", "smtp.example.net:587", "--relay-host-tls", "starttls"]
RELEASE_TO = ["--http", "HTTP", "--release-to", "smtp.example.net:25"]
CRLF_USER = "a\r\nb"


@pytest.mark.parametrize(
    "options",
    [
        [*RELAY_HOST, "--relay-user", CRLF_USER, "--relay-password-env", "PATH"],
        [*RELEASE_TO, "--release-user", CRLF_USER, "--release-password-env", "PATH"],
    ],
    ids=["relay", "release"],
)
def test_a_user_name_with_a_control_character_is_exit_64(
    tmp_path: Path, options: list[str]
) -> None:
    """It would go into AUTH: a line break there would end the command early."""
    with taken_port() as http:
        given = [f"{LOOPBACK}:{http}" if value == "HTTP" else value for value in options]
        assert "user" in refused(tmp_path, EX_USAGE, *given)
