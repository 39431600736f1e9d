"""AUTH on the receiver (RFC 4954), against real clients and by hand.

The server takes mail for example.org only, so a recipient elsewhere is relaying:
refused (550 5.7.1) unless the client authenticated. Users: ``alice`` with a
scrypt hash (PLAIN and LOGIN only), ``carol`` with her password in clear (so
CRAM-MD5 too). Every client here authenticates inside STARTTLS unless the test
is about AUTH without TLS (538, or allowed explicitly).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest
from tests.peers import TlsCerts, require_binary
from tests.server.receiver import (
    MESSAGE,
    SENDER,
    StoringServer,
    Wire,
    split_received,
    storing_server,
)
from tests.server.test_server_clients import CURL, MSMTP, STARTTLS_RUN_TIMEOUT, SWAKS, run

from smtpx.client import Client
from smtpx.server import ServerConfig, Users, Verdict, hash_password

ALICE, ALICE_PASSWORD = "alice", "wonderland"
CAROL, CAROL_PASSWORD = "carol", "cram-secret"
FAR = "dave@elsewhere.net"  # not a local domain: relaying
USERS = Users.from_lines(
    [f"{ALICE}:{hash_password(ALICE_PASSWORD)}", f"{CAROL}:{{PLAIN}}{CAROL_PASSWORD}"]
)


def config(tls_certs: TlsCerts, **changes: object) -> ServerConfig:
    settings: dict[str, object] = {
        "hostname": "mx.test",
        "tls": tls_certs.server_ssl_context(),
        "domains": frozenset({"example.org"}),
        "users": USERS,
        "auth_failure_delay": 0.0,
    }
    settings.update(changes)
    return ServerConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
def mx(tmp_path: Path, tls_certs: TlsCerts) -> Iterator[StoringServer]:
    with storing_server(tmp_path / "store", config(tls_certs)) as server:
        yield server


def smtplib_tls(mx: StoringServer, tls_certs: TlsCerts) -> smtplib.SMTP:
    client = smtplib.SMTP(mx.host, mx.port, local_hostname="client.example", timeout=3)
    client.starttls(context=tls_certs.client_ssl_context())
    client.ehlo()
    return client


def relayed(mx: StoringServer, user: str) -> None:
    """The one stored message went to FAR, from a session authenticated as ``user``."""
    stored, raw = mx.only()
    assert [r.address for r in stored.envelope.recipients] == [FAR]
    assert stored.origin.auth_user == user
    header, rest = split_received(raw)
    assert " with ESMTPSA id " in header, header
    assert rest == MESSAGE


# --- Python clients --------------------------------------------------------------------------


def test_ehlo_offers_auth_with_cram_md5_because_a_user_has_a_clear_password(
    mx: StoringServer,
) -> None:
    with Wire(mx.host, mx.port) as wire:
        ehlo = wire.hello()
    assert "AUTH PLAIN LOGIN CRAM-MD5" in ehlo.lines


@pytest.mark.parametrize(
    ("mechanism", "user", "password"),
    [("PLAIN", ALICE, ALICE_PASSWORD), ("LOGIN", ALICE, ALICE_PASSWORD),
     ("CRAM-MD5", CAROL, CAROL_PASSWORD), ("PLAIN", CAROL, CAROL_PASSWORD)],
)  # fmt: skip
def test_smtplib_authenticates_and_may_then_relay(
    mx: StoringServer, tls_certs: TlsCerts, mechanism: str, user: str, password: str
) -> None:
    with smtplib_tls(mx, tls_certs) as client:
        client.user, client.password = user, password
        method = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login}
        authobject = method.get(mechanism, client.auth_cram_md5)
        code, text = client.auth(mechanism, authobject, initial_response_ok=False)
        assert (code, text) == (235, b"2.7.0 Authentication successful")
        client.sendmail(SENDER, [FAR], MESSAGE)
    relayed(mx, user)


def test_plain_with_an_initial_response(mx: StoringServer, tls_certs: TlsCerts) -> None:
    with smtplib_tls(mx, tls_certs) as client:
        client.user, client.password = ALICE, ALICE_PASSWORD
        assert client.auth("PLAIN", client.auth_plain)[0] == 235


def test_without_auth_relaying_is_refused(mx: StoringServer, tls_certs: TlsCerts) -> None:
    with (
        smtplib_tls(mx, tls_certs) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        client.sendmail(SENDER, [FAR], MESSAGE)
    assert refused.value.recipients[FAR] == (550, b"5.7.1 Relaying denied")
    assert mx.count() == 0


def test_smtplib_login_picks_plain_after_cram_md5_is_too_weak_for_a_hashed_user(
    mx: StoringServer, tls_certs: TlsCerts
) -> None:
    """smtplib tries CRAM-MD5 first; alice's hash cannot check it (534), PLAIN can."""
    with smtplib_tls(mx, tls_certs) as client:
        client.user, client.password = ALICE, ALICE_PASSWORD
        with pytest.raises(smtplib.SMTPAuthenticationError) as weak:
            client.auth("CRAM-MD5", client.auth_cram_md5)
        assert weak.value.args == (534, b"5.7.9 Authentication mechanism is too weak for this user")
        assert client.login(ALICE, ALICE_PASSWORD)[0] == 235


def test_aiosmtplib_login(mx: StoringServer, tls_certs: TlsCerts) -> None:
    async def send() -> None:
        client = aiosmtplib.SMTP(
            hostname=mx.host, port=mx.port, tls_context=tls_certs.client_ssl_context(),
            start_tls=True, timeout=3,
        )  # fmt: skip
        async with client:
            await client.login(CAROL, CAROL_PASSWORD)
            await client.sendmail(SENDER, [FAR], MESSAGE)

    mx.run(send())
    relayed(mx, CAROL)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", None])
def test_smtpx_client(mx: StoringServer, tls_certs: TlsCerts, mechanism: str | None) -> None:
    with Client(mx.host, mx.port, tls="starttls", ca_file=str(tls_certs.ca_pem), timeout=3,
                username=CAROL, password=CAROL_PASSWORD, auth_mechanism=mechanism,
                local_hostname="client.example") as client:  # fmt: skip
        client.send_message(MESSAGE, sender=SENDER, recipients=[FAR])
    relayed(mx, CAROL)


# --- AUTH refused: the codes of RFC 4954 §6 ----------------------------------------------


def test_auth_before_tls_is_538(mx: StoringServer) -> None:
    client = smtplib.SMTP(mx.host, mx.port, timeout=3)
    with client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login(ALICE, ALICE_PASSWORD)
    expected = b"5.7.11 Encryption required for requested authentication mechanism"
    assert refused.value.args == (538, expected)


def test_auth_without_tls_when_allowed(tmp_path: Path, tls_certs: TlsCerts) -> None:
    allowed = config(tls_certs, tls=None, allow_insecure_auth=True)
    with storing_server(tmp_path / "store", allowed) as mx:
        with smtplib.SMTP(mx.host, mx.port, timeout=3) as client:
            assert client.login(CAROL, CAROL_PASSWORD)[0] == 235
            client.sendmail(SENDER, [FAR], MESSAGE)
        stored, raw = mx.only()
        assert stored.origin.auth_user == CAROL
        assert " with ESMTPA id " in split_received(raw)[0]


def tls_wire(mx: StoringServer, tls_certs: TlsCerts) -> Wire:
    wire = Wire(mx.host, mx.port)
    wire.hello()
    assert wire.command("STARTTLS").code == 220
    wire.start_tls(tls_certs.client_ssl_context())
    assert wire.command("EHLO client.example").code == 250
    return wire


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def plain(user: str, password: str) -> str:
    """AUTH PLAIN with its initial response (RFC 4616 §2: NUL user NUL password)."""
    return "AUTH PLAIN " + b64("\0" + user + "\0" + password)


def test_wrong_password_is_535_and_the_third_failure_closes(
    mx: StoringServer, tls_certs: TlsCerts
) -> None:
    with tls_wire(mx, tls_certs) as wire:
        for _ in range(2):
            answer = wire.command(plain(ALICE, "wrong"))
            assert (answer.code, answer.status) == (535, "5.7.8")
        # An unknown user looks the same as a wrong password.
        answer = wire.command(plain("nobody", ALICE_PASSWORD))
        assert (answer.code, answer.status) == (421, "4.7.0")
        assert wire.closed()


def test_login_exchange_by_hand(mx: StoringServer, tls_certs: TlsCerts) -> None:
    with tls_wire(mx, tls_certs) as wire:
        assert wire.command("AUTH LOGIN").lines == (b64("Username:"),)
        assert wire.command(b64(ALICE)).lines == (b64("Password:"),)
        assert wire.command(b64(ALICE_PASSWORD)).code == 235
        # RFC 4954 §4: once authenticated, AUTH is out of sequence.
        assert wire.command("AUTH PLAIN").code == 503
        assert wire.command("MAIL FROM:<alice@example.org> AUTH=<>").code == 250
        assert wire.command(f"RCPT TO:<{FAR}>").code == 250


def test_login_with_the_user_name_as_initial_response(
    mx: StoringServer, tls_certs: TlsCerts
) -> None:
    with tls_wire(mx, tls_certs) as wire:
        assert wire.command(f"AUTH LOGIN {b64(CAROL)}").lines == (b64("Password:"),)
        assert wire.command(b64(CAROL_PASSWORD)).code == 235


def test_cram_md5_by_hand_and_a_wrong_digest(mx: StoringServer, tls_certs: TlsCerts) -> None:
    with tls_wire(mx, tls_certs) as wire:
        challenge = base64.b64decode(wire.command("AUTH CRAM-MD5").lines[0])
        assert re.fullmatch(rb"<\d+\.\d+@mx\.test>", challenge), challenge
        wrong = hmac.new(b"not it", challenge, hashlib.md5).hexdigest()
        assert wire.command(b64(f"{CAROL} {wrong}")).code == 535
        challenge = base64.b64decode(wire.command("AUTH CRAM-MD5").lines[0])
        right = hmac.new(CAROL_PASSWORD.encode(), challenge, hashlib.md5).hexdigest()
        assert wire.command(b64(f"{CAROL} {right}")).code == 235


@pytest.mark.parametrize(
    ("commands", "code", "status"),
    [
        (["AUTH DIGEST-MD5"], 504, "5.5.4"),
        (["AUTH XOAUTH2 dXNlcg=="], 504, "5.5.4"),
        (["AUTH LOGIN", "*"], 501, "5.7.0"),  # cancelled (RFC 4954 §4)
        (["AUTH LOGIN", "not base64!"], 501, "5.5.2"),
        ([f"AUTH PLAIN {b64('no nul bytes')}"], 501, "5.5.2"),
        (["AUTH PLAIN", b64("\0only-user")], 501, "5.5.2"),
        ([f"AUTH CRAM-MD5 {b64('early')}"], 501, "5.5.2"),
        (["AUTH CRAM-MD5", b64("carol short")], 501, "5.5.2"),
        (["AUTH PLAIN", base64.b64encode(b"\0carol\0\xff").decode()], 501, "5.5.2"),
    ],
    ids=["unknown", "xoauth2", "cancel", "not-base64", "no-nul", "two-fields",
         "cram-initial", "cram-short", "not-utf8"],
)  # fmt: skip
def test_malformed_or_unknown(
    mx: StoringServer, tls_certs: TlsCerts, commands: list[str], code: int, status: str
) -> None:
    with tls_wire(mx, tls_certs) as wire:
        answers = [wire.command(command) for command in commands]
        assert all(answer.code == 334 for answer in answers[:-1]), answers
        assert (answers[-1].code, answers[-1].status) == (code, status)
        # The session goes on: AUTH may be tried again.
        assert wire.command(plain(CAROL, CAROL_PASSWORD)).code == 235


def test_starttls_forgets_an_authentication_made_in_clear(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    """RFC 4954 §4 / RFC 3207 §4.2: after TLS the client must authenticate again."""
    allowed = config(tls_certs, allow_insecure_auth=True)
    with storing_server(tmp_path / "store", allowed) as mx, Wire(mx.host, mx.port) as wire:
        wire.hello()
        assert wire.command(plain(CAROL, CAROL_PASSWORD)).code == 235
        assert wire.command("STARTTLS").code == 220
        wire.start_tls(tls_certs.client_ssl_context())
        assert wire.command("EHLO client.example").code == 250
        assert wire.command("MAIL FROM:<alice@example.org>").code == 250
        assert wire.command(f"RCPT TO:<{FAR}>").code == 550


# --- command-line clients ---------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_auth(mx: StoringServer, tmp_path: Path, tls_certs: TlsCerts, mechanism: str) -> None:
    require_binary(SWAKS, "swaks")
    data = tmp_path / "swaks.eml"
    data.write_bytes(MESSAGE.removesuffix(b"\r\n"))
    run(SWAKS, "--server", f"{mx.host}:{mx.port}", "--from", SENDER, "--to", FAR,
        "--data", f"@{data}", "--tls", "--tls-verify", "--tls-ca-path", str(tls_certs.ca_pem),
        "--auth", mechanism, "--auth-user", CAROL, "--auth-password", CAROL_PASSWORD,
        "--timeout", "10", timeout=STARTTLS_RUN_TIMEOUT)  # fmt: skip
    relayed(mx, CAROL)


def test_msmtp_auth(mx: StoringServer, tls_certs: TlsCerts, tmp_path: Path) -> None:
    require_binary(MSMTP, "msmtp")
    password_file = tmp_path / "password"
    password_file.write_text(ALICE_PASSWORD)
    run(MSMTP, f"--host={mx.host}", f"--port={mx.port}", "--auth=plain", f"--user={ALICE}",
        f"--passwordeval=cat {password_file}", "--tls=on", "--tls-starttls=on",
        f"--tls-trust-file={tls_certs.ca_pem}", f"--from={SENDER}", "--timeout=3", FAR,
        stdin=MESSAGE, timeout=STARTTLS_RUN_TIMEOUT)  # fmt: skip
    relayed(mx, ALICE)


@pytest.mark.parametrize(
    ("user", "options"),
    [(ALICE, ["--login-options", "AUTH=PLAIN"]), (CAROL, [])],
    ids=["plain", "cram-md5"],  # curl picks CRAM-MD5 when offered, and alice's is a hash
)
def test_curl_auth(
    mx: StoringServer, tls_certs: TlsCerts, tmp_path: Path, user: str, options: list[str]
) -> None:
    require_binary(CURL, "curl")
    password = {ALICE: ALICE_PASSWORD, CAROL: CAROL_PASSWORD}[user]
    message_file = tmp_path / "message.eml"
    message_file.write_bytes(MESSAGE)
    run(CURL, "-sS", "--max-time", "5", f"smtp://localhost:{mx.port}/curl.example",
        "--ssl-reqd", "--cacert", str(tls_certs.ca_pem), "--user", f"{user}:{password}",
        *options, "--mail-from", SENDER, "--mail-rcpt", FAR, "-T", message_file)  # fmt: skip
    relayed(mx, user)


def test_a_failed_login_leaves_the_session_usable(mx: StoringServer, tls_certs: TlsCerts) -> None:
    with smtplib_tls(mx, tls_certs) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.auth("PLAIN", lambda challenge=None: f"\0{ALICE}\0nope")
        assert client.noop()[0] == 250
    assert mx.count() == 0


def test_a_check_that_breaks_answers_451_and_the_session_goes_on(
    tmp_path: Path, tls_certs: TlsCerts
) -> None:
    class Broken(Users):
        def check(self, claim: object) -> Verdict:
            raise MemoryError("scrypt could not get its memory")

    broken = config(tls_certs, users=Broken({}), allow_insecure_auth=True)
    with storing_server(tmp_path / "store", broken) as mx, Wire(mx.host, mx.port) as wire:
        wire.hello()
        answer = wire.command(plain(CAROL, CAROL_PASSWORD))
        assert (answer.code, answer.status) == (451, "4.3.0")
        assert wire.command("NOOP").code == 250
