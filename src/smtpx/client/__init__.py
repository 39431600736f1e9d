"""smtpx.client: send mail over SMTP, from asyncio code or from plain blocking code.

    from smtpx.client import Client, compose

    message = compose(sender="app@example.org", to=["user@example.net"],
                      subject="Hello", text="It works.")
    with Client("mail.example.net", 587, tls="starttls",
                username="app", password="secret") as smtp:
        result = smtp.send_message(message)
    print(result.accepted)

``AsyncClient`` has the same methods, as coroutines. Both drive the one SMTP
engine of ``smtpx.protocol``: PIPELINING and BDAT when offered, SIZE, 8BITMIME,
SMTPUTF8 and DSN parameters when needed, STARTTLS that fails closed when
required, AUTH PLAIN/LOGIN/CRAM-MD5/XOAUTH2. Failures are exceptions holding the
server's reply: ``TemporaryFailure`` (4xx, timeouts, dropped connections: try
again later) or ``PermanentFailure`` (5xx: give up).
"""

from __future__ import annotations

from ._async import AsyncClient
from ._errors import (
    AuthFailed,
    ConnectionFailed,
    NotSupported,
    PermanentFailure,
    ProtocolFailure,
    RecipientsDeferred,
    RecipientsRefused,
    SMTPError,
    TemporaryFailure,
    Timeout,
    TLSFailure,
)
from ._message import MessageError, MissingInput, envelope_of, sender_of
from ._result import SendResult
from ._session import Timeouts, TLSMode
from ._steps import Transaction
from ._submission import transaction as prepare
from ._sync import Client, host_port
from ._tls import TLSInfo, client_context
from .compose import compose

__all__ = [
    "AsyncClient",
    "AuthFailed",
    "Client",
    "ConnectionFailed",
    "MessageError",
    "MissingInput",
    "NotSupported",
    "PermanentFailure",
    "ProtocolFailure",
    "RecipientsDeferred",
    "RecipientsRefused",
    "SMTPError",
    "SendResult",
    "TLSFailure",
    "TLSInfo",
    "TLSMode",
    "TemporaryFailure",
    "Timeout",
    "Timeouts",
    "Transaction",
    "client_context",
    "compose",
    "envelope_of",
    "host_port",
    "prepare",
    "sender_of",
]
