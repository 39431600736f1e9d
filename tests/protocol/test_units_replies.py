"""Replies as values: the standard table, validation, classes, and the wire form."""

from __future__ import annotations

import pytest

from smtpx.protocol import (
    CLIENT,
    STANDARD_REPLIES,
    Connection,
    LocalProtocolError,
    Reply,
    format_reply,
    standard_reply,
)
from smtpx.protocol._replies import split_status

# RFC 5321 §4.2.2-4.2.3, RFC 3207 (454), RFC 4954 (235 334 454 530 534 535),
# RFC 1870 (552), RFC 5321 §4.1.1.11 (555).
LISTED_CODES = [
    211, 214, 220, 221, 235, 250, 251, 252, 334, 354,
    421, 450, 451, 452, 454,
    500, 501, 502, 503, 504, 530, 534, 535, 550, 551, 552, 553, 554, 555,
]  # fmt: skip


@pytest.mark.parametrize("code", LISTED_CODES)
def test_standard_reply_exists_for_every_listed_code(code: int) -> None:
    reply = STANDARD_REPLIES[code]
    assert reply.code == code
    assert standard_reply(code) is reply
    assert reply.text or code == 334  # 334's text is the challenge (RFC 4954 §4)


@pytest.mark.parametrize("code", sorted(STANDARD_REPLIES))
def test_standard_reply_enhanced_status_class_matches_its_code(code: int) -> None:
    # RFC 3463 §2: the class is 2, 4 or 5, the first digit of the reply code;
    # 3yz replies have no enhanced status.
    status = STANDARD_REPLIES[code].status
    if code // 100 == 3:
        assert status is None
    else:
        assert status is not None
        assert status.split(".")[0] == str(code)[0]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (221, "2.0.0"),
        (235, "2.7.0"),
        (421, "4.3.0"),
        (454, "4.7.0"),
        (500, "5.5.2"),
        (501, "5.5.4"),
        (502, "5.5.1"),
        (503, "5.5.1"),
        (530, "5.7.0"),
        (535, "5.7.8"),
        (552, "5.3.4"),
        (555, "5.5.4"),
    ],
)
def test_standard_reply_uses_the_rfc_enhanced_status(code: int, status: str) -> None:
    assert STANDARD_REPLIES[code].status == status


def test_standard_reply_with_other_text_keeps_code_and_status() -> None:
    assert standard_reply(550, "No such user here") == Reply(550, "5.1.1", "No such user here")


@pytest.mark.parametrize("code", [0, 199, 600, 999, -250])
def test_reply_code_outside_200_599_is_refused(code: int) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(code)


@pytest.mark.parametrize("code", [200, 250, 354, 599])
def test_reply_code_inside_200_599_is_accepted(code: int) -> None:
    assert Reply(code).code == code


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (250, "5.0.0"),
        (550, "2.1.5"),
        (451, "5.3.0"),
        (354, "3.0.0"),  # RFC 3463 §2: there is no class 3
        (250, "2.0"),
        (250, "2.0.0.0"),
        (250, "2.1000.0"),
        (250, "2.0.1000"),
        (250, "x.y.z"),
        (250, ""),
        (250, " 2.0.0"),
    ],
)
def test_enhanced_status_that_does_not_fit_the_code_is_refused(code: int, status: str) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(code, status, "text")


@pytest.mark.parametrize("status", ["2.0.0", "2.1.5", "2.999.999", "2.10.1"])
def test_enhanced_status_of_one_to_three_digits_is_accepted(status: str) -> None:
    assert Reply(250, status).status == status


@pytest.mark.parametrize(
    ("code", "positive", "intermediate", "transient", "permanent"),
    [
        (220, True, False, False, False),
        (299, True, False, False, False),
        (300, False, True, False, False),
        (354, False, True, False, False),
        (399, False, True, False, False),
        (400, False, False, True, False),
        (421, False, False, True, False),
        (499, False, False, True, False),
        (500, False, False, False, True),
        (554, False, False, False, True),
    ],
)
def test_reply_class_follows_the_first_digit(
    code: int, positive: bool, intermediate: bool, transient: bool, permanent: bool
) -> None:
    # RFC 5321 §4.2.1: 2 done, 3 go on, 4 try later, 5 give up.
    reply = Reply(code)
    assert (reply.is_positive, reply.is_intermediate, reply.is_transient, reply.is_permanent) == (
        positive,
        intermediate,
        transient,
        permanent,
    )


def test_reply_lines_split_the_text_on_lf() -> None:
    assert Reply(250, None, "mx.example\nPIPELINING\nSIZE 100").lines == [
        "mx.example",
        "PIPELINING",
        "SIZE 100",
    ]
    assert Reply(250).lines == [""]


def test_reply_str_is_one_readable_line() -> None:
    assert str(Reply(550, "5.1.1", "No such user")) == "550 5.1.1 No such user"
    assert str(Reply(250, None, "a\nb")) == "250 a / b"
    assert str(Reply(250)) == "250"


def test_replies_are_equal_by_value() -> None:
    reply = Reply(250, "2.0.0", "OK")
    format_reply(reply)  # caches the wire form, which must not take part in equality
    assert reply == Reply(250, "2.0.0", "OK")
    assert hash(reply) == hash(Reply(250, "2.0.0", "OK"))


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (Reply(250, "2.1.0", "Sender OK"), b"250 2.1.0 Sender OK\r\n"),
        (Reply(250, None, "OK"), b"250 OK\r\n"),
        (Reply(354, None, "Go ahead"), b"354 Go ahead\r\n"),
        (Reply(250), b"250\r\n"),
        (Reply(250, "2.0.0"), b"250 2.0.0\r\n"),
        # RFC 5321 §4.2.1: "-" after the code on every line but the last.
        (
            Reply(250, None, "mx.example\nPIPELINING\nSIZE 100"),
            b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n",
        ),
        # RFC 2034 §3: the enhanced status starts every line of the reply.
        (Reply(550, "5.7.1", "Denied\nby policy"), b"550-5.7.1 Denied\r\n550 5.7.1 by policy\r\n"),
        (Reply(250, None, "a\n\nb"), b"250-a\r\n250-\r\n250 b\r\n"),
        (Reply(250, None, "héllo"), "250 héllo\r\n".encode()),
    ],
)
def test_reply_wire_form(reply: Reply, wire: bytes) -> None:
    assert format_reply(reply) == wire
    assert format_reply(reply) == wire  # the cached form is the same


@pytest.mark.parametrize(
    ("code", "texts", "reply"),
    [
        (250, ["2.1.0 Sender OK"], Reply(250, "2.1.0", "Sender OK")),
        (250, ["2.0.0"], Reply(250, "2.0.0", "")),
        (550, ["5.7.1 Denied", "5.7.1 by policy"], Reply(550, "5.7.1", "Denied\nby policy")),
        # A status of the wrong class is text, not a status (RFC 3463 §2).
        (250, ["5.0.0 odd"], Reply(250, None, "5.0.0 odd")),
        # A status must be followed by a space or end the line.
        (250, ["2.0.0x"], Reply(250, None, "2.0.0x")),
        (250, ["2.0 OK"], Reply(250, None, "2.0 OK")),
        (250, ["OK"], Reply(250, None, "OK")),
        (354, ["3.0.0 Go"], Reply(354, None, "3.0.0 Go")),
        # Lines that do not repeat the status are kept as they came.
        (250, ["2.0.0 first", "second"], Reply(250, "2.0.0", "first\nsecond")),
    ],
)
def test_split_status_lifts_the_enhanced_status(code: int, texts: list[str], reply: Reply) -> None:
    assert split_status(code, texts) == reply


def test_client_reads_a_multiline_reply_with_enhanced_status() -> None:
    client = Connection(CLIENT)
    client.receive_data(b"220-2.0.0 mx.example\r\n220 2.0.0 ESMTP ready\r\n")
    assert client.next_event() == Reply(220, "2.0.0", "mx.example\nESMTP ready")


@pytest.mark.parametrize("line", [b"250", b"250 ", b"250 OK"])
def test_client_reads_a_reply_line_with_or_without_text(line: bytes) -> None:
    client = Connection(CLIENT)
    client.receive_data(line + b"\r\n")
    assert client.next_event() == Reply(250, None, line[4:].decode())
