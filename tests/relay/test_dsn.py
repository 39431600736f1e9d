"""Delivery status notifications (smtpx.relay._dsn): RFC 3461, RFC 3464, RFC 6522, RFC 6533.

Every report is parsed back with the stdlib parser (``email.policy.default``) and read
field by field, as a mail client or a bounce processor would read it.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.protocol.dialogue import (
    EHLO_REPLY,
    GO_AHEAD,
    QUEUED,
    RECIPIENT_OK,
    SENDER_OK,
    Application,
    Dialogue,
    Feed,
)

from smtpx.client import prepare
from smtpx.protocol import (
    Data,
    Ehlo,
    EndOfMessage,
    MailFrom,
    MessageData,
    RcptTo,
    Reply,
)
from smtpx.relay._dsn import (
    MAX_RETURNED,
    RecipientReport,
    compose_report,
    diagnostic_of,
    report_envelope,
    should_notify,
)

ARRIVAL = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
LAST_ATTEMPT = datetime(2024, 5, 1, 13, 30, tzinfo=timezone(timedelta(hours=2)))
RETRY_UNTIL = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
MTA = "relay.example.net"
SENDER = "alice@example.net"
HEADER = (
    b"From: Alice <alice@example.net>\r\n"
    b"To: bob@example.org, carol@example.org\r\n"
    b"Subject: Quarterly figures\r\n"
    b"Message-ID: <q1@example.net>\r\n"
)
ORIGINAL = HEADER + b"\r\nHello Bob, hello Carol.\r\n"

BOB_FAILED = RecipientReport(
    recipient="bob@example.org",
    original_recipient="rfc822;bob@example.org",
    action="failed",
    status="5.1.1",
    remote_mta="mx.example.org",
    diagnostic="550 5.1.1 <bob@example.org>: no such user",
    last_attempt=LAST_ATTEMPT,
)
CAROL_DELAYED = RecipientReport(
    recipient="carol@example.org",
    action="delayed",
    status="4.4.1",
    remote_mta="mx.example.org",
    diagnostic="451 4.4.1 try again later",
    last_attempt=LAST_ATTEMPT,
    will_retry_until=RETRY_UNTIL,
)
CAROL_DELIVERED = RecipientReport(
    recipient="carol@example.org",
    action="delivered",
    status="2.0.0",
    remote_mta="mx.example.org",
    diagnostic="250 2.0.0 Ok: queued as 4Vd2",
)


def compose(reports: list[RecipientReport], **overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "reporting_mta": MTA,
        "sender": SENDER,
        "original": ORIGINAL,
        "ret": None,
        "envid": None,
        "arrival": ARRIVAL,
        "reports": reports,
    }
    arguments.update(overrides)
    return compose_report(**arguments)


def parse(report: bytes) -> EmailMessage:
    return email.message_from_bytes(report, policy=email.policy.default)


def parts(report: bytes) -> list[MIMEPart]:
    message = parse(report)
    assert message.get_content_type() == "multipart/report"
    return list(message.iter_parts())


def enclosed(part: Message) -> EmailMessage:
    """The message a message/* part holds, as the parser read it."""
    inner = part.get_payload(0)
    assert isinstance(inner, EmailMessage)
    return inner


def status_blocks(report: bytes) -> list[dict[str, str]]:
    """The status part's blocks of fields: the per-message block, then one per recipient."""
    part = parts(report)[1]
    blocks: list[Message]
    if part.get_content_type() == "message/delivery-status":
        payload = part.get_payload()
        assert isinstance(payload, list)
        blocks = [block for block in payload if isinstance(block, Message)]
    else:
        # The stdlib parser reads message/global-delivery-status as an enclosed
        # message: the first block is its header, the others its body.
        assert part.get_content_type() == "message/global-delivery-status"
        inner = enclosed(part)
        rest = inner.get_payload(decode=True)
        assert isinstance(rest, bytes)
        parser = BytesParser(EmailMessage, policy=email.policy.default)
        blocks = [inner] + [parser.parsebytes(b) for b in rest.split(b"\r\n\r\n") if b.strip()]
    return [{name: str(value) for name, value in block.items()} for block in blocks]


def returned_part(report: bytes) -> MIMEPart:
    found = parts(report)
    assert len(found) == 3
    return found[2]


def assert_wire_clean(report: bytes) -> None:
    """CRLF line ends only, no line over 998 octets (RFC 5322 §2.1.1), no NUL."""
    assert report.endswith(b"\r\n")
    assert report.count(b"\r") == report.count(b"\n") == report.count(b"\r\n")
    assert b"\0" not in report
    assert max(map(len, report.split(b"\r\n"))) <= 998


# --- the report's structure -------------------------------------------------------------


def test_a_failure_report_is_a_multipart_report_with_three_parts() -> None:
    report = compose([BOB_FAILED])
    message = parse(report)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"  # RFC 6522 §3
    assert message["MIME-Version"] == "1.0"
    assert [p.get_content_type() for p in message.iter_parts()] == [
        "text/plain",
        "message/delivery-status",
        "message/rfc822",
    ]
    assert_wire_clean(report)
    assert report.isascii()


def test_the_report_header_names_the_mailer_daemon_and_the_sender() -> None:
    message = parse(compose([BOB_FAILED]))
    assert message["From"] == f"Mail Delivery System <MAILER-DAEMON@{MTA}>"
    assert message["To"] == SENDER
    assert message["Subject"] == "Undelivered Mail Returned to Sender"
    assert message["Auto-Submitted"] == "auto-replied"  # RFC 3834 §5
    assert message["Message-ID"].endswith(f"@{MTA}>")
    assert message["Date"].datetime.tzinfo is not None


def test_the_text_part_says_who_and_what_the_remote_server_said() -> None:
    text = parts(compose([BOB_FAILED, CAROL_DELIVERED]))[0].get_content()
    unwrapped = " ".join(text.split())
    assert "<bob@example.org>: delivery failed (status 5.1.1)." in unwrapped
    assert "Host mx.example.org said: 550 5.1.1 <bob@example.org>: no such user" in unwrapped
    assert "<carol@example.org>: delivered" in unwrapped
    assert "Your message is attached." in unwrapped
    assert max(map(len, text.splitlines())) <= 76


def test_per_message_fields_follow_rfc_3464_section_2_2() -> None:
    report = compose([BOB_FAILED], envid="QQ314159")
    per_message = status_blocks(report)[0]
    assert list(per_message) == ["Original-Envelope-Id", "Reporting-MTA", "Arrival-Date"]
    assert per_message["Original-Envelope-Id"] == "QQ314159"
    assert per_message["Reporting-MTA"] == f"dns; {MTA}"
    assert parsedate_to_datetime(per_message["Arrival-Date"]) == ARRIVAL


def test_without_envid_there_is_no_original_envelope_id() -> None:
    assert "Original-Envelope-Id" not in status_blocks(compose([BOB_FAILED]))[0]


def test_per_recipient_fields_follow_rfc_3464_section_2_3() -> None:
    _, bob = status_blocks(compose([BOB_FAILED]))
    assert list(bob) == [
        "Original-Recipient",
        "Final-Recipient",
        "Action",
        "Status",
        "Remote-MTA",
        "Diagnostic-Code",
        "Last-Attempt-Date",
    ]
    assert bob["Original-Recipient"] == "rfc822; bob@example.org"
    assert bob["Final-Recipient"] == "rfc822; bob@example.org"
    assert bob["Action"] == "failed"
    assert bob["Status"] == "5.1.1"
    assert bob["Remote-MTA"] == "dns; mx.example.org"
    assert bob["Diagnostic-Code"] == "smtp; 550 5.1.1 <bob@example.org>: no such user"
    assert parsedate_to_datetime(bob["Last-Attempt-Date"]) == LAST_ATTEMPT


def test_each_recipient_has_its_own_block() -> None:
    _, bob, carol = status_blocks(compose([BOB_FAILED, CAROL_DELIVERED]))
    assert (bob["Final-Recipient"], bob["Action"]) == ("rfc822; bob@example.org", "failed")
    assert (carol["Final-Recipient"], carol["Action"]) == ("rfc822; carol@example.org", "delivered")
    assert carol["Status"] == "2.0.0"
    assert "Original-Recipient" not in carol  # RFC 3461 §6.3 (d): only from ORCPT


def test_a_local_failure_has_no_remote_mta_and_no_diagnostic_code() -> None:
    local = RecipientReport(recipient="dave@example.org", action="failed", status="5.4.4")
    _, dave = status_blocks(compose([local]))
    assert dave == {
        "Final-Recipient": "rfc822; dave@example.org",
        "Action": "failed",
        "Status": "5.4.4",
    }
    assert (
        "<dave@example.org>: delivery failed (status 5.4.4)."
        in parts(compose([local]))[0].get_content()
    )


def test_a_delay_report_is_a_warning_with_will_retry_until() -> None:
    report = compose([CAROL_DELAYED])
    assert parse(report)["Subject"] == "Delayed Mail (still being retried)"
    _, carol = status_blocks(report)
    assert carol["Action"] == "delayed"
    assert carol["Status"] == "4.4.1"
    assert parsedate_to_datetime(carol["Will-Retry-Until"]) == RETRY_UNTIL
    assert "warning only" in parts(report)[0].get_content()


def test_a_success_report_answers_notify_success() -> None:
    report = compose([CAROL_DELIVERED])
    assert parse(report)["Subject"] == "Successful Mail Delivery Report"
    assert status_blocks(report)[1]["Action"] == "delivered"


def test_a_report_mixing_kinds_is_titled_by_the_failure() -> None:
    report = compose([CAROL_DELIVERED, CAROL_DELAYED, BOB_FAILED])
    assert parse(report)["Subject"] == "Undelivered Mail Returned to Sender"
    actions = [block["Action"] for block in status_blocks(report)[1:]]
    assert actions == ["delivered", "delayed", "failed"]
    assert returned_part(report).get_content_type() == "message/rfc822"  # a failure's default


def test_a_delay_and_a_success_report_are_titled_by_the_delay() -> None:
    report = compose([CAROL_DELIVERED, CAROL_DELAYED])
    assert parse(report)["Subject"] == "Delayed Mail (still being retried)"


# --- what comes back: RET (RFC 3461 §4.3) --------------------------------------------------


@pytest.mark.parametrize(
    ("ret", "report", "content_type"),
    [
        ("FULL", BOB_FAILED, "message/rfc822"),
        ("FULL", CAROL_DELAYED, "message/rfc822"),
        ("FULL", CAROL_DELIVERED, "message/rfc822"),
        ("HDRS", BOB_FAILED, "text/rfc822-headers"),
        ("HDRS", CAROL_DELAYED, "text/rfc822-headers"),
        ("hdrs", BOB_FAILED, "text/rfc822-headers"),
        (None, BOB_FAILED, "message/rfc822"),
        (None, CAROL_DELAYED, "text/rfc822-headers"),
        (None, CAROL_DELIVERED, "text/rfc822-headers"),
    ],
)
def test_ret_chooses_the_whole_message_or_its_header(
    ret: str | None, report: RecipientReport, content_type: str
) -> None:
    assert returned_part(compose([report], ret=ret)).get_content_type() == content_type


def test_ret_full_returns_the_message_as_it_came() -> None:
    part = returned_part(compose([BOB_FAILED], ret="FULL"))
    assert part["Content-Transfer-Encoding"] == "7bit"
    returned = enclosed(part)
    assert returned["Subject"] == "Quarterly figures"
    assert returned.get_content() == "Hello Bob, hello Carol.\r\n"
    assert ORIGINAL in compose([BOB_FAILED], ret="FULL")


def test_ret_hdrs_returns_the_header_block_only() -> None:
    part = returned_part(compose([BOB_FAILED], ret="HDRS"))
    assert part.get_content().replace("\r\n", "\n") == HEADER.decode().replace("\r\n", "\n")
    assert "Hello Bob" not in part.get_content()
    text = " ".join(parts(compose([BOB_FAILED], ret="HDRS"))[0].get_content().split())
    assert "The header of your message is attached." in text


def test_a_message_over_max_returned_comes_back_as_its_header() -> None:
    at_limit = compose([BOB_FAILED], ret="FULL", max_returned=len(ORIGINAL))
    over = compose([BOB_FAILED], ret="FULL", max_returned=len(ORIGINAL) - 1)
    assert returned_part(at_limit).get_content_type() == "message/rfc822"
    assert returned_part(over).get_content_type() == "text/rfc822-headers"


def test_the_default_limit_is_ten_mebibytes() -> None:
    assert MAX_RETURNED == 10 * 1024 * 1024
    big = HEADER + b"\r\n" + (b"x" * 998 + b"\r\n") * (MAX_RETURNED // 1000 + 1)
    assert returned_part(compose([BOB_FAILED], original=big)).get_content_type() == (
        "text/rfc822-headers"
    )


def test_the_original_may_be_a_file() -> None:
    whole = compose([BOB_FAILED], original=io.BytesIO(ORIGINAL), ret="FULL")
    assert enclosed(returned_part(whole))["Subject"] == "Quarterly figures"
    too_big = io.BytesIO(ORIGINAL)
    report = compose([BOB_FAILED], original=too_big, ret="FULL", max_returned=len(ORIGINAL) - 1)
    assert returned_part(report).get_content_type() == "text/rfc822-headers"


def test_for_the_header_only_the_file_is_read_up_to_its_blank_line() -> None:
    original = io.BytesIO(ORIGINAL + b"more body\r\n" * 10_000)
    compose([BOB_FAILED], original=original, ret="HDRS")
    assert original.tell() == len(HEADER) + len(b"\r\n")


@pytest.mark.parametrize(
    "body",
    [b"a NUL \0 in the body\r\n", b"x" * 999 + b"\r\n"],
    ids=["nul", "line-over-998"],
)
def test_a_message_only_bdat_could_carry_comes_back_as_its_header(body: bytes) -> None:
    # RFC 3030: a NUL or a line over 998 octets needs BINARYMIME; a report must not.
    report = compose([BOB_FAILED], original=HEADER + b"\r\n" + body, ret="FULL")
    assert returned_part(report).get_content_type() == "text/rfc822-headers"
    assert_wire_clean(report)


def test_a_returned_header_never_breaks_the_line_limit() -> None:
    header = b"X-Long: " + b"y" * 1500 + b"\r\nX-Nul: a\0b\r\n"
    report = compose([BOB_FAILED], original=header + b"\r\nbody\r\n", ret="HDRS")
    assert_wire_clean(report)
    assert "X-Nul: ab" in returned_part(report).get_content()


def test_bare_line_feeds_in_the_original_become_crlf() -> None:
    original = ORIGINAL.replace(b"\r\n", b"\n")
    report = compose([BOB_FAILED], original=original, ret="FULL")
    assert_wire_clean(report)
    assert ORIGINAL in report


def test_an_empty_original_leaves_out_the_third_part() -> None:
    report = compose([BOB_FAILED], original=b"")
    assert len(parts(report)) == 2
    assert "attached" not in parts(report)[0].get_content()


def test_an_8bit_body_under_an_ascii_header_is_returned_8bit_as_message_rfc822() -> None:
    original = HEADER + "\r\nGrüße, Alice\r\n".encode()
    report = compose([BOB_FAILED], original=original)
    part = returned_part(report)
    assert part.get_content_type() == "message/rfc822"
    assert part["Content-Transfer-Encoding"] == "8bit"
    assert parts(report)[1].get_content_type() == "message/delivery-status"
    assert original in report


# --- NOTIFY (RFC 3461 §4.1) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "notify", "expected"),
    [
        # Absent NOTIFY: failures and delays (§4.1 allows FAILURE or FAILURE,DELAY).
        ("failed", None, True),
        ("delayed", None, True),
        ("delivered", None, False),
        ("relayed", None, False),
        ("expanded", None, False),
        # NEVER: nothing at all.
        ("failed", ("NEVER",), False),
        ("delayed", ("NEVER",), False),
        ("delivered", ("NEVER",), False),
        # Each word asks for its own kind only.
        ("failed", ("FAILURE",), True),
        ("delayed", ("FAILURE",), False),
        ("delivered", ("FAILURE",), False),
        ("failed", ("DELAY",), False),
        ("delayed", ("DELAY",), True),
        ("delivered", ("SUCCESS",), True),
        ("relayed", ("SUCCESS",), True),
        ("expanded", ("SUCCESS",), True),
        ("failed", ("SUCCESS",), False),
        ("delayed", ("SUCCESS",), False),
        ("failed", ("SUCCESS", "FAILURE"), True),
        ("delayed", ("SUCCESS", "FAILURE"), False),
        ("delayed", ("FAILURE", "DELAY"), True),
        ("delivered", ("FAILURE", "DELAY"), False),
        ("delivered", ("SUCCESS", "FAILURE", "DELAY"), True),
        ("delayed", ("delay",), True),
    ],
)
def test_should_notify_follows_the_notify_parameter(
    action: str, notify: tuple[str, ...] | None, expected: bool
) -> None:
    assert should_notify(action, notify) is expected


@pytest.mark.parametrize(
    ("action", "notify"),
    [("bounced", None), ("failed", ()), ("failed", ("NEVER", "FAILURE")), ("failed", ("ALL",))],
)
def test_should_notify_refuses_what_no_engine_produces(
    action: str, notify: tuple[str, ...] | None
) -> None:
    with pytest.raises(ValueError, match=r"action|NOTIFY"):
        should_notify(action, notify)


# --- the report's envelope (RFC 5321 §4.5.5) ------------------------------------------------


def test_a_report_goes_from_the_null_path_to_the_original_sender() -> None:
    assert report_envelope(SENDER) == ("", [SENDER])


@pytest.mark.parametrize("null", ["", "<>"])
def test_a_message_from_the_null_path_gets_no_report(null: str) -> None:
    assert report_envelope(null) is None
    with pytest.raises(ValueError, match="null reverse-path"):
        compose([BOB_FAILED], sender=null)


# --- internationalized mail (RFC 6533) ---------------------------------------------------


UTF8_HEADER = "From: Jürgen <jürgen@bücher.example>\r\nSubject: Grüße\r\n".encode()
UTF8_ORIGINAL = UTF8_HEADER + "\r\nHallo Bjørn\r\n".encode()
BJORN_FAILED = RecipientReport(
    recipient="bjørn@example.org",
    original_recipient="utf-8;bj\\x{F8}rn@example.org",
    action="failed",
    status="5.1.1",
    remote_mta="mx.example.org",
    diagnostic="550 5.1.1 <bjørn@example.org>: unbekannter Empfänger",
)


def test_a_utf8_original_gets_a_global_report() -> None:
    report = compose([BOB_FAILED], sender="jürgen@bücher.example", original=UTF8_ORIGINAL)
    message = parse(report)
    assert message.get_param("report-type") == "global-delivery-status"
    assert message["To"] == "jürgen@bücher.example"  # UTF-8 as it is (RFC 6532)
    types = [p.get_content_type() for p in message.iter_parts()]
    assert types == ["text/plain", "message/global-delivery-status", "message/global"]
    returned = returned_part(report)
    assert returned["Content-Transfer-Encoding"] == "8bit"
    assert enclosed(returned)["Subject"] == "Grüße"
    assert UTF8_ORIGINAL in report
    assert_wire_clean(report)


def test_a_utf8_header_alone_comes_back_as_message_global_headers() -> None:
    report = compose([CAROL_DELAYED], original=UTF8_ORIGINAL)
    returned = returned_part(report)
    assert returned.get_content_type() == "message/global-headers"
    assert enclosed(returned)["Subject"] == "Grüße"
    assert UTF8_HEADER in report
    assert b"Hallo" not in report


def test_a_utf8_recipient_has_address_type_utf8() -> None:
    report = compose([BJORN_FAILED, BOB_FAILED])
    _, bjorn, bob = status_blocks(report)
    assert bjorn["Final-Recipient"] == "utf-8; bjørn@example.org"
    assert bjorn["Original-Recipient"] == "utf-8; bj\\x{F8}rn@example.org"
    assert bjorn["Diagnostic-Code"] == "smtp; 550 5.1.1 <bjørn@example.org>: unbekannter Empfänger"
    assert bob["Final-Recipient"] == "rfc822; bob@example.org"
    assert parts(report)[0]["Content-Transfer-Encoding"] == "8bit"
    assert "<bjørn@example.org>" in parts(report)[0].get_content()
    assert_wire_clean(report)


def test_an_idn_reporting_mta_is_written_in_a_labels() -> None:
    report = compose([BOB_FAILED], reporting_mta="relais.bücher.example")
    assert (
        parse(report)["From"] == "Mail Delivery System <MAILER-DAEMON@relais.xn--bcher-kva.example>"
    )
    assert status_blocks(report)[0]["Reporting-MTA"] == "dns; relais.xn--bcher-kva.example"
    assert report.isascii()


# --- header fields never break the message ---------------------------------------------------


def test_a_long_diagnostic_is_folded_at_spaces_and_unfolds_unchanged() -> None:
    diagnostic = "550 5.7.1 " + " ".join(f"word{i}" for i in range(400))
    report = compose(
        [
            RecipientReport(
                recipient="bob@example.org", action="failed", status="5.7.1", diagnostic=diagnostic
            )
        ]
    )
    assert_wire_clean(report)
    assert status_blocks(report)[1]["Diagnostic-Code"] == f"smtp; {diagnostic}"
    status = report[report.index(b"Reporting-MTA") : report.index(b"Content-Type: message/rfc822")]
    assert max(map(len, status.split(b"\r\n"))) <= 78
    assert b"=?" not in report  # no RFC 2047 encoded words in the fields


def test_a_word_longer_than_any_line_is_cut_and_nothing_is_lost() -> None:
    token = "x" * 2500
    report = compose(
        [
            RecipientReport(
                recipient="bob@example.org",
                action="failed",
                status="5.7.1",
                diagnostic=f"550 {token} end",
            )
        ]
    )
    assert_wire_clean(report)
    written = status_blocks(report)[1]["Diagnostic-Code"]
    assert written.replace(" ", "") == f"smtp;550{token}end"


def test_an_envid_that_is_not_printable_goes_back_in_xtext() -> None:
    # RFC 3461 §4: an xtext ENVID decodes to any octets, CR and LF included.
    report = compose([BOB_FAILED], envid="id\r\nBcc: victim@example.com")
    assert status_blocks(report)[0]["Original-Envelope-Id"] == "id+0D+0ABcc:+20victim@example.com"
    assert not re.search(rb"^Bcc:", report, re.MULTILINE)


def test_an_orcpt_that_is_not_printable_goes_back_in_xtext() -> None:
    odd = RecipientReport(
        recipient="bob@example.org",
        original_recipient="rfc822;bob\r\nX-Injected: yes",
        action="failed",
        status="5.1.1",
    )
    report = compose([odd])
    assert status_blocks(report)[1]["Original-Recipient"] == "rfc822; bob+0D+0AX-Injected:+20yes"
    assert not re.search(rb"^X-Injected:", report, re.MULTILINE)


_TEXT = st.characters(
    exclude_categories=["Cc", "Cs", "Zl", "Zp"],
    exclude_characters="?",  # no accidental RFC 2047 encoded word for the parser to decode
)
_ATEXT = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=^_`{|}~äøß"
)
_LABEL = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789ü"), min_size=1, max_size=63)
_ADDRESSES = st.builds(
    lambda local, labels: f"{local}@{'.'.join(labels)}",
    st.text(_ATEXT, min_size=1, max_size=64),
    st.lists(_LABEL, min_size=1, max_size=4),
)


@given(
    diagnostic=st.text(_TEXT, min_size=1, max_size=3000).filter(str.split),
    recipient=_ADDRESSES,
    sender=_ADDRESSES,
)
def test_any_diagnostic_and_address_make_a_clean_report(
    diagnostic: str, recipient: str, sender: str
) -> None:
    failed = RecipientReport(
        recipient=recipient,
        action="failed",
        status="5.0.0",
        remote_mta="mx.example.org",
        diagnostic=diagnostic,
    )
    report = compose([failed], sender=sender)
    assert_wire_clean(report)
    assert parse(report)["To"] == sender
    _, block = status_blocks(report)
    assert (
        block["Final-Recipient"] == ("rfc822; " if recipient.isascii() else "utf-8; ") + recipient
    )
    written = block["Diagnostic-Code"].removeprefix("smtp; ")
    expected = " ".join(diagnostic.split())
    if all(len(word.encode()) <= 900 for word in expected.split()):
        assert written == expected
    else:  # a word too long for a line is cut, its characters kept
        assert written.replace(" ", "") == expected.replace(" ", "")


# --- the report travels like any message --------------------------------------------------


@pytest.mark.parametrize("feed", list(Feed), ids=lambda feed: feed.value)
@pytest.mark.parametrize(
    ("sender", "original", "reports"),
    [
        (SENDER, ORIGINAL, [BOB_FAILED, CAROL_DELAYED]),
        ("jürgen@bücher.example", UTF8_ORIGINAL, [BJORN_FAILED]),
        (SENDER, ORIGINAL.replace(b"\r\n", b"\r\n.", 1) + b".\r\n", [BOB_FAILED]),
    ],
    ids=["ascii", "utf8", "dots"],
)
def test_the_report_goes_through_the_smtp_engines_as_data(
    feed: Feed, sender: str, original: bytes, reports: list[RecipientReport]
) -> None:
    report = compose(reports, sender=sender, original=original, ret="FULL")
    envelope = report_envelope(sender)
    assert envelope is not None
    transaction = prepare(report, *envelope)
    assert transaction.data == report
    assert transaction.body in (None, "8BITMIME")  # never BINARYMIME: DATA carries it
    assert transaction.smtputf8 is not sender.isascii()

    dialogue = Dialogue(feed, Application())
    assert dialogue.send(Ehlo(MTA)) == [EHLO_REPLY]
    mail = MailFrom("", body=transaction.body, smtputf8=transaction.smtputf8)
    assert dialogue.send(mail) == [SENDER_OK]
    assert dialogue.send(RcptTo(sender)) == [RECIPIENT_OK]
    assert dialogue.send(Data()) == [GO_AHEAD]
    assert dialogue.send(MessageData(report), EndOfMessage()) == [QUEUED]
    received = b"".join(e.data for e in dialogue.server_events if isinstance(e, MessageData))
    assert received == report


# --- values a caller can get wrong ------------------------------------------------------


def test_diagnostic_of_joins_a_multiline_reply_into_one_line() -> None:
    reply = Reply(550, "5.1.1", "<bob@example.org>: no such user\nsee https://example.org/")
    assert diagnostic_of(reply) == (
        "550 5.1.1 <bob@example.org>: no such user see https://example.org/"
    )
    assert diagnostic_of(Reply(421, None, "busy\x1b[31m")) == "421 busy?[31m"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "bounced"}, "action"),
        ({"status": "550"}, "RFC 3463"),
        ({"status": "5.1"}, "RFC 3463"),
        ({"recipient": ""}, "recipient is empty"),
        ({"diagnostic": "550 no\r\nBcc: x"}, "line break"),
        ({"remote_mta": "mx\0"}, "control"),
        ({"original_recipient": "bob@example.org"}, "addr-type;address"),
        ({"last_attempt": datetime(2024, 5, 1)}, "timezone-aware"),
        ({"will_retry_until": RETRY_UNTIL}, "delayed"),
    ],
)
def test_a_recipient_report_refuses_what_cannot_go_in_a_report(
    fields: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {"recipient": "bob@example.org", "action": "failed", "status": "5.1.1"}
    with pytest.raises(ValueError, match=message):
        RecipientReport(**{**values, **fields})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reports": []}, "at least one"),
        ({"ret": "BODY"}, "RET"),
        ({"arrival": datetime(2024, 5, 1)}, "timezone-aware"),
        ({"reporting_mta": "relay example"}, "host name"),
        ({"reporting_mta": ""}, "host name"),
    ],
)
def test_compose_report_refuses_bad_arguments(overrides: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"reports": [BOB_FAILED], **overrides}
    with pytest.raises(ValueError, match=message):
        compose(**arguments)
