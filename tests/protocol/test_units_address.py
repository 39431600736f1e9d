"""Mailbox addresses and paths (RFC 5321 §4.1.2-4.1.3, §4.5.3.1; RFC 6531 §3.3)."""

from __future__ import annotations

import pytest

from smtpx.protocol import (
    SERVER,
    Connection,
    Extensions,
    Limits,
    MailFrom,
    RcptTo,
    Rejected,
    Reply,
    ip_literal,
    is_mailbox,
    mailbox_problem,
)
from smtpx.protocol._address import parse_path
from smtpx.protocol._errors import Refused

LIMITS = Limits()
SENDER_SYNTAX = (501, "5.1.7")  # RFC 3463: bad sender's mailbox address syntax
RECIPIENT_SYNTAX = (501, "5.1.3")  # RFC 3463: bad destination mailbox address syntax


def refused(argument: str, *, sender: bool, limits: Limits = LIMITS) -> tuple[int, str | None]:
    with pytest.raises(Refused) as raised:
        parse_path(argument, limits, sender=sender)
    return raised.value.reply.code, raised.value.reply.status


@pytest.mark.parametrize(
    "mailbox",
    [
        "user@example.com",
        "first.last@sub.example.com",
        "x@y",
        "!#$%&'*+-/=?^_`{|}~@example.com",
        '"john doe"@example.com',
        '"a\\"b"@example.com',
        '"a\\\\b"@example.com',
        '"a@b"@example.com',
        '""@example.com',
        "user@[192.0.2.1]",
        "user@[IPv6:2001:db8::1]",
        "user@[ipv6:::1]",
        "user@[x-tag:some-content]",
        "user@a-b.example",
        "user@123.example",
    ],
)
def test_valid_mailbox_is_read_back_as_written(mailbox: str) -> None:
    assert is_mailbox(mailbox)
    assert parse_path(f"<{mailbox}>", LIMITS, sender=True) == (mailbox, "")
    assert parse_path(f"<{mailbox}>", LIMITS, sender=False) == (mailbox, "")


def test_parameters_follow_the_path_after_a_space() -> None:
    assert parse_path("<a@example.com> SIZE=10 BODY=8BITMIME", LIMITS, sender=True) == (
        "a@example.com",
        "SIZE=10 BODY=8BITMIME",
    )
    assert parse_path("<a@example.com>   SIZE=10", LIMITS, sender=True) == (
        "a@example.com",
        "SIZE=10",
    )


def test_null_reverse_path_is_allowed_only_for_mail() -> None:
    # RFC 5321 §4.5.5: bounces are sent with MAIL FROM:<>.
    assert parse_path("<>", LIMITS, sender=True) == ("", "")
    assert parse_path("<> SIZE=10", LIMITS, sender=True) == ("", "SIZE=10")
    assert refused("<>", sender=False) == RECIPIENT_SYNTAX


@pytest.mark.parametrize("postmaster", ["<Postmaster>", "<postmaster>", "<POSTMASTER>"])
def test_bare_postmaster_is_allowed_only_for_rcpt(postmaster: str) -> None:
    # RFC 5321 §4.1.1.3: "Postmaster" with no domain, case-insensitive.
    assert parse_path(postmaster, LIMITS, sender=False) == (postmaster[1:-1], "")
    assert refused(postmaster, sender=True) == SENDER_SYNTAX


def test_source_route_is_dropped() -> None:
    # RFC 5321 §4.1.1.3 and Appendix C: accepted, ignored.
    assert parse_path("<@a.example,@b.example:user@c.example>", LIMITS, sender=False) == (
        "user@c.example",
        "",
    )
    assert parse_path("<@a.example:user@c.example> X=1", LIMITS, sender=True) == (
        "user@c.example",
        "X=1",
    )


@pytest.mark.parametrize(
    "argument",
    [
        pytest.param("a@example.com", id="no-brackets"),
        pytest.param("<a@example.com", id="no-closing-bracket"),
        pytest.param("<a@example.com>x", id="no-space-before-parameters"),
        pytest.param("<a>", id="no-domain"),
        pytest.param("<@example.com>", id="no-local-part"),
        pytest.param("<a..b@example.com>", id="double-dot"),
        pytest.param("<.a@example.com>", id="leading-dot"),
        pytest.param("<a.@example.com>", id="trailing-dot"),
        pytest.param("<a b@example.com>", id="space-in-local-part"),
        pytest.param('<"a"b@example.com>', id="quoted-then-atom"),
        pytest.param('<"a\x01"@example.com>', id="control-in-quotes"),
        pytest.param("<a@-example.com>", id="label-starts-with-dash"),
        pytest.param("<a@example-.com>", id="label-ends-with-dash"),
        pytest.param("<a@example..com>", id="empty-label"),
        pytest.param("<a@example.com.>", id="trailing-dot-in-domain"),
        pytest.param("<a@exa_mple.com>", id="underscore-in-domain"),
        pytest.param("<a@b@example.com>", id="two-at-signs"),
        pytest.param("<@a.example:>", id="route-without-mailbox"),
        pytest.param("<a@[]>", id="empty-literal"),
        pytest.param("<a@[192.0.2.1>", id="unclosed-literal"),
        pytest.param(" <a@example.com>", id="leading-space"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_path_is_refused_501(argument: str) -> None:
    assert refused(argument, sender=True) == SENDER_SYNTAX
    assert refused(argument, sender=False) == RECIPIENT_SYNTAX


@pytest.mark.parametrize(
    "literal",
    [
        "[IPv6:2001:db8::g]",
        "[IPv6:1:2:3:4:5:6:7:8:9]",
        "[IPv6:1::2::3]",
        "[IPv6:]",
        "[IPv6:192.0.2.1]",
        "[256.0.0.1]",
        "[192.0.2]",
        "[192.0.2.1.5]",
        "[-tag:x]",
        # The grammar, not Python's ipaddress: no zone, and at most 6 groups
        # besides "::" (4 before an IPv4 tail).
        "[IPv6:fe80::1%eth0]",
        "[IPv6:1::2:3:4:5:6:7]",
        "[IPv6:1:2:3:4:5:6:7::]",
        "[IPv6:1:2:3:4:5::192.0.2.1]",
        "[IPv6:::ffff:192.0.2.256]",
        "[1234.0.0.1]",
        "[\u0661.2.3.4]",  # an Arabic-Indic digit: Snum is ASCII DIGIT
        "[IPv6:\u0661::1]",
    ],
)
def test_invalid_address_literal_is_refused_501(literal: str) -> None:
    # RFC 5321 §4.1.3: IPv4, "IPv6:" and a valid address, or a Standardized-tag.
    assert refused(f"<a@{literal}>", sender=True) == SENDER_SYNTAX
    assert refused(f"<a@{literal}>", sender=False) == RECIPIENT_SYNTAX


@pytest.mark.parametrize(
    ("literal", "address"),
    [
        ("[192.0.2.1]", "192.0.2.1"),
        ("[127.0.0.01]", "127.0.0.1"),  # Snum = 1*3DIGIT: leading zeros are allowed
        ("[127.000.000.001]", "127.0.0.1"),
        ("[IPv6:2001:db8::1]", "2001:db8::1"),
        ("[ipv6:1:2:3:4:5:6:7:8]", "1:2:3:4:5:6:7:8"),
        ("[IPv6:1:2:3:4:5:6::]", "1:2:3:4:5:6::"),
        ("[IPv6:::ffff:192.0.2.01]", "::ffff:c000:201"),
        ("[IPv6:1:2:3:4::192.0.2.1]", "1:2:3:4::c000:201"),
        ("[IPv6:1:2:3:4:5:6:192.0.2.1]", "1:2:3:4:5:6:c000:201"),
    ],
)
def test_address_literals_follow_the_rfc_5321_grammar(literal: str, address: str) -> None:
    assert parse_path(f"<a@{literal}>", LIMITS, sender=False)[0] == f"a@{literal}"
    assert str(ip_literal(literal)) == address


@pytest.mark.parametrize("domain", ["example.com", "[tag:anything]", "[x]", "192.0.2.1"])
def test_ip_literal_is_none_for_what_is_not_an_ip_literal(domain: str) -> None:
    assert ip_literal(domain) is None


def test_local_part_limit_is_64_octets() -> None:
    assert parse_path("<" + "l" * 64 + "@example.com>", LIMITS, sender=True)[0] == (
        "l" * 64 + "@example.com"
    )
    assert refused("<" + "l" * 65 + "@example.com>", sender=True) == SENDER_SYNTAX
    assert refused("<" + "l" * 65 + "@example.com>", sender=False) == RECIPIENT_SYNTAX


def test_local_part_limit_counts_octets_not_characters() -> None:
    # RFC 5321 §4.5.3.1: limits are in octets, so UTF-8 characters count 2-4 each.
    assert parse_path("<" + "é" * 32 + "@example.com>", LIMITS, sender=True)[0] == (
        "é" * 32 + "@example.com"
    )
    assert refused("<" + "é" * 33 + "@example.com>", sender=True) == SENDER_SYNTAX


def test_quoted_local_part_limit_counts_the_quotes() -> None:
    assert parse_path('<"' + "q" * 62 + '"@example.com>', LIMITS, sender=True)[0].startswith('"')
    assert refused('<"' + "q" * 63 + '"@example.com>', sender=True) == SENDER_SYNTAX


def test_domain_limit_is_255_octets() -> None:
    limits = Limits(path=1000)
    domain = ".".join(["d" * 63] * 4)  # 255 octets
    assert len(domain) == 255
    assert parse_path(f"<a@{domain}>", limits, sender=True) == (f"a@{domain}", "")
    assert refused(f"<a@{domain}d>", sender=True, limits=limits) == SENDER_SYNTAX


def test_path_limit_is_256_octets_with_brackets() -> None:
    domain = ".".join(["d" * 62, "d" * 62, "d" * 62])  # 188 octets
    mailbox = "l" * 64 + "@" + domain + "d"  # 254 octets, 256 with the brackets
    assert parse_path(f"<{mailbox}>", LIMITS, sender=True) == (mailbox, "")
    assert refused(f"<{mailbox}d>", sender=True) == SENDER_SYNTAX


def test_configured_local_part_limit_applies() -> None:
    assert refused("<abcd@example.com>", sender=True, limits=Limits(local_part=3)) == SENDER_SYNTAX
    assert (
        parse_path("<abc@example.com>", Limits(local_part=3), sender=True)[0] == "abc@example.com"
    )


def test_configured_domain_limit_applies_to_short_mailboxes() -> None:
    # Limits are configurable: a domain limit below the local-part limit still holds.
    assert refused("<a@example.com>", sender=True, limits=Limits(domain=10)) == SENDER_SYNTAX
    assert parse_path("<a@example.co>", Limits(domain=10), sender=True)[0] == "a@example.co"


def test_configured_path_limit_applies_to_short_mailboxes() -> None:
    assert refused("<a@example.com>", sender=True, limits=Limits(path=14)) == SENDER_SYNTAX
    assert parse_path("<a@example.com>", Limits(path=15), sender=True) == ("a@example.com", "")


@pytest.mark.parametrize(
    "mailbox",
    ["用户@例子.广告", "josé@example.com", '"ü"@example.com', "a@bücher.example"],
)
def test_utf8_mailbox_is_read_by_the_grammar(mailbox: str) -> None:
    # RFC 6531 §3.3: UTF-8 in atoms, quoted strings and domain labels.
    assert is_mailbox(mailbox)
    assert parse_path(f"<{mailbox}>", LIMITS, sender=True) == (mailbox, "")


@pytest.mark.parametrize(
    "text", ["", "user", "user@", "@example.com", "user@example.com ", "<user@example.com>"]
)
def test_is_mailbox_refuses_what_is_not_one_mailbox(text: str) -> None:
    assert not is_mailbox(text)


# --- through the server engine: SMTPUTF8 decides whether UTF-8 is allowed ----------------------


def _ready_server() -> Connection:
    server = Connection(SERVER)
    server.send(Reply(220))
    server.receive_data(b"EHLO c.example\r\n")
    server.next_event()
    server.send(Extensions(smtputf8=True, eightbitmime=True).ehlo_reply("mx.example"))
    return server


def test_utf8_sender_without_smtputf8_is_refused_553() -> None:
    # RFC 6531 §3.5: 553 5.6.7 for a non-ASCII address without SMTPUTF8.
    server = _ready_server()
    server.receive_data("MAIL FROM:<josé@example.com>\r\n".encode())
    event = server.next_event()
    assert isinstance(event, Rejected)
    assert (event.reply.code, event.reply.status) == (553, "5.6.7")


def test_utf8_recipient_is_allowed_only_in_an_smtputf8_transaction() -> None:
    server = _ready_server()
    server.receive_data(b"MAIL FROM:<a@example.com>\r\n")
    assert server.next_event() == MailFrom("a@example.com")
    server.send(Reply(250))
    server.receive_data("RCPT TO:<用户@例子.广告>\r\n".encode())
    event = server.next_event()
    assert isinstance(event, Rejected)
    assert (event.reply.code, event.reply.status) == (553, "5.6.7")
    server.send(event.reply)
    server.receive_data(b"RSET\r\n")
    server.next_event()
    server.send(Reply(250))
    server.receive_data("MAIL FROM:<josé@example.com> SMTPUTF8\r\n".encode())
    assert server.next_event() == MailFrom("josé@example.com", smtputf8=True)
    server.send(Reply(250))
    server.receive_data("RCPT TO:<用户@例子.广告>\r\n".encode())
    assert server.next_event() == RcptTo("用户@例子.广告")


def test_mailbox_problem_says_why_the_engine_would_refuse_a_mailbox() -> None:
    assert mailbox_problem("a@example.com", LIMITS) is None
    assert mailbox_problem("a@[192.0.2.01]", LIMITS) is None
    assert mailbox_problem("l" * 65 + "@example.com", LIMITS) == (
        "Local part too long: 65 octets, at most 64"
    )
    assert mailbox_problem("a@[IPv6:fe80::1%eth0]", LIMITS) == "Bad recipient address syntax"
