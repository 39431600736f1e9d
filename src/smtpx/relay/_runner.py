"""The queue runner: a task beside the server that sends queued mail on.

Theory of operation. :class:`QueueRunner` asks the store which messages have
recipients due (``Store.due``), and delivers each in a task of its own: the
pending recipients are grouped by next hop (:class:`~._nexthop.NextHops`), one
transaction per group (recipients sharing a destination go together), at most
``per_destination`` at once to one destination and ``concurrency`` in all. The
outcomes go back to the store in one commit per message (``Store.record``):
delivered, failed, or deferred to the next attempt of the :class:`~._config.Schedule`.
Between rounds it sleeps until the next recipient is due, the handler wakes it
for new mail, and it looks at the store every few seconds anyway, so that
``smtpx queue retry`` in another process is seen.

Reports (RFC 3464, :mod:`._dsn`) go to the sender when a recipient fails, when
one has waited ``delay_warning`` (once), and for NOTIFY=SUCCESS when the next hop
could not take the request on (RFC 3461 §5.2.2: "relayed"). A report is queued
like any message, with ``MAIL FROM:<>``, and before the outcome is recorded: a
crash between the two sends a report twice rather than never.

The window: a recipient is recorded as delivered after the remote 250. If the
process dies between that 250 and the commit, the recipient is still pending
after the restart and gets the message a second time (RFC 5321 §6.1 accepts
duplicates over loss); nothing else is ever sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from ..client import TLSMode
from ..store import (
    Delivery,
    DeliveryStatus,
    DeliveryUpdate,
    Envelope,
    Origin,
    Recipient,
    Store,
    StoredMessage,
    StoreError,
)
from ._config import RelayConfig
from ._dsn import Action, RecipientReport, compose_report, report_envelope, should_notify
from ._nexthop import DestinationKey, Hop, HopFailure, NextHops, Resolver, destination_key
from ._outbound import OPPORTUNISTIC, REQUIRED, Outbound, Outcome, Parcel, Protection

log = logging.getLogger("smtpx.relay")

# Seconds between looks at the store when nothing is due sooner.
POLL = 5.0
# A message whose delivery broke (a bug, a store error) rests this long.
REST = 60.0

# Recipients that go in one transaction: same next hops, protection and NOTIFY.
_Group = tuple[DestinationKey, Protection, str | None]


class QueueRunner:
    """Delivers what the store has queued, until stopped."""

    def __init__(
        self,
        store: Store,
        config: RelayConfig,
        *,
        is_local: Callable[[str], bool] = lambda address: False,
        next_hops: NextHops | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.is_local = is_local  # a report to a local sender is kept, not relayed
        self.rng = rng or random.Random()
        relay_host = config.relay_host.destination if config.relay_host else None
        resolver = Resolver(
            nameservers=config.nameservers,
            timeout=config.dns_timeout,
            local=config.local_names,
            rng=self.rng,
        )
        self.next_hops = next_hops or NextHops(
            config.routes, relay_host, resolver, smtp_port=config.smtp_port
        )
        self.outbound = Outbound(config)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._deliveries: dict[str, asyncio.Task[None]] = {}
        self._resting: dict[str, float] = {}
        self._slots = asyncio.Semaphore(config.concurrency)
        self._destinations: dict[DestinationKey, tuple[asyncio.Semaphore, int]] = {}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """New mail is queued: look at the store now."""
        self._wake.set()

    async def stop(self, deadline: float = 10.0) -> None:
        """Stop taking work; let deliveries under way finish up to ``deadline`` seconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        running = list(self._deliveries.values())
        if running:
            _, late = await asyncio.wait(running, timeout=deadline)
            for task in late:  # their recipients stay pending: tried after the restart
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.outbound.close()

    async def idle(self) -> None:
        """Wait until no delivery is under way (for tests and ``flush``)."""
        while self._deliveries:
            await asyncio.wait(list(self._deliveries.values()))

    # --- rounds ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue runner: cannot read the queue; trying again")
                await asyncio.sleep(REST)

    async def _round(self) -> None:
        now = time.time()
        for message_id in await self.store.due(now, limit=self.config.concurrency):
            if message_id in self._deliveries or self._resting.get(message_id, 0) > now:
                continue
            self._resting.pop(message_id, None)
            task = asyncio.get_running_loop().create_task(self._process(message_id))
            self._deliveries[message_id] = task
        upcoming = await self.store.next_due()
        wait = POLL if upcoming is None or upcoming <= now else min(upcoming - now, POLL)
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
        # that comes just as the wait ends (gh-86296), and stop() would hang.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(wait, 0.01)):
                await self._wake.wait()
        self._wake.clear()

    async def _process(self, message_id: str) -> None:
        try:
            await self._deliver(message_id)
        except StoreError as error:  # e.g. `smtpx queue delete` while it was being sent
            log.warning("delivery of %s not recorded: %s", message_id, error)
        except Exception:
            log.exception("delivery of %s broke; resting it %d s", message_id, REST)
            self._resting[message_id] = time.time() + REST
        finally:
            del self._deliveries[message_id]
            self.wake()

    # --- one message -----------------------------------------------------------------

    async def _deliver(self, message_id: str) -> None:
        now = time.time()
        stored = await self.store.get(message_id)
        pending = [
            delivery
            for delivery in await self.store.deliveries(message_id)
            if delivery.status.pending and (delivery.next_attempt or 0) <= now
        ]
        data = await self.store.raw(message_id) if pending else None
        if stored is None or data is None:
            return
        unroutable: dict[str, Outcome] = {}
        groups: dict[_Group, tuple[list[Hop], list[str]]] = {}
        for domain, recipients in _by_domain(pending):
            try:
                hops = await self.next_hops.for_domain(domain)
            except HopFailure as failure:
                outcome = Outcome.local(failure.status, str(failure))
                unroutable.update(dict.fromkeys(recipients, outcome))
                continue
            protection = self._protection(domain)
            for recipient in recipients:
                # One transaction per next hop, protection and NOTIFY (the client
                # sends one NOTIFY for all the recipients of a transaction).
                key = (destination_key(hops), protection, _notify(stored.envelope, recipient))
                groups.setdefault(key, (hops, []))[1].append(recipient)
        of = {delivery.recipient: delivery for delivery in pending}
        if unroutable:
            await self._settle(stored, data, [of[r] for r in unroutable], unroutable, now)

        async def send(key: _Group, hops: list[Hop], recipients: list[str]) -> None:
            outcomes = await self._send(key, hops, _parcel(stored.envelope, data, recipients))
            # Recorded as soon as this destination answered: a recipient another
            # destination took is never left unrecorded while a slow one stalls.
            await self._settle(stored, data, [of[r] for r in recipients], outcomes, time.time())

        sends = [send(key, hops, recipients) for key, (hops, recipients) in groups.items()]
        # Every send runs to its end, whatever another one raised.
        results = await asyncio.gather(*sends, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _protection(self, domain: str) -> Protection:
        relay_host = self.config.relay_host
        required = domain.lower() in self.config.tls_required
        if relay_host is not None and self.next_hops.route(domain) is None:
            tls = relay_host.tls
            if required and tls not in (TLSMode.STARTTLS, TLSMode.IMPLICIT):
                tls = TLSMode.STARTTLS  # --require-tls holds through the relay host too
            verify = tls in (TLSMode.STARTTLS, TLSMode.IMPLICIT)
            return Protection(tls, verify, relay_host.username, relay_host.password)
        return REQUIRED if required else OPPORTUNISTIC

    async def _send(self, key: _Group, hops: list[Hop], parcel: Parcel) -> dict[str, Outcome]:
        destination, protection, _ = key
        with self._destination(destination) as semaphore:
            async with self._slots, semaphore:
                outcomes = await self.outbound.attempt(hops, protection, parcel)
        for recipient, outcome in outcomes.items():
            log.info("to=<%s> via %s: %s", recipient, outcome.remote or "-", outcome.diagnostic)
        return outcomes

    @contextlib.contextmanager
    def _destination(self, key: DestinationKey) -> Iterator[asyncio.Semaphore]:
        """The semaphore limiting connections to one destination, while it is used."""
        semaphore, users = self._destinations.get(key) or (
            asyncio.Semaphore(self.config.per_destination),
            0,
        )
        self._destinations[key] = (semaphore, users + 1)
        try:
            yield semaphore
        finally:
            semaphore, users = self._destinations[key]
            if users == 1:
                del self._destinations[key]
            else:
                self._destinations[key] = (semaphore, users - 1)

    # --- the outcomes --------------------------------------------------------------------

    async def _settle(
        self,
        stored: StoredMessage,
        data: bytes,
        pending: list[Delivery],
        outcomes: dict[str, Outcome],
        now: float,
    ) -> None:
        schedule = self.config.schedule
        arrival = stored.received_at.timestamp()
        updates: list[DeliveryUpdate] = []
        reports: list[RecipientReport] = []
        for delivery in pending:
            recipient = delivery.recipient
            outcome = outcomes[recipient]
            params = _params(stored.envelope, recipient)
            notify = tuple(params["NOTIFY"].split(",")) if "NOTIFY" in params else None
            status = DeliveryStatus.DELIVERED
            retry = None
            if not outcome.delivered:
                if not outcome.permanent:
                    retry = schedule.next_attempt(delivery.attempts + 1, arrival, now, self.rng)
                status = DeliveryStatus.FAILED if retry is None else DeliveryStatus.DEFERRED
            action: Action | None = None
            warned = None
            if status is DeliveryStatus.DELIVERED:
                # RFC 3461 §5.2.2: a next hop without DSN cannot report success: we do.
                action = None if outcome.dsn_passed else "relayed"
            elif status is DeliveryStatus.FAILED:
                action = "failed"
            elif not delivery.warned and schedule.warns(arrival, now):
                action = "delayed"
                warned = True
            if action is not None and should_notify(action, notify):
                until = arrival + schedule.lifetime if action == "delayed" else None
                reports.append(
                    _recipient_report(recipient, action, outcome, params, now=now, until=until)
                )
            elif action == "delayed":
                warned = None  # NOTIFY without DELAY: nothing sent, nothing to note
            updates.append(
                DeliveryUpdate(
                    recipient,
                    status,
                    # A failure found here keeps its status code with its text.
                    reply=outcome.diagnostic
                    if outcome.from_remote
                    else f"{outcome.status} {outcome.diagnostic}",
                    remote=outcome.remote,
                    next_attempt=retry,
                    warned=warned,
                )
            )
        if reports:
            await self._report(stored, data, reports)
        await self.store.record(stored.id, updates)

    async def _report(
        self, stored: StoredMessage, data: bytes, reports: list[RecipientReport]
    ) -> None:
        """Queue a delivery status notification to the sender, if there is one."""
        envelope = report_envelope(stored.envelope.sender)
        if envelope is None:  # never a report about a report (RFC 3461 §6.2)
            return
        sender, (recipient,) = envelope
        params = dict(stored.envelope.params)
        report = compose_report(
            reporting_mta=self.config.hostname,
            sender=recipient,
            original=data,
            ret=params.get("RET"),
            envid=params.get("ENVID"),
            arrival=stored.received_at,
            reports=reports,
        )
        incoming = self.store.incoming()
        incoming.write(report)
        relay_to = [] if self.is_local(recipient) else [recipient]
        message_id = await self.store.add(
            incoming,
            Envelope(sender, (Recipient(recipient),)),
            Origin("127.0.0.1", 0, self.config.hostname),
            relay_to=relay_to,
        )
        actions = ",".join(sorted({r.action for r in reports}))
        log.info("report %s (%s) for %s to <%s>", message_id, actions, stored.id, recipient)
        self.wake()


def _recipient_report(
    recipient: str,
    action: Action,
    outcome: Outcome,
    params: dict[str, str],
    *,
    now: float,
    until: float | None,
) -> RecipientReport:
    return RecipientReport(
        recipient=recipient,
        original_recipient=params.get("ORCPT"),
        action=action,
        status=outcome.status,
        remote_mta=outcome.remote,
        diagnostic=outcome.diagnostic if outcome.from_remote else None,
        reason=None if outcome.from_remote else outcome.diagnostic,
        last_attempt=datetime.fromtimestamp(now, UTC),
        will_retry_until=datetime.fromtimestamp(until, UTC) if until is not None else None,
    )


def _by_domain(pending: list[Delivery]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for delivery in pending:
        domain = delivery.recipient.rpartition("@")[2].lower()
        groups.setdefault(domain, []).append(delivery.recipient)
    return list(groups.items())


def _params(envelope: Envelope, recipient: str) -> dict[str, str]:
    for candidate in envelope.recipients:
        if candidate.address == recipient:
            return dict(candidate.params)
    return {}


def _notify(envelope: Envelope, recipient: str) -> str | None:
    return _params(envelope, recipient).get("NOTIFY")


def _parcel(envelope: Envelope, data: bytes, recipients: list[str]) -> Parcel:
    """What goes to one destination: the DSN requests are passed on (RFC 3461 §5.2)."""
    params = dict(envelope.params)
    notify = _notify(envelope, recipients[0])
    orcpt = {}
    for recipient in recipients:
        original = _params(envelope, recipient).get("ORCPT", "")
        addr_type, _, address = original.partition(";")
        if addr_type.strip().lower() == "rfc822" and address:
            orcpt[recipient] = address
    return Parcel(
        data,
        envelope.sender,
        tuple(recipients),
        ret=params.get("RET"),
        envid=params.get("ENVID"),
        notify=tuple(notify.split(",")) if notify else None,
        orcpt=tuple(orcpt.items()),
    )
