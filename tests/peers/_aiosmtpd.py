"""The ``aiosmtpd_server`` fixture: an aiosmtpd server that records every envelope.

``start(*, auth, auth_require_tls, tls, require_starttls, smtputf8) ->
AiosmtpdServer``; see :class:`AiosmtpdServer` for what it advertises and
:class:`ReceivedEnvelope` for what it records.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ._ports import AUTH_PASSWORD, AUTH_USER, LOOPBACK, MX_HOSTNAME, STARTUP_TIMEOUT, free_port
from ._tls import TlsCerts


@dataclass(frozen=True)
class ReceivedEnvelope:
    """One transaction as aiosmtpd saw it.

    ``original_content`` is the message as received, dot-unstuffed, CRLFs kept:
    compare it byte for byte. aiosmtpd uppercases ``mail_options`` and
    ``rcpt_options`` and knows only SIZE, BODY=7BIT|8BITMIME and SMTPUTF8 on MAIL
    (555 for anything else) and no RCPT parameter at all (555: so no DSN).
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    original_content: bytes
    mail_options: tuple[str, ...]
    rcpt_options: tuple[str, ...]
    smtp_utf8: bool
    tls: bool
    login: str | None


class _RecordingHandler:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._envelopes: list[ReceivedEnvelope] = []

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert envelope.mail_from is not None
        assert envelope.original_content is not None
        auth = session.auth_data
        record = ReceivedEnvelope(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            original_content=envelope.original_content,
            mail_options=tuple(envelope.mail_options),
            rcpt_options=tuple(envelope.rcpt_options),
            smtp_utf8=envelope.smtp_utf8,
            tls=session.ssl is not None,
            login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
        )
        with self._lock:
            self._envelopes.append(record)
        return "250 2.0.0 Message accepted"

    def envelopes(self) -> list[ReceivedEnvelope]:
        with self._lock:
            return list(self._envelopes)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    """aiosmtpd authenticator: alice/wonderland, by any mechanism that yields a password."""
    if isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        AUTH_USER.encode(),
        AUTH_PASSWORD.encode(),
    ):
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)  # 535 5.7.8


@dataclass
class AiosmtpdServer:
    """An aiosmtpd 1.4 SMTP server on ``host:port``, greeting as mx.example. EHLO::

        250-mx.example  250-SIZE 33554432  250-8BITMIME  [250-SMTPUTF8]
        [250-STARTTLS, before TLS]  [250-AUTH LOGIN PLAIN]  250 HELP

    It does not advertise PIPELINING (though it reads pipelined commands),
    ENHANCEDSTATUSCODES, CHUNKING or DSN; see :class:`ReceivedEnvelope` for the
    parameters it takes. With ``require_starttls``, MAIL before TLS gets ``530 Must
    issue a STARTTLS command first``.
    """

    host: str
    port: int
    controller: Controller
    handler: _RecordingHandler

    @property
    def envelopes(self) -> list[ReceivedEnvelope]:
        """Every transaction accepted so far, in order (complete once the client has its 250)."""
        return self.handler.envelopes()


class StartAiosmtpd(Protocol):
    def __call__(
        self,
        *,
        auth: bool = False,
        auth_require_tls: bool = True,
        tls: bool = False,
        require_starttls: bool = False,
        smtputf8: bool = False,
    ) -> AiosmtpdServer: ...


@pytest.fixture
def aiosmtpd_server(tls_certs: TlsCerts) -> Iterator[StartAiosmtpd]:
    """``start(*, auth, auth_require_tls, tls, require_starttls, smtputf8)``; stopped at teardown.

    - ``auth``: AUTH PLAIN and LOGIN for alice/wonderland; with ``auth_require_tls``
      (aiosmtpd's default) AUTH is offered only after STARTTLS.
    - ``tls``: STARTTLS with the trustme certificate; ``require_starttls``: 530
      for anything but EHLO/NOOP/RSET/QUIT until then.
    - ``smtputf8``: advertise and accept SMTPUTF8. Data is never decoded.
    """
    started: list[Controller] = []

    def start(
        *,
        auth: bool = False,
        auth_require_tls: bool = True,
        tls: bool = False,
        require_starttls: bool = False,
        smtputf8: bool = False,
    ) -> AiosmtpdServer:
        if require_starttls and not tls:
            raise ValueError("require_starttls needs tls=True")
        handler = _RecordingHandler()
        port = free_port()
        controller = Controller(
            handler,
            hostname=LOOPBACK,
            port=port,
            ready_timeout=STARTUP_TIMEOUT,
            server_hostname=MX_HOSTNAME,
            decode_data=False,
            enable_SMTPUTF8=smtputf8,
            tls_context=tls_certs.server_ssl_context() if tls else None,
            require_starttls=require_starttls,
            authenticator=_authenticate if auth else None,
            auth_require_tls=auth_require_tls,
        )
        controller.start()
        started.append(controller)
        return AiosmtpdServer(LOOPBACK, port, controller, handler)

    yield start
    for controller in started:
        controller.stop()
