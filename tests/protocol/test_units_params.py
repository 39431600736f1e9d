"""ESMTP parameters of MAIL and RCPT, xtext, and the EHLO keywords that allow them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    xtext_decode,
    xtext_encode,
)
from smtpx.protocol._errors import Refused
from smtpx.protocol._params import mail_params, parse_mail_params, parse_rcpt_params, rcpt_params

DSN = Extensions(dsn=True)
EVERYTHING = Extensions(
    size=1000,
    eightbitmime=True,
    smtputf8=True,
    auth=("PLAIN",),
    binarymime=True,
    chunking=True,
    dsn=True,
)


def refusal(parse: Callable[[], Any]) -> tuple[int, str | None]:
    """The code and enhanced status a server answers for what ``parse`` reads."""
    with pytest.raises(Refused) as raised:
        parse()
    return raised.value.reply.code, raised.value.reply.status


def mail(text: str, ext: Extensions = EVERYTHING, limits: Limits | None = None) -> dict[str, Any]:
    return parse_mail_params(text, ext, limits or Limits())


def rcpt(text: str, ext: Extensions = EVERYTHING) -> dict[str, Any]:
    return parse_rcpt_params(text, ext)


# --- xtext (RFC 3461 §4) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "xtext"),
    [
        ("Bob@Example.COM", "Bob@Example.COM"),
        ("+", "+2B"),
        ("=", "+3D"),
        (" ", "+20"),
        ("\r\n", "+0D+0A"),
        ("\0", "+00"),
        ("\x7f", "+7F"),
        ("é", "+C3+A9"),
        ("", ""),
        # RFC 4954 §5's example of AUTH=.
        ("e=mc2@example.com", "e+3Dmc2@example.com"),
        # RFC 3461 §4: "+" and "=" are always encoded; the rest of ! .. ~ never.
        ("a+b=c!~", "a+2Bb+3Dc!~"),
    ],
)
def test_xtext_encodes_plus_equals_and_octets_outside_printable_ascii(
    text: str, xtext: str
) -> None:
    assert xtext_encode(text) == xtext
    assert xtext_decode(xtext) == text


@pytest.mark.parametrize(
    "xtext",
    [
        pytest.param("a+2b", id="lowercase-hex"),
        pytest.param("a+G0", id="not-hex"),
        pytest.param("a+", id="plus-at-end"),
        pytest.param("a+2", id="one-hex-digit"),
        pytest.param("a=b", id="raw-equals"),
        pytest.param("a b", id="raw-space"),
        pytest.param("a\x7fb", id="raw-DEL"),
        pytest.param("é", id="raw-non-ASCII"),
    ],
)
def test_xtext_decode_refuses_what_is_not_xtext(xtext: str) -> None:
    # RFC 3461 §4: hexchar is "+" and two UPPER case hexadecimal digits.
    with pytest.raises(ValueError, match="not xtext"):
        xtext_decode(xtext)


def test_xtext_keeps_octets_that_are_not_utf8() -> None:
    assert xtext_encode(xtext_decode("a+FFb")) == "a+FFb"


# --- MAIL parameters --------------------------------------------------------------------


def test_envid_of_100_characters_is_accepted() -> None:
    assert mail("ENVID=" + "x" * 100) == {"envid": "x" * 100}


def test_envid_over_100_characters_is_refused_501() -> None:
    # RFC 3461 §4.4: an ENVID is at most 100 characters.
    assert refusal(lambda: mail("ENVID=" + "x" * 101)) == (501, "5.5.4")


def test_envid_is_xtext_decoded() -> None:
    assert mail("ENVID=QQ+2B314159") == {"envid": "QQ+314159"}
    assert refusal(lambda: mail("ENVID=QQ+zz")) == (501, "5.5.4")


def test_auth_null_submitter_is_kept_as_angle_brackets() -> None:
    # RFC 4954 §5: AUTH=<> when the submitter is not known or not trusted.
    assert mail("AUTH=<>") == {"auth": "<>"}


def test_auth_submitter_is_xtext_decoded() -> None:
    assert mail("AUTH=e+3Dmc2@example.com") == {"auth": "e=mc2@example.com"}


def test_auth_parameter_without_value_is_refused_501() -> None:
    assert refusal(lambda: mail("AUTH")) == (501, "5.5.4")


def test_auth_parameter_needs_auth_offered() -> None:
    assert refusal(lambda: mail("AUTH=<>", Extensions(dsn=True))) == (555, "5.5.4")


@pytest.mark.parametrize(
    ("value", "body"),
    [
        ("7BIT", "7BIT"),
        ("8BITMIME", "8BITMIME"),
        ("8bitmime", "8BITMIME"),
        ("binarymime", "BINARYMIME"),
    ],
)
def test_body_values_are_read_case_insensitively(value: str, body: str) -> None:
    # RFC 6152 §3 (7BIT, 8BITMIME) and RFC 3030 §3 (BINARYMIME).
    assert mail(f"BODY={value}") == {"body": body}


@pytest.mark.parametrize("value", ["BODY=8BIT", "BODY=BINARY", "BODY=", "BODY"])
def test_unknown_or_missing_body_value_is_refused_501(value: str) -> None:
    assert refusal(lambda: mail(value)) == (501, "5.5.4")


@pytest.mark.parametrize(
    ("value", "ext"),
    [
        ("BODY=7BIT", Extensions()),
        ("BODY=8BITMIME", Extensions()),
        ("BODY=BINARYMIME", Extensions(eightbitmime=True)),
        ("BODY=8BITMIME", Extensions(binarymime=True, chunking=True)),
    ],
)
def test_body_value_not_offered_is_refused_555(value: str, ext: Extensions) -> None:
    assert refusal(lambda: mail(value, ext)) == (555, "5.5.4")


def test_7bit_body_is_accepted_when_only_8bitmime_is_offered() -> None:
    assert mail("BODY=7BIT", Extensions(eightbitmime=True)) == {"body": "7BIT"}


def test_size_is_read_as_an_integer() -> None:
    assert mail("SIZE=1000") == {"size": 1000}
    assert mail("SIZE=0") == {"size": 0}


@pytest.mark.parametrize(
    "value", ["SIZE=abc", "SIZE=-1", "SIZE=1.5", "SIZE=\u0663", "SIZE", "SIZE="]
)
def test_malformed_size_is_refused_501(value: str) -> None:
    assert refusal(lambda: mail(value)) == (501, "5.5.4")


def test_size_over_the_advertised_limit_is_refused_552() -> None:
    # RFC 1870 §6: a declared size over the fixed maximum is refused at once.
    assert refusal(lambda: mail("SIZE=1001")) == (552, "5.3.4")


def test_size_over_our_own_limit_is_refused_552() -> None:
    ext = Extensions(size=0)  # offered with no fixed limit (RFC 1870 §4)
    assert mail("SIZE=5000", ext, Limits(message_size=None)) == {"size": 5000}
    assert refusal(lambda: mail("SIZE=5000", ext, Limits(message_size=4999))) == (552, "5.3.4")


def test_size_needs_size_offered() -> None:
    assert refusal(lambda: mail("SIZE=10", Extensions(dsn=True))) == (555, "5.5.4")


def test_smtputf8_takes_no_value() -> None:
    assert mail("SMTPUTF8") == {"smtputf8": True}
    assert refusal(lambda: mail("SMTPUTF8=yes")) == (501, "5.5.4")
    assert refusal(lambda: mail("SMTPUTF8", Extensions())) == (555, "5.5.4")


@pytest.mark.parametrize(("value", "ret"), [("FULL", "FULL"), ("hdrs", "HDRS")])
def test_ret_is_full_or_hdrs(value: str, ret: str) -> None:
    # RFC 3461 §4.3.
    assert mail(f"RET={value}", DSN) == {"ret": ret}


@pytest.mark.parametrize("value", ["RET=ALL", "RET"])
def test_other_ret_is_refused_501(value: str) -> None:
    assert refusal(lambda: mail(value, DSN)) == (501, "5.5.4")


def test_dsn_parameters_need_dsn_offered() -> None:
    ext = Extensions(size=0)
    assert refusal(lambda: mail("RET=FULL", ext)) == (555, "5.5.4")
    assert refusal(lambda: mail("ENVID=x", ext)) == (555, "5.5.4")
    assert refusal(lambda: rcpt("NOTIFY=NEVER", ext)) == (555, "5.5.4")
    assert refusal(lambda: rcpt("ORCPT=rfc822;a@example.com", ext)) == (555, "5.5.4")


@pytest.mark.parametrize("value", ["SIZE=1 SIZE=2", "size=1 SIZE=1", "BODY=7BIT body=7BIT"])
def test_repeated_parameter_is_refused_501(value: str) -> None:
    assert refusal(lambda: mail(value)) == (501, "5.5.4")


@pytest.mark.parametrize("value", ["X-FOO=bar", "NOTIFY=NEVER", "ORCPT=rfc822;a@b"])
def test_unknown_mail_parameter_is_refused_555(value: str) -> None:
    # RFC 5321 §4.1.1.11: 555 for parameters not recognized.
    assert refusal(lambda: mail(value)) == (555, "5.5.4")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("-X=1", id="keyword-starts-with-dash"),
        pytest.param("X_Y=1", id="underscore-in-keyword"),
        pytest.param("ENVID=a=b", id="equals-in-value"),
        pytest.param("=1", id="no-keyword"),
    ],
)
def test_malformed_parameter_is_refused_501(value: str) -> None:
    # RFC 5321 §4.1.2: esmtp-keyword is (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
    # esmtp-value has no "=", SP or controls.
    assert refusal(lambda: mail(value)) == (501, "5.5.4")


def test_doubled_spaces_between_parameters_are_tolerated() -> None:
    assert mail("SIZE=10  BODY=8BITMIME") == {"size": 10, "body": "8BITMIME"}


# --- RCPT parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "notify"),
    [
        ("NEVER", ("NEVER",)),
        ("never", ("NEVER",)),
        ("SUCCESS", ("SUCCESS",)),
        ("SUCCESS,FAILURE,DELAY", ("SUCCESS", "FAILURE", "DELAY")),
        ("delay,failure", ("DELAY", "FAILURE")),
    ],
)
def test_notify_is_never_or_a_list_of_conditions(value: str, notify: tuple[str, ...]) -> None:
    # RFC 3461 §4.1.
    assert rcpt(f"NOTIFY={value}") == {"notify": notify}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("NOTIFY=NEVER,SUCCESS", id="NEVER-first"),
        pytest.param("NOTIFY=FAILURE,NEVER", id="NEVER-last"),
        pytest.param("NOTIFY=NEVER,NEVER", id="NEVER-twice"),
        pytest.param("NOTIFY=SUCCESS,SUCCESS", id="repeated"),
        pytest.param("NOTIFY=SOMETIMES", id="unknown"),
        pytest.param("NOTIFY=SUCCESS,", id="empty-item"),
        pytest.param("NOTIFY", id="no-value"),
    ],
)
def test_notify_never_with_others_or_unknown_is_refused_501(value: str) -> None:
    # RFC 3461 §4.1: "NEVER" must appear alone.
    assert refusal(lambda: rcpt(value)) == (501, "5.5.4")


@pytest.mark.parametrize(
    ("value", "orcpt"),
    [
        ("rfc822;Bob@Example.COM", "rfc822;Bob@Example.COM"),
        ("rfc822;b+2Bc@example.com", "rfc822;b+c@example.com"),
        ("x-type;a", "x-type;a"),
        ("rfc822;", "rfc822;"),
    ],
)
def test_orcpt_is_an_address_type_and_an_xtext_address(value: str, orcpt: str) -> None:
    # RFC 3461 §4.2: "ORCPT=" addr-type ";" xtext.
    assert rcpt(f"ORCPT={value}") == {"orcpt": orcpt}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("ORCPT=rfc822-Bob@Example.COM", id="no-semicolon"),
        pytest.param("ORCPT=;a@example.com", id="no-addr-type"),
        pytest.param("ORCPT=-x;a@example.com", id="bad-addr-type"),
        pytest.param("ORCPT=rfc822;a+zz", id="bad-xtext"),
        pytest.param("ORCPT", id="no-value"),
    ],
)
def test_malformed_orcpt_is_refused_501(value: str) -> None:
    assert refusal(lambda: rcpt(value)) == (501, "5.5.4")


@pytest.mark.parametrize("value", ["SIZE=1", "BODY=7BIT", "X-FOO"])
def test_unknown_rcpt_parameter_is_refused_555(value: str) -> None:
    assert refusal(lambda: rcpt(value)) == (555, "5.5.4")


# --- writing parameters ---------------------------------------------------------------------


def test_mail_parameters_are_written_in_a_fixed_order() -> None:
    event = MailFrom(
        "a@example.com",
        size=10,
        body="8BITMIME",
        smtputf8=True,
        ret="HDRS",
        envid="id=1",
        auth="e=mc2@example.com",
    )
    words = mail_params(event)
    assert words == [
        "SIZE=10",
        "BODY=8BITMIME",
        "SMTPUTF8",
        "RET=HDRS",
        "ENVID=id+3D1",
        "AUTH=e+3Dmc2@example.com",
    ]
    assert mail(" ".join(words), EVERYTHING, Limits()) == {
        "size": 10,
        "body": "8BITMIME",
        "smtputf8": True,
        "ret": "HDRS",
        "envid": "id=1",
        "auth": "e=mc2@example.com",
    }
    assert mail_params(MailFrom("a@example.com", auth="<>")) == ["AUTH=<>"]
    assert mail_params(MailFrom("")) == []


def test_rcpt_parameters_are_written_with_orcpt_in_xtext() -> None:
    event = RcptTo("b@example.com", notify=("SUCCESS", "DELAY"), orcpt="rfc822;b+c@example.com")
    assert rcpt_params(event) == ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;b+2Bc@example.com"]
    assert rcpt_params(RcptTo("b@example.com")) == []


# --- through the server engine ----------------------------------------------------------------


def _server_after_mail(ext: Extensions, line: bytes) -> object:
    server = Connection(SERVER)
    server.send(Reply(220))
    server.receive_data(b"EHLO c.example\r\n")
    server.next_event()
    server.send(ext.ehlo_reply("mx.example"))
    server.receive_data(line)
    return server.next_event()


def test_server_refuses_a_parameter_it_did_not_advertise_555() -> None:
    event = _server_after_mail(Extensions(), b"MAIL FROM:<a@example.com> BODY=8BITMIME\r\n")
    assert isinstance(event, Rejected)
    assert (event.reply.code, event.reply.status) == (555, "5.5.4")


def test_server_reads_the_parameters_it_advertised() -> None:
    event = _server_after_mail(
        EVERYTHING, b"MAIL FROM:<a@example.com> size=100 Body=8bitmime AUTH=<>\r\n"
    )
    assert event == MailFrom("a@example.com", size=100, body="8BITMIME", auth="<>")


# --- EHLO keywords (RFC 5321 §4.1.1.1) ----------------------------------------------------------


def test_extensions_keywords_are_case_insensitive() -> None:
    assert Extensions.parse(["pipelining", "size 1000", "8bitmime", "StartTLS", "dsn"]) == (
        Extensions(size=1000, pipelining=True, eightbitmime=True, starttls=True, dsn=True)
    )


def test_extensions_read_the_old_auth_equals_form() -> None:
    # Pre-RFC 4954 servers send "AUTH=LOGIN PLAIN" (often beside "AUTH LOGIN PLAIN").
    assert Extensions.parse(["AUTH=LOGIN PLAIN"]).auth == ("LOGIN", "PLAIN")
    assert Extensions.parse(["AUTH PLAIN LOGIN", "AUTH=LOGIN"]).auth == ("PLAIN", "LOGIN")
    assert Extensions.parse(["auth cram-md5 plain"]).auth == ("CRAM-MD5", "PLAIN")


def test_extensions_auth_without_mechanisms_is_offered_with_none() -> None:
    assert Extensions.parse(["AUTH"]).auth == ()
    assert Extensions.parse(["PIPELINING"]).auth is None


@pytest.mark.parametrize(
    ("line", "size"),
    [
        ("SIZE", 0),
        ("SIZE abc", 0),
        ("SIZE 0", 0),
        ("SIZE \u0661\u0662", 0),
        ("SIZE 35882577", 35882577),
    ],
)
def test_extensions_size_without_a_number_means_no_fixed_limit(line: str, size: int) -> None:
    # RFC 1870 §4: SIZE with no number (or 0) announces no fixed maximum.
    assert Extensions.parse([line]).size == size


def test_extensions_keep_unknown_keywords() -> None:
    parsed = Extensions.parse(["X-EXPS GSSAPI NTLM", "vrfy", "ETRN"])
    assert parsed.other == (("X-EXPS", "GSSAPI NTLM"), ("VRFY", ""), ("ETRN", ""))


def test_extensions_ignore_blank_lines_and_surrounding_spaces() -> None:
    assert Extensions.parse(["", "  PIPELINING  ", " "]) == Extensions(pipelining=True)


def test_extensions_lines_are_written_in_a_fixed_order() -> None:
    ext = Extensions(
        size=0,
        eightbitmime=True,
        pipelining=True,
        auth=("PLAIN", "LOGIN"),
        chunking=True,
        other=(("X-FOO", "bar"), ("ETRN", "")),
    )
    assert ext.lines() == [
        "SIZE",
        "8BITMIME",
        "PIPELINING",
        "CHUNKING",
        "AUTH PLAIN LOGIN",
        "X-FOO bar",
        "ETRN",
    ]
    assert Extensions().lines() == []


def test_ehlo_reply_puts_the_domain_first() -> None:
    reply = Extensions(size=1000, pipelining=True).ehlo_reply("mx.example", "Hello there")
    assert reply == Reply(250, None, "mx.example Hello there\nSIZE 1000\nPIPELINING")
    assert Extensions().ehlo_reply("mx.example") == Reply(250, None, "mx.example")
