"""The ``tls_certs`` fixture: a trustme CA and a server certificate for SERVER_NAMES.

One per session (RSA key generation is slow), as PEM files for Postfix and as
``ssl`` contexts for aiosmtpd and for clients.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from ._ports import SERVER_NAMES


@dataclass(frozen=True)
class TlsCerts:
    """A throwaway CA and a server certificate for SERVER_NAMES, written as PEM files."""

    ca: trustme.CA
    server: trustme.LeafCert
    ca_pem: Path
    cert_chain_pem: Path
    key_pem: Path

    def server_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        return context

    def client_ssl_context(self) -> ssl.SSLContext:
        """Verifies the peer against the test CA, host name checks included."""
        return ssl.create_default_context(cafile=str(self.ca_pem))


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TlsCerts:
    """One CA and server certificate for the whole session (RSA key generation is slow)."""
    ca = trustme.CA()
    server = ca.issue_cert(*SERVER_NAMES)
    directory = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    chain = directory / "server-chain.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(directory / "server-key.pem"))
    return TlsCerts(ca, server, directory / "ca.pem", chain, directory / "server-key.pem")
