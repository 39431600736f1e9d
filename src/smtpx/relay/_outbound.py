"""Sending a queued message to its next hops: connections, TLS policy, outcomes.

Theory of operation. :class:`Outbound` gives one attempt at a group of recipients
that share their next hops (:func:`~._nexthop.destination_key`): the hops are tried
in order, and the first that can take a transaction has it. A hop that cannot be
reached, or that fails before the transaction (greeting, EHLO, TLS, a 421), gives
way to the next (RFC 5321 §5.1: "try ... the next one"); once a transaction has
begun, its replies decide, recipient by recipient (an :class:`Outcome` each).

Connections are kept open between messages (``keep_alive`` seconds) and reused
for the same hop and protection, so a burst of mail to one destination costs one
TLS handshake. A reused connection that turns out dead is replaced once.

TLS (RFC 7435, RFC 3207): by default opportunistic, STARTTLS when offered and
the certificate not checked (most MX hosts' certificates would not pass), and
in clear again if the handshake fails; a destination that requires TLS gets
STARTTLS with a verified certificate or nothing. A relay host is protected as
configured (``RelayHost.tls``); its credentials go only inside TLS.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from dataclasses import dataclass

from ..client import (
    AsyncClient,
    AuthFailed,
    ConnectionFailed,
    PermanentFailure,
    RecipientsDeferred,
    RecipientsRefused,
    SendResult,
    SMTPError,
    TLSFailure,
    TLSMode,
    client_context,
)
from ..protocol import Reply
from ._config import RelayConfig
from ._dsn import diagnostic_of
from ._nexthop import Hop

# RFC 3463 statuses for what went wrong on our side of the wire.
NO_ANSWER = "4.4.1"  # X.4.1: no answer from host
BAD_CONNECTION = "4.4.2"  # X.4.2: bad connection
TLS_FAILED = "4.7.5"  # X.7.5: cryptographic failure


@dataclass(frozen=True, slots=True)
class Protection:
    """How connections to one destination are protected."""

    tls: TLSMode = TLSMode.AUTO
    verify: bool = False  # opportunistic TLS checks nothing (RFC 7435 §1.3)
    username: str | None = None
    password: str | None = None

    @property
    def opportunistic(self) -> bool:
        return self.tls is TLSMode.AUTO and not self.verify


OPPORTUNISTIC = Protection()
REQUIRED = Protection(TLSMode.STARTTLS, verify=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to for one recipient."""

    delivered: bool
    permanent: bool
    status: str  # RFC 3463
    diagnostic: str  # one line: the remote reply, or what failed here
    remote: str | None = None  # the host that answered
    from_remote: bool = False  # the diagnostic is an SMTP reply (Diagnostic-Code: smtp)
    dsn_passed: bool = False  # the next hop offered DSN: it reports from now on (RFC 3461 §5.2)

    @classmethod
    def of_reply(cls, reply: Reply, hop: Hop, *, dsn: bool = False) -> Outcome:
        status = reply.status or f"{reply.code // 100}.0.0"
        return cls(
            delivered=reply.is_positive,
            permanent=reply.is_permanent,
            status=status,
            diagnostic=diagnostic_of(reply),
            remote=hop.host,
            from_remote=True,
            dsn_passed=dsn and reply.is_positive,
        )

    @classmethod
    def local(cls, status: str, diagnostic: str, remote: str | None = None) -> Outcome:
        return cls(False, status.startswith("5"), status, diagnostic, remote)


@dataclass(frozen=True, slots=True)
class Parcel:
    """A message and the recipients of it going to one destination."""

    data: bytes
    sender: str
    recipients: tuple[str, ...]
    ret: str | None = None
    envid: str | None = None
    notify: tuple[str, ...] | None = None
    orcpt: tuple[tuple[str, str], ...] = ()


_Key = tuple[str, int, str, Protection]


class Outbound:
    """Connections to next hops, and attempts over them."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self._idle: dict[_Key, list[tuple[AsyncClient, float]]] = {}
        self._contexts: dict[bool, ssl.SSLContext] = {}

    async def attempt(
        self, hops: list[Hop], protection: Protection, parcel: Parcel
    ) -> dict[str, Outcome]:
        """Try the hops in turn; an Outcome for every recipient of ``parcel``."""
        failure = Outcome.local(NO_ANSWER, "no next hop to try")
        for hop in hops:
            try:
                return await self._attempt(hop, protection, parcel)
            except _HopUnusable as unusable:
                failure = unusable.outcome
        return dict.fromkeys(parcel.recipients, failure)

    async def _attempt(
        self, hop: Hop, protection: Protection, parcel: Parcel
    ) -> dict[str, Outcome]:
        client, reused = await self._session(hop, protection)
        try:
            result = await self._send(client, parcel)
        except ConnectionFailed as error:
            await client.close()
            if not reused:
                raise _HopUnusable(_failed(error, hop)) from None
            # A kept connection the server closed meanwhile: once more, afresh.
            client = await self._connect(hop, protection)
            try:
                result = await self._send(client, parcel)
            except ConnectionFailed as again:
                await client.close()
                raise _HopUnusable(_failed(again, hop)) from None
        dsn = client.extensions.dsn
        self._keep(hop, protection, client)
        if isinstance(result, SMTPError):
            return self._refused(result, hop, parcel)
        outcomes = {r: Outcome.of_reply(reply, hop) for r, reply in result.refused.items()}
        final = result.reply
        assert final is not None
        for recipient in result.accepted:
            outcomes[recipient] = Outcome.of_reply(final, hop, dsn=dsn)
        return outcomes

    async def _send(self, client: AsyncClient, parcel: Parcel) -> SendResult | SMTPError:
        """The transaction; a refusal is returned (the connection stays good)."""
        try:
            return await client.send_message(
                parcel.data,
                parcel.sender,
                parcel.recipients,
                ret=parcel.ret,
                envid=parcel.envid,
                notify=parcel.notify,
                orcpt=dict(parcel.orcpt),
            )
        except ConnectionFailed:
            raise
        except SMTPError as error:
            return error

    def _refused(self, error: SMTPError, hop: Hop, parcel: Parcel) -> dict[str, Outcome]:
        if isinstance(error, RecipientsRefused | RecipientsDeferred):
            return {r: Outcome.of_reply(reply, hop) for r, reply in error.result.refused.items()}
        if error.reply is not None:
            outcome = Outcome.of_reply(error.reply, hop)
        else:  # refused before sending: the message needs what the server lacks (RFC 6152)
            status = "5.6.3" if isinstance(error, PermanentFailure) else BAD_CONNECTION
            outcome = Outcome.local(status, str(error), hop.host)
        return dict.fromkeys(parcel.recipients, outcome)

    # --- connections -----------------------------------------------------------------

    async def _session(self, hop: Hop, protection: Protection) -> tuple[AsyncClient, bool]:
        """A kept connection to ``hop`` if one is fresh, else a new one."""
        kept = self._idle.get(_key(hop, protection), [])
        now = time.monotonic()
        while kept:
            client, since = kept.pop()
            if now - since < self.config.keep_alive:
                return client, True
            await _quit(client)
        return await self._connect(hop, protection), False

    async def _connect(self, hop: Hop, protection: Protection) -> AsyncClient:
        try:
            return await self._open(hop, protection)
        except TLSFailure as error:
            if not protection.opportunistic:
                raise _HopUnusable(Outcome.local(TLS_FAILED, str(error), hop.host)) from None
            # RFC 7435 §1.3: opportunistic TLS that fails falls back to clear text.
            try:
                return await self._open(hop, Protection(TLSMode.NONE))
            except SMTPError as again:
                raise _HopUnusable(_failed(again, hop)) from None
        except SMTPError as error:
            raise _HopUnusable(_failed(error, hop)) from None

    async def _open(self, hop: Hop, protection: Protection) -> AsyncClient:
        config = self.config
        client = AsyncClient(
            hop.address,
            hop.port,
            tls=protection.tls,
            ssl_context=self._context(protection.verify),
            timeout=config.timeouts,
            local_hostname=config.hostname,
            username=protection.username,
            password=protection.password,
            server_hostname=hop.host,
        )
        await client.connect()
        return client

    def _context(self, verify: bool) -> ssl.SSLContext:
        """One context per kind, made once: loading the trust store is not free."""
        context = self._contexts.get(verify)
        if context is None:
            context = client_context(verify=verify, ca_file=self.config.ca_file)
            self._contexts[verify] = context
        return context

    def _keep(self, hop: Hop, protection: Protection, client: AsyncClient) -> None:
        self._idle.setdefault(_key(hop, protection), []).append((client, time.monotonic()))

    async def close(self) -> None:
        """QUIT every kept connection."""
        idle, self._idle = self._idle, {}
        for kept in idle.values():
            for client, _ in kept:
                await _quit(client)


class _HopUnusable(Exception):
    """This hop could not take a transaction: the next one may."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.diagnostic)
        self.outcome = outcome


def _key(hop: Hop, protection: Protection) -> _Key:
    return (hop.address, hop.port, hop.host, protection)


def _failed(error: SMTPError, hop: Hop) -> Outcome:
    """A hop that failed before its transaction: its reply, or what went wrong."""
    if isinstance(error, AuthFailed) and error.reply is not None:
        # Our credentials were refused: our mistake to fix, not the sender's; the
        # mail waits (as Postfix's smtp_sasl_auth_soft_bounce).
        outcome = Outcome.of_reply(error.reply, hop)
        status = "4" + outcome.status[1:]
        return Outcome(False, False, status, outcome.diagnostic, hop.host, from_remote=True)
    if error.reply is not None:
        return Outcome.of_reply(error.reply, hop)
    status = TLS_FAILED if isinstance(error, TLSFailure) else NO_ANSWER
    text = str(error) or type(error).__name__
    said = text if hop.address in text else f"{hop}: {text}"
    return Outcome.local(status, said, hop.host)


async def _quit(client: AsyncClient) -> None:
    with contextlib.suppress(SMTPError, OSError):
        await client.quit()
    await client.close()
