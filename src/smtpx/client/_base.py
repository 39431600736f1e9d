"""What the blocking and the asyncio client share: options, and what was learned."""

from __future__ import annotations

import socket
import ssl

from ..protocol import Extensions, Reply
from ._session import Credentials, Options, Session, Timeouts, TLSMode
from ._tls import TLSInfo, client_context

# RFC 5321 §4.5.4 (port 25) and RFC 8314 §3.3 (465, TLS from the start).
SMTP_PORT = 25
SUBMISSIONS_PORT = 465


class ClientBase:
    """Options common to ``Client`` and ``AsyncClient``.

    ``tls``: "auto" (STARTTLS when offered), "starttls" (required: never in
    clear), "implicit" (TLS from the first byte) or "none". Certificates are
    verified against the system's trust store unless ``verify=False``;
    ``ca_file`` trusts another CA. Credentials go only inside TLS unless
    ``allow_auth_without_tls``. ``timeout`` is one limit for every step, or a
    ``Timeouts`` with one per step (RFC 5321 §4.5.3.2 by default).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        tls: TLSMode | str = TLSMode.AUTO,
        verify: bool = True,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | Timeouts | None = None,
        local_hostname: str | None = None,
        source_address: tuple[str, int] | None = None,
        username: str | None = None,
        password: str | None = None,
        auth_mechanism: str | None = None,
        allow_auth_without_tls: bool = False,
        server_hostname: str | None = None,
    ) -> None:
        mode = TLSMode(tls)
        if port is None:
            port = SUBMISSIONS_PORT if mode is TLSMode.IMPLICIT else SMTP_PORT
        if isinstance(timeout, int | float):
            timeout = Timeouts.all(float(timeout))
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.ssl_context = ssl_context or client_context(verify=verify, ca_file=ca_file)
        # The name the certificate must carry: ``host`` unless connecting to an
        # address found for that name (a relay connects to an MX host's address).
        self.server_hostname = server_hostname or host
        self._session = Session(
            Options(
                host=host,
                port=port,
                tls=mode,
                timeouts=timeout or Timeouts(),
                local_hostname=local_hostname or socket.getfqdn(),
                source_address=source_address,
                credentials=(
                    Credentials(username, password, auth_mechanism)
                    if username is not None and password is not None
                    else None
                ),
                allow_auth_without_tls=allow_auth_without_tls,
            )
        )
        self.tls_info: TLSInfo | None = None

    @property
    def host(self) -> str:
        return self._session.options.host

    @property
    def port(self) -> int:
        return self._session.options.port

    @property
    def tls_mode(self) -> TLSMode:
        return self._session.options.tls

    @property
    def extensions(self) -> Extensions:
        """What the server offered in its reply to EHLO (nothing after HELO)."""
        return self._session.connection.extensions

    @property
    def greeting(self) -> Reply | None:
        return self._session.greeting

    @property
    def ehlo_reply(self) -> Reply | None:
        return self._session.ehlo

    @property
    def esmtp(self) -> bool:
        """False when the server only speaks HELO."""
        return self._session.esmtp

    @property
    def transcript(self) -> list[str]:
        """The dialogue so far: ``->`` sent, ``<-`` received, ``**`` notes; secrets masked."""
        return self._session.transcript.lines

    def _tls_started(self, info: TLSInfo) -> None:
        self.tls_info = info
        self._session.transcript.note(info.describe())
