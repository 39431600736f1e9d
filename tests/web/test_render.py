"""parse_message and part_bytes: bodies, numbered parts, inline images, attached
messages, and malformed MIME that degrades to raw text instead of raising."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.web import samples

from smtpx.web import _render
from smtpx.web._render import MessageView, html_for_iframe, parse_message, part_bytes


def part_url(n: int) -> str:
    return f"/api/v1/messages/m/parts/{n}"


def every_part(raw: bytes, view: MessageView) -> list[tuple[str, str | None, bytes]]:
    found = [part_bytes(raw, part.index) for part in view.parts]
    assert None not in found
    return [p for p in found if p is not None]


def test_plain_message_is_one_text_part() -> None:
    raw = samples.plain()
    view = parse_message(raw)
    assert view.header("subject") == "Plain café"
    assert view.header("SUBJECT") == "Plain café"
    assert view.header("x-absent") is None
    assert [name for name, _ in view.headers][:4] == ["From", "To", "Subject", "Date"]
    assert view.text == "Hello, Bob.\r\nSee you.\r\n"
    assert view.html is None
    assert len(view.parts) == 1
    assert view.parts[0].content_type == "text/plain"
    assert view.text_part == 0
    assert view.defects == ()
    assert part_bytes(raw, 0) == ("text/plain; charset=utf-8", None, b"Hello, Bob.\r\nSee you.\r\n")


def test_html_only_message_has_no_text() -> None:
    view = parse_message(samples.html_only())
    assert view.text is None
    assert view.html is not None
    assert "<b>Bob</b>" in view.html
    assert view.html_part == 0


def test_alternative_gives_both_bodies_from_their_parts() -> None:
    raw = samples.alternative()
    view = parse_message(raw)
    assert view.text == "Hello, Bob.\r\n"
    assert view.html == "<p>Hello, <i>Bob</i>.</p>\r\n"
    assert [p.content_type for p in view.parts] == ["text/plain", "text/html"]
    assert (view.text_part, view.html_part) == (0, 1)
    assert part_bytes(raw, 1) == (
        "text/html; charset=utf-8",
        None,
        b"<p>Hello, <i>Bob</i>.</p>\r\n",
    )


def test_attachments_are_numbered_with_names_sizes_and_decoded_bytes() -> None:
    raw = samples.with_attachments()
    view = parse_message(raw)
    assert view.text == "Two files attached.\r\n"
    body, pdf, csv = view.parts
    assert (body.index, pdf.index, csv.index) == (0, 1, 2)
    assert not body.is_attachment
    assert (pdf.content_type, pdf.filename, pdf.disposition) == (
        "application/pdf",
        "report.pdf",
        "attachment",
    )
    assert pdf.is_attachment
    assert pdf.size == len(samples.PDF)
    assert csv.filename == "données.csv"
    assert part_bytes(raw, 1) == ("application/pdf", "report.pdf", samples.PDF)
    content_type, filename, data = every_part(raw, view)[2]
    assert (content_type, filename) == ("text/csv", "données.csv")  # no charset given
    assert data == b"a,b\r\n1,2\r\n"
    assert csv.size == len(data)


def test_part_bytes_beyond_the_last_part_is_none() -> None:
    raw = samples.with_attachments()
    assert part_bytes(raw, 3) is None
    assert part_bytes(raw, -1) is None


def test_inline_image_keeps_its_content_id_and_bytes() -> None:
    raw = samples.inline_image()
    view = parse_message(raw)
    assert [p.content_type for p in view.parts] == ["text/plain", "text/html", "image/png"]
    image = view.parts[2]
    assert image.content_id == "logo@example.org"  # without the angle brackets
    assert image.size == len(samples.PNG)
    assert part_bytes(raw, 2) == ("image/png", None, samples.PNG)


def test_inline_image_reference_points_at_its_part() -> None:
    view = parse_message(samples.inline_image())
    html = html_for_iframe(view, allow_remote=False, part_url=part_url)
    assert 'src="/api/v1/messages/m/parts/2"' in html
    assert "cid:" not in html
    assert "tracker.example" not in html


def test_remote_images_load_only_when_allowed() -> None:
    view = parse_message(samples.inline_image())
    html = html_for_iframe(view, allow_remote=True, part_url=part_url)
    assert 'src="https://tracker.example/pixel.gif"' in html
    assert 'src="/api/v1/messages/m/parts/2"' in html


def test_a_message_without_html_shows_its_text_in_the_iframe_escaped() -> None:
    raw = samples.as_bytes(samples.headed())
    message = samples.headed()
    message.set_content("a <b> & c\n")
    view = parse_message(samples.as_bytes(message))
    assert parse_message(raw).text is not None
    html = html_for_iframe(view, allow_remote=False, part_url=part_url)
    assert "a &lt;b&gt; &amp; c" in html
    assert html.startswith("<!DOCTYPE html>")


def test_attached_message_is_a_part_followed_by_its_own_parts() -> None:
    raw = samples.forwarded()
    view = parse_message(raw)
    assert [(p.content_type, p.depth) for p in view.parts] == [
        ("text/plain", 0),
        ("message/rfc822", 0),
        ("text/plain", 1),
        ("application/pdf", 1),
    ]
    assert view.text == "Forwarding this.\r\n"  # the outer message's body, not the inner
    assert view.parts[3].filename == "inner.pdf"
    content_type, _, data = every_part(raw, view)[1]
    assert content_type == "message/rfc822"
    inner = BytesParser(policy=policy.default).parsebytes(data)
    assert inner["Subject"] == "Inner"
    assert b"\r\n" in data  # served with SMTP line ends
    assert part_bytes(raw, 3) == ("application/pdf", "inner.pdf", samples.PDF)


def test_received_headers_become_the_chain_in_header_order() -> None:
    message = samples.headed()
    message["Received"] = (
        "from b.example ([192.0.2.2]) by c.example with ESMTPS id 2; Tue, 1 Jul 2025 10:00:02 +0000"
    )
    message["Received"] = (
        "from a.example ([192.0.2.1]) by b.example with SMTP id 1; Tue, 1 Jul 2025 10:00:01 +0000"
    )
    message.set_content("x\n")
    view = parse_message(samples.as_bytes(message))
    assert [(hop.from_, hop.by, hop.id) for hop in view.received] == [
        ("b.example", "c.example", "2"),
        ("a.example", "b.example", "1"),
    ]


def test_missing_boundary_shows_the_body_as_raw_text() -> None:
    view = parse_message(samples.MISSING_BOUNDARY)
    assert view.text is not None
    assert "the body" in view.text
    assert "--x" in view.text
    assert any("boundary" in defect for defect in view.defects)
    assert view.header("subject") == "no boundary"


def test_unknown_charset_is_read_as_utf8() -> None:
    view = parse_message(samples.BAD_CHARSET)
    assert view.text == "café\r\n"
    assert view.defects == ("part 0: unknown charset 'x-no-such-charset', read as UTF-8",)
    raw = part_bytes(samples.BAD_CHARSET, 0)
    assert raw is not None
    assert raw[0] == "text/plain; charset=x-no-such-charset"


def test_bad_base64_decodes_what_it_can_and_says_so() -> None:
    view = parse_message(samples.BAD_BASE64)
    assert view.text is not None
    assert view.text.startswith("Hello ")
    assert any("base64" in defect for defect in view.defects)


def test_undecodable_text_gets_replacement_characters() -> None:
    raw = b"Subject: latin\r\nContent-Type: text/plain\r\n\r\ncaf\xe9 \xff\r\n"
    view = parse_message(raw)
    assert view.text == "caf\ufffd \ufffd\r\n"
    assert view.defects == (
        "part 0: text that is not us-ascii, read as UTF-8 with replacement characters",
    )


def test_eight_bit_headers_are_utf8_or_replaced() -> None:
    raw = "Subject: Grüße\r\nFrom: Zoë <zoë@example.org>\r\n\r\nx\r\n".encode()
    view = parse_message(raw)
    assert view.header("subject") == "Grüße"
    assert view.header("from") == "Zoë <zoë@example.org>"
    assert view.defects == ()  # RFC 6532: UTF-8 headers are allowed
    latin = parse_message(b"From: caf\xe9 <c@example.org>\r\n\r\nx\r\n")
    assert latin.header("from") == "caf\ufffd <c@example.org>"
    assert latin.defects == ("header From: Non-ASCII characters found in header token",)


def test_unclosed_multipart_keeps_what_arrived() -> None:
    view = parse_message(samples.UNCLOSED_MULTIPART)
    assert view.html is not None
    assert "half a message" in view.html
    assert view.defects


@pytest.mark.parametrize("raw", [*samples.BROKEN, b"", b"\r\n", b"\x00\xff" * 50, b"::::\r\n\r\n"])
def test_malformed_messages_never_raise(raw: bytes) -> None:
    view = parse_message(raw)
    html_for_iframe(view, allow_remote=False, part_url=part_url)
    for n in range(-1, len(view.parts) + 2):
        part_bytes(raw, n)


def test_a_parser_failure_shows_the_whole_message_as_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(raw: bytes) -> MessageView:
        raise RecursionError("too deep")

    monkeypatch.setattr(_render, "_parse", explode)
    view = parse_message(b"Subject: x\r\n\r\nbody \xff\r\n")
    assert view.text == "Subject: x\r\n\r\nbody \ufffd\r\n"
    assert view.parts == ()
    assert view.defects == ("the message could not be parsed (RecursionError): shown as sent",)


def test_deep_nesting_is_walked_without_recursion() -> None:
    depth = 400
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw = b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    view = parse_message(raw)  # the stdlib parser may give up; either way no exception
    assert view.text is not None
    assert "bottom" in view.text


_SAMPLES = [
    samples.plain(),
    samples.alternative(),
    samples.with_attachments(),
    samples.inline_image(),
    samples.forwarded(),
    *samples.BROKEN,
]


@given(
    st.sampled_from(_SAMPLES),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=400),
    st.binary(max_size=40),
)
def test_damaged_messages_never_raise(raw: bytes, at: int, cut: int, junk: bytes) -> None:
    at %= len(raw) + 1
    damaged = raw[:at] + junk + raw[at + cut :]
    view = parse_message(damaged)
    html_for_iframe(view, allow_remote=False, part_url=part_url)
    for part in view.parts:
        assert part_bytes(damaged, part.index) is not None
