"""TLS settings for the client: verified against the system's trust store by default."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any


def client_context(*, verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """A context that checks the certificate and host name, unless told not to."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class TLSInfo:
    """What was negotiated, for ``smtpx probe`` and the transcript."""

    version: str | None
    cipher: str | None
    # ssl.SSLSocket.getpeercert(): empty when the certificate was not verified.
    certificate: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, sock: ssl.SSLSocket | ssl.SSLObject) -> TLSInfo:
        cipher = sock.cipher()
        return cls(sock.version(), cipher[0] if cipher else None, dict(sock.getpeercert() or {}))

    def describe(self) -> str:
        return f"TLS started: {self.version}, {self.cipher}"
