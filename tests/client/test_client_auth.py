"""AUTH: the SASL mechanisms on their own, then CRAM-MD5 and XOAUTH2 against aiosmtpd.

The mechanisms of ``smtpx.client._auth`` are generators with no I/O, so their
answers are checked against the RFCs' own examples first. Then a server: aiosmtpd
has PLAIN and LOGIN built in and lets its handler add others as ``auth_<NAME>``
methods (``@auth_mechanism("CRAM-MD5")`` for a name with a dash), which send 334
challenges with ``server.challenge_auth()`` and return an ``AuthResult``. The
handler here implements CRAM-MD5 (RFC 2195, checking the HMAC against the
password) and XOAUTH2 (a bearer token; a bad one gets the 334 JSON error, then
535). Each server test runs with the blocking ``Client`` and the ``AsyncClient``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, auth_mechanism
from tests.client.drivers import KINDS, Driver, Sender, drive, sent_verbs
from tests.peers import AUTH_PASSWORD, AUTH_USER, LOOPBACK, MX_HOSTNAME, STARTUP_TIMEOUT, free_port

from smtpx.client import AuthFailed, PermanentFailure, _auth
from smtpx.protocol import Extensions

SENDER = "alice@example.com"
RECIPIENT = "bob@example.org"
MESSAGE = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: sasl\r\n\r\nhi\r\n"
TOKEN = "ya29.a0-test-bearer-token"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- the mechanisms, without a server ----------------------------------------------------


def test_plain_is_one_initial_response() -> None:
    # RFC 4616 §2: [authzid] NUL authcid NUL passwd; RFC 4954 §4 lets it go with AUTH.
    exchange = _auth.MECHANISMS["PLAIN"]("tim", "tanstaaftanstaaf")
    assert next(exchange) == b64("\0tim\0tanstaaftanstaaf")
    with pytest.raises(StopIteration):
        exchange.send("")  # nothing more to say: the client then cancels with "*"


def test_login_answers_username_then_password() -> None:
    exchange = _auth.MECHANISMS["LOGIN"]("tim", "tanstaaftanstaaf")
    assert next(exchange) is None  # no initial response: "AUTH LOGIN" alone
    assert exchange.send(b64("Username:")) == b64("tim")
    assert exchange.send(b64("Password:")) == b64("tanstaaftanstaaf")
    with pytest.raises(StopIteration):
        exchange.send(b64("Password:"))


def test_cram_md5_answers_rfc_2195s_example() -> None:
    # RFC 2195 §2, the example exchange, byte for byte.
    exchange = _auth.MECHANISMS["CRAM-MD5"]("tim", "tanstaaftanstaaf")
    assert next(exchange) is None
    challenge = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
    assert base64.b64decode(challenge) == b"<1896.697170952@postoffice.reston.mci.net>"
    answer = exchange.send(challenge)
    assert answer == "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    assert base64.b64decode(answer) == b"tim b913a602c7eda7a495b4e6e7334d3890"


def test_xoauth2_initial_response_and_its_answer_to_an_error() -> None:
    # Google's and Microsoft's format: user=U ^A auth=Bearer T ^A ^A, in base64.
    exchange = _auth.MECHANISMS["XOAUTH2"]("alice@example.com", "tok")
    initial = next(exchange)
    assert initial is not None
    assert base64.b64decode(initial) == b"user=alice@example.com\x01auth=Bearer tok\x01\x01"
    # A 334 with a JSON error is answered with an empty line; the server then says 535.
    assert exchange.send(b64('{"status":"401","schemes":"bearer"}')) == ""


@pytest.mark.parametrize(
    ("offered", "wanted", "chosen"),
    [
        pytest.param(("LOGIN", "PLAIN", "CRAM-MD5"), None, "CRAM-MD5", id="cram-md5-first"),
        pytest.param(("LOGIN", "PLAIN"), None, "PLAIN", id="plain-over-login"),
        pytest.param(("LOGIN",), None, "LOGIN", id="login-last"),
        pytest.param(("XOAUTH2", "LOGIN"), None, "LOGIN", id="xoauth2-never-unasked"),
        pytest.param(("XOAUTH2",), None, None, id="only-xoauth2-unasked"),
        pytest.param(("GSSAPI", "NTLM"), None, None, id="nothing-known"),
        pytest.param((), None, None, id="nothing-offered"),
        pytest.param(("XOAUTH2", "PLAIN"), "XOAUTH2", "XOAUTH2", id="xoauth2-asked"),
        pytest.param(("CRAM-MD5", "PLAIN"), "LOGIN", None, id="asked-not-offered"),
        pytest.param(("CRAM-MD5", "LOGIN"), "login", "LOGIN", id="asked-lower-case"),
        pytest.param(("CRAM-MD5", "PLAIN"), "Cram-Md5", "CRAM-MD5", id="asked-mixed-case"),
    ],
)
def test_choose(offered: tuple[str, ...], wanted: str | None, chosen: str | None) -> None:
    assert _auth.choose(offered, wanted) == chosen


def test_choose_reads_a_lower_case_ehlo_line() -> None:
    # The offered names come from the EHLO reply, which upper-cases them.
    offered = Extensions.parse(["auth login plain cram-md5"]).auth
    assert offered == ("LOGIN", "PLAIN", "CRAM-MD5")
    assert _auth.choose(offered, None) == "CRAM-MD5"
    assert _auth.choose(offered, "plain") == "PLAIN"


# --- a server with CRAM-MD5 and XOAUTH2: aiosmtpd and a handler --------------------------


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    auth_data: object


@dataclass(frozen=True)
class Authenticated:
    """What a successful AUTH leaves in the session (``AuthResult.auth_data``)."""

    mechanism: str
    login: str


@dataclass
class SaslHandler:
    """CRAM-MD5 and XOAUTH2 for alice (password AUTH_PASSWORD, token TOKEN); records mail.

    GSSAPI is here only to be offered: it always fails.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[Received] = field(default_factory=list)
    # What the client answered to each challenge, decoded; None for "*".
    answers: list[bytes | None] = field(default_factory=list)

    async def _challenge(self, server: SMTP, challenge: str) -> bytes | None:
        answer = await server.challenge_auth(challenge)
        decoded = answer if isinstance(answer, bytes) else None
        with self.lock:
            self.answers.append(decoded)
        return decoded

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        if len(args) != 1:  # RFC 2195: no initial response
            await server.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{threading.get_ident()}.4242@{MX_HOSTNAME}>"
        answer = await self._challenge(server, challenge)
        if answer is None:  # "*" or not base64: aiosmtpd has replied 501
            return AuthResult(success=False, handled=True)
        user, _, digest = answer.decode("utf-8", "replace").rpartition(" ")
        expected = hmac.new(AUTH_PASSWORD.encode(), challenge.encode(), hashlib.md5).hexdigest()
        if user == AUTH_USER and hmac.compare_digest(digest, expected):
            return AuthResult(success=True, auth_data=Authenticated("CRAM-MD5", user))
        return AuthResult(success=False, handled=False)  # 535 5.7.8

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        if len(args) == 2:
            initial = base64.b64decode(args[1])
        else:
            answer = await self._challenge(server, "")
            if answer is None:
                return AuthResult(success=False, handled=True)
            initial = answer
        fields = dict(
            part.split("=", 1) for part in initial.decode("utf-8", "replace").split("\x01") if part
        )
        if fields.get("user") == AUTH_USER and fields.get("auth") == f"Bearer {TOKEN}":
            return AuthResult(success=True, auth_data=Authenticated("XOAUTH2", AUTH_USER))
        # Google's way: a 334 with a JSON error, answered by an empty line, then 535.
        error = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
        answer = await self._challenge(server, json.dumps(error))
        if answer is None:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Invalid credentials")

    async def auth_GSSAPI(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        return AuthResult(success=False, handled=False)

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert envelope.mail_from is not None
        record = Received(envelope.mail_from, tuple(envelope.rcpt_tos), session.auth_data)
        with self.lock:
            self.received.append(record)
        return "250 2.0.0 OK"


def _plain_and_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    """aiosmtpd's built-in PLAIN and LOGIN: alice and her password."""
    if isinstance(auth_data, LoginPassword) and auth_data == (
        AUTH_USER.encode(),
        AUTH_PASSWORD.encode(),
    ):
        return AuthResult(success=True, auth_data=Authenticated(mechanism, AUTH_USER))
    return AuthResult(success=False, handled=False)


@dataclass
class SaslServer:
    host: str
    port: int
    handler: SaslHandler

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)


KNOWN = frozenset({"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "GSSAPI"})
DEFAULT_OFFER = ("CRAM-MD5", "PLAIN", "XOAUTH2")


class StartSasl(Protocol):
    def __call__(self, *offered: str) -> SaslServer: ...


@pytest.fixture
def sasl_server() -> Iterator[StartSasl]:
    """``start(*mechanisms)``: aiosmtpd offering AUTH ``mechanisms`` in clear; stopped at teardown.

    Without arguments it offers CRAM-MD5, PLAIN and XOAUTH2.
    """
    started: list[Controller] = []

    def start(*offered: str) -> SaslServer:
        handler = SaslHandler()
        port = free_port()
        controller = Controller(
            handler,
            hostname=LOOPBACK,
            port=port,
            ready_timeout=STARTUP_TIMEOUT,
            server_hostname=MX_HOSTNAME,
            auth_require_tls=False,
            auth_exclude_mechanism=sorted(KNOWN - set(offered or DEFAULT_OFFER)),
            authenticator=_plain_and_login,
        )
        controller.start()
        started.append(controller)
        return SaslServer(LOOPBACK, port, handler)

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(params=KINDS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    yield from drive(request.param)


def client(driver: Driver, server: SaslServer, secret: str, mechanism: str | None = None) -> Sender:
    return driver.sender(
        server.host,
        server.port,
        tls="none",
        username=AUTH_USER,
        password=secret,
        auth_mechanism=mechanism,
        allow_auth_without_tls=True,
    )


def assert_no_secret(transcript: list[str], secret: str) -> None:
    """Neither the secret nor any base64 form the mechanisms put it in."""
    forms = [
        secret,
        b64(secret),
        b64(f"\0{AUTH_USER}\0{secret}"),
        b64(f"user={AUTH_USER}\x01auth=Bearer {secret}\x01\x01"),
    ]
    text = "\n".join(transcript)
    assert [form for form in forms if form in text] == []


def auth_lines(transcript: list[str]) -> list[str]:
    """The AUTH exchange as the transcript shows it: from "-> AUTH" to the final reply."""
    start = next(i for i, line in enumerate(transcript) if line.startswith("-> AUTH"))
    end = next(
        i
        for i, line in enumerate(transcript[start:], start)
        if line.startswith("<- ") and not line.startswith("<- 334")
    )
    return transcript[start : end + 1]


def test_server_offers_what_the_tests_expect(driver: Driver, sasl_server: StartSasl) -> None:
    server = sasl_server()
    with client(driver, server, AUTH_PASSWORD, "PLAIN") as smtp:
        assert smtp.extensions.auth == ("CRAM-MD5", "PLAIN", "XOAUTH2")


@pytest.mark.parametrize("asked", ["CRAM-MD5", "cram-md5"])
def test_cram_md5_authenticates_and_sends(
    driver: Driver, sasl_server: StartSasl, asked: str
) -> None:
    server = sasl_server()
    smtp = client(driver, server, AUTH_PASSWORD, asked)
    with smtp:
        assert smtp.send_message(MESSAGE, SENDER, [RECIPIENT]).ok
    [received] = server.received
    assert received.auth_data == Authenticated("CRAM-MD5", AUTH_USER)
    assert received.rcpt_tos == (RECIPIENT,)
    lines = auth_lines(smtp.transcript)
    assert lines[0] == "-> AUTH CRAM-MD5"  # RFC 2195: no initial response
    assert lines[1].startswith("<- 334 ")
    assert lines[2:] == ["-> ****", "<- 235 2.7.0 Authentication successful"]
    assert f"** authenticated as {AUTH_USER} with CRAM-MD5" in smtp.transcript
    assert_no_secret(smtp.transcript, AUTH_PASSWORD)
    # The answer itself (user and HMAC) is masked too.
    [answer] = server.handler.answers
    assert answer is not None
    assert base64.b64encode(answer).decode() not in "\n".join(smtp.transcript)


def test_cram_md5_with_a_wrong_password_is_535(driver: Driver, sasl_server: StartSasl) -> None:
    server = sasl_server()
    smtp = client(driver, server, "not-it", "CRAM-MD5")
    with pytest.raises(AuthFailed) as caught:
        smtp.connect()
    assert isinstance(caught.value, PermanentFailure)
    assert caught.value.reply is not None
    assert caught.value.reply.code == 535
    assert "MAIL" not in sent_verbs(smtp.transcript)
    assert_no_secret(smtp.transcript, "not-it")


def test_unasked_the_client_takes_cram_md5_over_plain(
    driver: Driver, sasl_server: StartSasl
) -> None:
    server = sasl_server("PLAIN", "LOGIN", "CRAM-MD5")
    smtp = client(driver, server, AUTH_PASSWORD)
    with smtp:
        assert smtp.extensions.auth is not None
        assert {"PLAIN", "LOGIN", "CRAM-MD5"} == set(smtp.extensions.auth)
        assert smtp.send_message(MESSAGE, SENDER, [RECIPIENT]).ok
    [received] = server.received
    assert received.auth_data == Authenticated("CRAM-MD5", AUTH_USER)
    auth_commands = [line for line in smtp.transcript if line.startswith("-> AUTH")]
    assert auth_commands == ["-> AUTH CRAM-MD5"]
    assert f"** authenticated as {AUTH_USER} with CRAM-MD5" in smtp.transcript
    assert_no_secret(smtp.transcript, AUTH_PASSWORD)


def test_xoauth2_with_the_right_token(driver: Driver, sasl_server: StartSasl) -> None:
    server = sasl_server()
    smtp = client(driver, server, TOKEN, "XOAUTH2")
    with smtp:
        assert smtp.send_message(MESSAGE, SENDER, [RECIPIENT]).ok
    [received] = server.received
    assert received.auth_data == Authenticated("XOAUTH2", AUTH_USER)
    # The initial response goes with AUTH (RFC 4954 §4), masked; no 334 in between.
    assert auth_lines(smtp.transcript) == [
        "-> AUTH XOAUTH2 ****",
        "<- 235 2.7.0 Authentication successful",
    ]
    assert server.handler.answers == []
    assert_no_secret(smtp.transcript, TOKEN)


def test_xoauth2_with_a_wrong_token_is_auth_failed_535(
    driver: Driver, sasl_server: StartSasl
) -> None:
    server = sasl_server()
    smtp = client(driver, server, "expired-token", "XOAUTH2")
    with pytest.raises(AuthFailed) as caught:
        smtp.connect()
    assert caught.value.reply is not None
    assert caught.value.reply.code == 535
    # The JSON error came as a 334, and the client ended the exchange with an empty line.
    assert server.handler.answers == [b""]
    lines = auth_lines(smtp.transcript)
    assert lines[0] == "-> AUTH XOAUTH2 ****"
    assert lines[1].startswith("<- 334 ")
    assert json.loads(base64.b64decode(lines[1][7:]))["status"] == "401"
    assert lines[2:] == ["-> ****", "<- 535 5.7.8 Invalid credentials"]
    assert "MAIL" not in sent_verbs(smtp.transcript)
    assert server.received == []
    assert_no_secret(smtp.transcript, "expired-token")


@pytest.mark.parametrize(
    ("offered", "asked"),
    [
        pytest.param(("CRAM-MD5", "PLAIN"), "LOGIN", id="login"),
        pytest.param(("PLAIN", "LOGIN"), "XOAUTH2", id="xoauth2"),
        pytest.param(("PLAIN", "XOAUTH2"), "CRAM-MD5", id="cram-md5"),
        pytest.param(("PLAIN",), "SCRAM-SHA-256", id="unknown-to-both"),
    ],
)
def test_a_mechanism_not_offered_fails_before_any_auth(
    driver: Driver, sasl_server: StartSasl, offered: tuple[str, ...], asked: str
) -> None:
    server = sasl_server(*offered)
    smtp = client(driver, server, AUTH_PASSWORD, asked)
    with pytest.raises(AuthFailed, match=asked) as caught:
        smtp.connect()
    assert caught.value.reply is None
    assert sent_verbs(smtp.transcript) == ["EHLO"]
    assert server.received == []


def test_only_xoauth2_offered_and_none_asked_fails_before_any_auth(
    driver: Driver, sasl_server: StartSasl
) -> None:
    # XOAUTH2 takes a token, not a password: smtpx never picks it unasked.
    server = sasl_server("XOAUTH2")
    smtp = client(driver, server, AUTH_PASSWORD)
    with pytest.raises(AuthFailed, match="XOAUTH2"):
        smtp.connect()
    assert sent_verbs(smtp.transcript) == ["EHLO"]


def test_asking_for_an_offered_mechanism_smtpx_lacks_is_auth_failed(
    driver: Driver, sasl_server: StartSasl
) -> None:
    # The server offers GSSAPI and the caller asks for it: smtpx cannot do it, and
    # must say so as an AuthFailed (an SMTPError), not crash with a KeyError.
    server = sasl_server("GSSAPI", "PLAIN")
    smtp = client(driver, server, AUTH_PASSWORD, "GSSAPI")
    with pytest.raises(AuthFailed, match="GSSAPI"):
        smtp.connect()
    assert sent_verbs(smtp.transcript) == ["EHLO"]
