"""The relay in front of Postfix's smtp-sink: what arrives, and what each fault does.

Each test starts a relay (:mod:`tests.relay.relaying`) whose static route sends
example.net to an smtp-sink on loopback (``smtp_sink``, tests/peers/_sink.py), and
makes the sink misbehave with its own options: ``-r CMD`` answers 450 4.3.0, ``-f
CMD`` 500 5.3.0, ``-Q CMD`` 421 and hangs up, ``-N`` does not offer DSN. The relay
retries on the harness's fast schedule, so a deferral comes back within 0.3 s.

The sender, alice@example.org, is local to the relay: the delivery status
notifications about her mail stay in the relay's own store and are read back
from there. smtp-sink's dump drops every CR and the dot-stuffing dots (see
:func:`~tests.peers.parse_sink_dump`): what it received is compared with the
relay's copy with its CRs taken out.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from tests.peers import LOOPBACK, Sink, StartSink, parse_sink_dump
from tests.relay.relaying import (
    RelayingServer,
    relay_config,
    relaying_server,
    reports,
    status_fields,
    submit,
)
from tests.server.receiver import MESSAGE, SENDER, split_received

from smtpx.relay import Destination, Schedule
from smtpx.store import Delivery, DeliveryStatus

FAR = "bob@example.net"
# smtp-sink's replies (Postfix 3.7).
SINK_OK = "250 2.0.0 Ok"
SINK_DEFERS = "450 4.3.0 Error: command failed"
SINK_REFUSES = "500 5.3.0 Error: command failed"
SINK_CLOSES = "421 4.0.0 Server closing connection"


def relay_to(
    tmp_path: Path, sink: Sink, **changes: object
) -> AbstractContextManager[RelayingServer]:
    """A relay whose static route sends example.net to ``sink``."""
    route = Destination(LOOPBACK, sink.port)
    return relaying_server(
        tmp_path / "relay", relay=relay_config(routes={"example.net": route}, **changes)
    )


def deferred_with(reply: str, attempts: int = 1) -> Callable[[list[Delivery]], bool]:
    """A ``settled`` condition: deferred at least ``attempts`` times, ``reply`` the last."""

    def holds(found: list[Delivery]) -> bool:
        (delivery,) = found
        return (
            delivery.status is DeliveryStatus.DEFERRED
            and delivery.attempts >= attempts
            and delivery.last_reply == reply
        )

    return holds


def with_received(count: int) -> bytes:
    """MESSAGE below ``count`` Received headers, as if it had come through that many hosts."""
    trace = b"".join(
        b"Received: from hop%d.example (hop%d.example [192.0.2.%d])\r\n\tby hop%d.example; "
        b"Mon, 02 Mar 2026 10:00:00 +0000\r\n" % (n, n, n % 250 + 1, n + 1)
        for n in range(count)
    )
    return trace + MESSAGE


# --- what arrives -------------------------------------------------------------------------


def test_relayed_message_reaches_smtp_sink_unchanged_below_the_relays_received(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    sink = smtp_sink(dump=True)
    with relay_to(tmp_path, sink) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
        kept = relay.raw(message_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert delivery.last_reply == SINK_OK
    assert delivery.remote == LOOPBACK
    (dump,) = sink.dumps()
    received = parse_sink_dump(dump)
    assert received.helo_args == "relay.test"
    assert received.mail_args.split()[0] == f"<{SENDER}>"
    assert "BODY=8BITMIME" in received.mail_args.split()  # MESSAGE is 8-bit
    assert received.rcpt_args == (f"<{FAR}>",)
    # The relay's copy is its Received header and the message exactly as sent; the
    # sink got that copy, CRs and stuffing dots aside.
    ours, original = split_received(kept)
    assert "by relay.test (smtpx)" in ours
    assert original == MESSAGE
    assert received.message == kept.replace(b"\r", b"")


# --- faults -------------------------------------------------------------------------------


def test_a_450_to_rcpt_defers_and_the_retry_delivers_once_the_sink_takes_it(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    deferring = smtp_sink("-r", "RCPT")
    # A second wait of a whole second: time enough to put a good sink in its place.
    schedule = Schedule(intervals=(1.0,), then=0.3, jitter=0.0, delay_warning=None)
    with relay_to(tmp_path, deferring, schedule=schedule) as relay:
        message_id = submit(relay, [FAR])
        (first,) = relay.settled(message_id, until=deferred_with(SINK_DEFERS))
        deferring.stop()
        accepting = smtp_sink(dump=True, port=deferring.port)
        (delivery,) = relay.settled(message_id)
        assert reports(relay) == []  # no NOTIFY: a delay that ends in delivery says nothing
    assert first.attempts == 1
    assert first.remote == LOOPBACK
    assert first.next_attempt is not None
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 2
    assert delivery.last_reply == SINK_OK
    assert len(accepting.dumps()) == 1


def test_a_5xx_to_rcpt_fails_the_recipient_and_reports_to_the_sender(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-f", "RCPT")
    with relay_to(tmp_path, sink) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id)
        (report,) = reports(relay)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == 1
    assert delivery.last_reply == SINK_REFUSES
    assert delivery.next_attempt is None
    assert report["To"] == SENDER
    assert report["From"].addresses[0].username == "MAILER-DAEMON"
    (fields,) = status_fields(report)
    assert fields["Final-Recipient"] == f"rfc822; {FAR}"
    assert fields["Action"] == "failed"
    assert fields["Status"] == "5.3.0"
    assert fields["Remote-MTA"] == f"dns; {LOOPBACK}"
    assert fields["Diagnostic-Code"] == f"smtp; {SINK_REFUSES}"
    returned = list(report.iter_parts())[-1]
    assert returned.get_content_type() == "message/rfc822"  # a failure returns it whole


def test_a_421_at_end_of_data_defers_with_the_421_as_last_reply(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-Q", ".")
    with relay_to(tmp_path, sink) as relay:
        message_id = submit(relay, [FAR])
        # Twice: the hang-up is no reason to stop trying.
        (delivery,) = relay.settled(message_id, until=deferred_with(SINK_CLOSES, attempts=2))
        assert reports(relay) == []
    assert delivery.remote == LOOPBACK
    assert delivery.next_attempt is not None


# --- loops (RFC 5321 §6.3) ------------------------------------------------------------------


def test_more_than_50_received_headers_is_a_loop(tmp_path: Path, smtp_sink: StartSink) -> None:
    """max_received is 50, and the relay's own Received header is not the sender's: a
    message that arrives with 50 goes on (leaving with 51); one that arrives with 51
    is refused at the end of data (554 5.4.6), nothing kept."""
    sink = smtp_sink(dump=True)
    with relay_to(tmp_path, sink) as relay:
        with smtplib.SMTP(relay.host, relay.port, timeout=5) as smtp:
            smtp.ehlo("client.example")
            assert smtp.mail(SENDER)[0] == 250
            assert smtp.rcpt(FAR)[0] == 250
            code, text = smtp.data(with_received(51))
            assert (code, text.split()[0]) == (554, b"5.4.6")
            assert relay.count() == 0
            refusal = code, text
            assert smtp.mail(SENDER)[0] == 250  # the session goes on
            assert smtp.rcpt(FAR)[0] == 250
            assert smtp.data(with_received(50))[0] == 250
        message_id = relay.newest()
        (delivery,) = relay.settled(message_id)
        assert relay.count() == 1
    assert refusal == (554, b"5.4.6 Too many hops (Received headers): a mail loop")
    assert delivery.status is DeliveryStatus.DELIVERED
    (dump,) = sink.dumps()
    lines = parse_sink_dump(dump).message.split(b"\n")
    assert sum(line.startswith(b"Received: ") for line in lines) == 51


# --- reports (RFC 3461, RFC 3464) -----------------------------------------------------------


def test_notify_never_leaves_a_failure_unreported(tmp_path: Path, smtp_sink: StartSink) -> None:
    sink = smtp_sink("-f", "RCPT")
    with relay_to(tmp_path, sink) as relay:
        message_id = submit(relay, [FAR], rcpt_options=("NOTIFY=NEVER",))
        (delivery,) = relay.settled(message_id)
        assert reports(relay) == []
        assert relay.count() == 1
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_reply == SINK_REFUSES


def test_notify_success_is_passed_on_to_a_next_hop_that_offers_dsn(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    sink = smtp_sink(dump=True)
    with relay_to(tmp_path, sink) as relay:
        message_id = submit(relay, [FAR], rcpt_options=("NOTIFY=SUCCESS",), ENVID="env-7")
        (delivery,) = relay.settled(message_id)
        assert reports(relay) == []  # the next hop reports success from now on
    assert delivery.status is DeliveryStatus.DELIVERED
    (dump,) = sink.dumps()
    received = parse_sink_dump(dump)
    assert received.rcpt_args == (f"<{FAR}> NOTIFY=SUCCESS",)
    assert "ENVID=env-7" in received.mail_args.split()


def test_notify_success_to_a_next_hop_without_dsn_gets_a_relayed_report(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    """RFC 3461 §5.2.2: the next hop cannot report success, so the relay does."""
    sink = smtp_sink("-N", dump=True)
    with relay_to(tmp_path, sink) as relay:
        message_id = submit(relay, [FAR], rcpt_options=("NOTIFY=SUCCESS",))
        (delivery,) = relay.settled(message_id)
        (report,) = reports(relay)
    assert delivery.status is DeliveryStatus.DELIVERED
    (dump,) = sink.dumps()
    assert parse_sink_dump(dump).rcpt_args == (f"<{FAR}>",)  # no NOTIFY where DSN is not offered
    assert report["To"] == SENDER
    assert report["Subject"] == "Successful Mail Delivery Report"
    (fields,) = status_fields(report)
    assert fields["Action"] == "relayed"
    assert fields["Status"] == "2.0.0"
    assert fields["Remote-MTA"] == f"dns; {LOOPBACK}"
    assert fields["Diagnostic-Code"] == f"smtp; {SINK_OK}"
    returned = list(report.iter_parts())[-1]
    assert returned.get_content_type() == "text/rfc822-headers"  # success: the header only


def test_a_delay_warning_is_sent_once_however_often_the_recipient_is_deferred(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    sink = smtp_sink("-r", "RCPT")
    schedule = Schedule(intervals=(0.2,), then=0.2, jitter=0.0, delay_warning=0.0)
    with relay_to(tmp_path, sink, schedule=schedule) as relay:
        message_id = submit(relay, [FAR])
        (delivery,) = relay.settled(message_id, until=deferred_with(SINK_DEFERS, attempts=3))
        found = reports(relay)
        arrival = relay.stored()[0].received_at
    assert delivery.warned
    (report,) = found
    assert report["To"] == SENDER
    assert report["Subject"] == "Delayed Mail (still being retried)"
    (fields,) = status_fields(report)
    assert fields["Action"] == "delayed"
    assert fields["Status"] == "4.3.0"
    assert fields["Diagnostic-Code"] == f"smtp; {SINK_DEFERS}"
    # RFC 3464 §2.3.9: tried until the message's lifetime ends.
    until = parsedate_to_datetime(fields["Will-Retry-Until"])
    assert abs(until - (arrival + timedelta(seconds=schedule.lifetime))) < timedelta(seconds=1)


def test_mail_from_the_null_sender_is_never_reported_on(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    """RFC 3461 §6.2, RFC 5321 §4.5.5: no bounce about a bounce."""
    sink = smtp_sink("-f", "RCPT")
    with relay_to(tmp_path, sink) as relay:
        message_id = submit(relay, [FAR], sender="")
        (delivery,) = relay.settled(message_id)
        kept = relay.stored()
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_reply == SINK_REFUSES
    assert [stored.id for stored in kept] == [message_id]
    assert kept[0].envelope.sender == ""


def test_a_report_to_a_remote_sender_is_relayed_from_the_null_sender(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    """RFC 3461 §6.2: the report goes from MAIL FROM:<> to the sender's own MX."""
    refusing = smtp_sink("-f", "RCPT")
    senders_mx = smtp_sink(dump=True)
    routes = {
        "example.net": Destination(LOOPBACK, refusing.port),
        "example.com": Destination(LOOPBACK, senders_mx.port),
    }
    carol = "carol@example.com"
    with relaying_server(tmp_path / "relay", relay=relay_config(routes=routes)) as relay:
        message_id = submit(relay, [FAR], sender=carol)
        (delivery,) = relay.settled(message_id)
        (report,) = [stored for stored in relay.stored() if stored.id != message_id]
        (sent,) = relay.settled(report.id)
    assert delivery.status is DeliveryStatus.FAILED
    assert report.envelope.sender == ""
    assert [r.address for r in report.envelope.recipients] == [carol]
    assert sent.status is DeliveryStatus.DELIVERED
    (dump,) = senders_mx.dumps()
    received = parse_sink_dump(dump)
    assert received.mail_args.split()[0] == "<>"
    assert received.rcpt_args == (f"<{carol}>",)
    relayed = message_from_bytes(received.message, policy=policy.default)
    assert isinstance(relayed, EmailMessage)
    assert relayed["To"] == carol
    assert relayed.get_content_type() == "multipart/report"
    assert relayed.get_param("report-type") == "delivery-status"
    (fields,) = status_fields(relayed)
    assert fields["Action"] == "failed"
    assert fields["Diagnostic-Code"] == f"smtp; {SINK_REFUSES}"


# --- stopping -------------------------------------------------------------------------------


def test_the_queue_runner_stops_when_woken_just_before_it_is_stopped(
    tmp_path: Path, smtp_sink: StartSink
) -> None:
    """A wake-up (new mail, a delivery that just ended) and stop() in the same moment.

    The runner idles in ``asyncio.wait_for(wake.wait(), ...)``; on Python 3.11 a
    wait_for whose inner wait has just finished returns instead of passing on the
    cancellation (CPython gh-86296), so stop() must not rely on one cancel.
    """
    sink = smtp_sink()
    with relay_to(tmp_path, sink) as relay:
        relay.settled(submit(relay, [FAR]))
        runner = relay.runner

        async def wake_then_stop() -> bool:
            await runner.idle()
            await asyncio.sleep(0.1)  # back to waiting for work
            runner.wake()
            stopping = asyncio.ensure_future(runner.stop(deadline=1))
            done, _ = await asyncio.wait([stopping], timeout=2)
            return stopping in done

        assert relay.run(wake_then_stop()), "QueueRunner.stop() still waits for its task"
