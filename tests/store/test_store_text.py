"""The text the full-text index gets: which parts, decoded how, bounded, never an exception."""

from __future__ import annotations

import io
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.store.test_store_summary import mime_parts

from smtpx.store import _summary
from smtpx.store._query import tokens
from smtpx.store._summary import message_text, summarize, summarize_with_text
from smtpx.store._text import html_text


def text_of(raw: bytes) -> str:
    return message_text(io.BytesIO(raw))


def multipart(*parts: bytes, subtype: bytes = b"mixed") -> bytes:
    body = b"".join(b"--b\r\n" + part + b"\r\n" for part in parts)
    return b"Content-Type: multipart/" + subtype + b"; boundary=b\r\n\r\n" + body + b"--b--\r\n"


def test_a_message_without_content_type_is_plain_text() -> None:
    assert text_of(b"Subject: x\r\n\r\nHello\r\nworld\r\n") == "Hello\r\nworld"


def test_transfer_encodings_and_charsets_are_undone() -> None:
    assert text_of(
        multipart(
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
            b"\r\nQ2Fmw6kgY3LDqG1l\r\n",
            b'Content-Type: text/plain; charset="ISO-8859-1"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\nD=E9j=E0 =\r\nvu\r\n",
            b"Content-Type: text/plain; charset=x-unknown\r\n\r\nna\xc3\xafve\r\n",
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\nmislabelled \xc3\xa9\r\n",
            b"Content-Type: text/plain; charset=rot13\r\n\r\nnot rot13\r\n",
        )
    ).split() == ["Café", "crème", "Déjà", "vu", "naïve", "mislabelled", "é", "not", "rot13"]


def test_base64_cut_short_is_decoded_up_to_its_last_whole_quantum() -> None:
    part = b"Content-Transfer-Encoding: base64\r\n\r\n"
    assert text_of(part + b"aGVsbG8gd29y") == "hello wor"
    assert text_of(part + b"aGVsbG8gd29yb") == "hello wor"
    assert text_of(part + b"aGk=\r\n") == "hi"
    assert text_of(part + b"!!!") == ""


def test_html_is_read_as_a_reader_sees_it() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<p>One&nbsp;<b>bold</b>word</p><p>Two &amp; three</p><script>x()</script>"
        "<br/>after<svg><text>drawn</text></svg><!-- note --> end"
    )
    assert html_text(html) == "\nOne\xa0boldword\n\nTwo & three\n\nafter end"
    assert html_text("<p>unclosed <b>tags") == "\nunclosed tags"
    assert html_text("<<<>>>&&&;") == "<<<>>>&&&;"


def test_plain_parts_win_html_is_read_only_without_them() -> None:
    plain = b"Content-Type: text/plain\r\n\r\nthe plain text"
    html = b"Content-Type: text/html\r\n\r\n<p>the html text</p>"
    assert text_of(multipart(plain, html, subtype=b"alternative")) == "the plain text"
    assert text_of(multipart(html)) == "the html text"
    empty_plain = b"Content-Type: text/plain\r\n\r\n  "
    assert text_of(multipart(empty_plain, html)) == "the html text"


def test_attachments_and_forwarded_messages_are_not_text() -> None:
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nmine",
        b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nfile",
        b"Content-Type: text/html; name=page.html\r\n\r\n<p>named</p>",
        b"Content-Type: message/rfc822\r\n\r\nSubject: fwd\r\n\r\nforwarded",
        b"Content-Type: image/png\r\n\r\n\x89PNG",
    )
    assert text_of(raw) == "mine"
    assert summarize(io.BytesIO(raw)).attachments == ("a.txt", "page.html")


def test_text_is_cut_at_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_summary, "TEXT_LIMIT", 10)
    assert text_of(b"\r\n" + b"0123456789abcdef\r\n") == "0123456789"
    monkeypatch.setattr(_summary, "TEXT_LIMIT", 1000)
    monkeypatch.setattr(_summary, "TEXT_SOURCE_LIMIT", 14)
    # The source limit counts the body octets of every text part together (12 here:
    # "0123456789" and the line break that belongs to the delimiter after it).
    raw = multipart(b"\r\n0123456789", b"\r\nabcdefghij", b"\r\nnever read")
    assert text_of(raw).split() == ["0123456789", "ab"]


def test_summarize_with_text_gives_the_summary_summarize_gives() -> None:
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nbody", b"Content-Disposition: attachment\r\n\r\nx"
    )
    raw = b"Subject: both\r\nFrom: a@example.org\r\n" + raw
    summary, text = summarize_with_text(io.BytesIO(raw))
    assert summary == summarize(io.BytesIO(raw))
    assert (summary.subject, summary.attachments, text) == ("both", ("",), "body")


def test_a_body_with_no_blank_line_after_the_headers_is_still_text() -> None:
    assert text_of(b"Subject: x\r\nthis line is no header\r\nnor this one\r\n") == (
        "this line is no header\r\nnor this one"
    )


@given(mime_parts(), st.text(st.characters(codec="utf-8"), min_size=1, max_size=50))
def test_generated_messages_agree_with_the_summary_and_keep_their_text(
    message: EmailMessage, words: str
) -> None:
    # The generated parts are all application/octet-stream: the text is the part added.
    text = EmailMessage()
    text.set_content(words, disposition="inline")
    if message.is_multipart():
        message.attach(text)
    raw = message.as_bytes(policy=policy.default)
    summary, found = summarize_with_text(io.BytesIO(raw))
    assert summary == summarize(io.BytesIO(raw))
    found.encode("utf-8")
    if message.is_multipart():
        assert tokens(found) == tokens(words)


@given(st.binary(max_size=2000))
def test_any_bytes_give_text_and_never_an_exception(raw: bytes) -> None:
    found = text_of(raw)
    found.encode("utf-8")
    assert "\x00" not in found
