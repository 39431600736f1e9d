"""`smtpx passwd` and `smtpx serve --auth-file`, `--allow-insecure-auth`, `--mailbox`:
the console scripts in subprocesses, with smtplib as the client.

The users file is written by ``smtpx passwd`` (a scrypt hash, or the password in
clear with --clear, for CRAM-MD5); ``smtpx serve`` reads it at start and refuses
to start on a file it cannot read, in one line with exit 78 (EX_CONFIG).
"""

from __future__ import annotations

import smtplib
import subprocess
from pathlib import Path

import pytest
from tests.cli_command import SCRIPT, one_error_line, smtpx
from tests.peers import LOOPBACK, TlsCerts, free_port
from tests.server.receiver import MESSAGE, SENDER
from tests.server.test_server_serve import (
    EX_CONFIG,
    EX_USAGE,
    StartServe,
    serve,  # noqa: F401 - the fixture
    stored_in,
)

from smtpx.server import AuthFileError, PasswordClaim, Users, Verdict

EX_DATAERR = 65
FAR = "dave@elsewhere.net"


def passwd(users: Path, user: str, password: str, *options: str) -> str:
    run = smtpx("passwd", str(users), user, *options, stdin=password + "\n")
    assert run.code == 0, run
    return run.stderr


def test_passwd_adds_then_changes_a_user_and_keeps_the_others(tmp_path: Path) -> None:
    users = tmp_path / "users"
    assert "added alice" in passwd(users, "alice", "first")
    assert "added carol" in passwd(users, "carol", "clear-one", "--clear")
    first = users.read_text()
    assert "changed alice" in passwd(users, "alice", "second")
    lines = users.read_text().splitlines()
    assert sorted(line.split(":")[0] for line in lines) == ["alice", "carol"]
    assert "carol:{PLAIN}clear-one" in lines
    alice = next(line for line in lines if line.startswith("alice:"))
    assert alice.startswith("alice:$scrypt$ln=14,r=8,p=1$")
    assert alice not in first  # a new salt and hash
    assert "second" not in users.read_text()
    assert users.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("args", "stdin", "code"),
    [
        (["alice"], "\n", EX_DATAERR),
        (["al:ice"], "pw\n", EX_USAGE),
        # str.splitlines() splits at these: the file would not read back.
        (["a\x0bb"], "pw\n", EX_USAGE),
        (["a\u2028b"], "pw\n", EX_USAGE),
        (["alice", "--clear"], "pa\rss\n", EX_DATAERR),
        (["alice", "--clear"], "pa\x1css\n", EX_DATAERR),
    ],
    ids=["empty-password", "colon-in-name", "vt-in-name", "u2028-in-name", "cr", "fs"],
)
def test_passwd_refuses(tmp_path: Path, args: list[str], stdin: str, code: int) -> None:
    run = smtpx("passwd", str(tmp_path / "users"), *args, stdin=stdin)
    assert run.code == code, run
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "users").exists()


def test_passwd_refuses_a_password_that_is_not_utf8(tmp_path: Path) -> None:
    users = tmp_path / "users"
    done = subprocess.run(
        [str(SCRIPT), "passwd", str(users), "alice"],
        input=b"\xff\xfe\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == EX_DATAERR, done.stderr
    assert done.stderr.decode().splitlines() == ["smtpx passwd: the password is not valid UTF-8"]
    assert not users.exists()


def test_a_hashed_password_may_hold_any_character_and_the_file_reads_back(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users"
    passwd(users, "alice", "pa\rss\x0bw\u2028rd")
    passwd(users, "bob", "second")  # reads the file back: it must still parse
    assert Users.load(users).check(PasswordClaim("alice", "pa\rss\x0bw\u2028rd")) is (
        Verdict.ACCEPTED
    )


def test_a_users_file_naming_a_user_twice_is_refused(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("alice:{PLAIN}one\nbob:{PLAIN}x\nalice:{PLAIN}two\n")
    with pytest.raises(AuthFileError, match="line 3: alice is already given on line 1"):
        Users.load(users)
    run = smtpx("passwd", str(users), "carol", stdin="pw\n")
    assert run.code == EX_CONFIG, run
    assert "line 3: alice is already given on line 1" in one_error_line(run, "smtpx passwd")


def test_passwd_never_rewrites_a_file_it_cannot_read(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("alice:not-a-secret\n")
    run = smtpx("passwd", str(users), "bob", stdin="pw\n")
    assert run.code == EX_CONFIG, run
    assert "line 1" in one_error_line(run, "smtpx passwd")
    assert users.read_text() == "alice:not-a-secret\n"


def test_serve_with_an_auth_file_lets_a_user_relay(
    serve: StartServe,  # noqa: F811 - the fixture
    tmp_path: Path,
    tls_certs: TlsCerts,
) -> None:
    users = tmp_path / "users"
    passwd(users, "alice", "wonderland")
    data_dir = tmp_path / "data"
    server = serve(data_dir, "--domain", "example.org", "--auth-file", str(users),
                   "--tls-cert", str(tls_certs.cert_chain_pem),
                   "--tls-key", str(tls_certs.key_pem))  # fmt: skip
    with smtplib.SMTP(LOOPBACK, server.port, timeout=10) as client:
        client.starttls(context=tls_certs.client_ssl_context())
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail(SENDER, [FAR], MESSAGE)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("alice", "wrong")
        assert client.login("alice", "wonderland")[0] == 235
        assert client.sendmail(SENDER, [FAR], MESSAGE) == {}
    assert server.terminate() == 0
    ((stored, raw),) = stored_in(data_dir)
    assert stored.origin.auth_user == "alice"
    assert b" with ESMTPSA id " in raw


def test_serve_allow_insecure_auth_and_mailboxes(
    serve: StartServe,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    users = tmp_path / "users"
    passwd(users, "carol", "secret", "--clear")
    server = serve(tmp_path / "data", "--auth-file", str(users), "--allow-insecure-auth",
                   "--domain", "example.org", "--mailbox", "Bob@example.org")  # fmt: skip
    with smtplib.SMTP(LOOPBACK, server.port, timeout=10) as client:
        assert client.verify("bob@example.org") == (250, b"2.1.5 <bob@example.org>")
        assert client.verify("eve@example.org")[0] == 550
        assert client.login("carol", "secret")[0] == 235  # CRAM-MD5, smtplib's first choice
    assert server.terminate() == 0


def test_auth_file_without_tls_is_a_usage_error(tmp_path: Path) -> None:
    users = tmp_path / "users"
    passwd(users, "alice", "pw")
    run = smtpx("serve", "--listen", f"{LOOPBACK}:{free_port()}", "--data-dir",
                str(tmp_path / "d"), "--auth-file", str(users))  # fmt: skip
    assert run.code == EX_USAGE, run
    assert "--allow-insecure-auth" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [("alice:$scrypt$broken\n", "line 1"), (None, "cannot read")],
    ids=["malformed", "missing"],
)
def test_bad_auth_file_is_exit_78_in_one_line(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    users = tmp_path / "users"
    if content is not None:
        users.write_text(content)
    run = smtpx("serve", "--listen", f"{LOOPBACK}:{free_port()}", "--data-dir",
                str(tmp_path / "d"), "--auth-file", str(users),
                "--allow-insecure-auth")  # fmt: skip
    assert run.code == EX_CONFIG, run
    assert expected in one_error_line(run, "smtpx serve")
