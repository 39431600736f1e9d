"""The summary: header fields decoded, attachments found by a one-pass MIME walk that
agrees with the stdlib's full parse, and never an exception."""

from __future__ import annotations

import io
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpx.store import Summary, _summary
from smtpx.store._summary import EMPTY_SUMMARY, summarize


def summary_of(raw: bytes) -> Summary:
    return summarize(io.BytesIO(raw))


def attachments_by_stdlib(raw: bytes) -> tuple[str, ...]:
    """The reference: a full parse, walking multiparts but not into message/* parts."""
    found: list[str] = []

    def visit(part: Message) -> None:
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            for child in part.get_payload():
                assert isinstance(child, Message)
                visit(child)
        elif part.get_content_disposition() == "attachment" or part.get_filename() is not None:
            found.append(part.get_filename() or "")

    visit(BytesParser(policy=policy.default).parsebytes(raw))
    return tuple(found)


def test_header_fields_are_decoded() -> None:
    raw = (
        b"From: =?iso-8859-1?q?Andr=E9?= <andre@example.org>\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b'Cc: team: ann@example.net, "Ben B." <ben@example.net>;, cy@example.net\r\n'
        b"Subject: =?utf-8?b?w4dh?= va\r\n"
        b" folded\r\n"
        b"Date: Tue, 2 Jan 2024 03:04:05 -0800\r\n"
        b"Message-ID:   <id@example.org>  \r\n"
        b"\r\n"
        b"body\r\n"
    )
    summary = summary_of(raw)
    assert summary.from_ == "André <andre@example.org>"
    assert summary.to == ("undisclosed-recipients:;",)  # no address: kept as written
    assert summary.cc == ("ann@example.net", '"Ben B." <ben@example.net>', "cy@example.net")
    assert summary.subject == "Ça va folded"
    assert summary.date == "Tue, 02 Jan 2024 03:04:05 -0800"
    assert summary.message_id == "<id@example.org>"
    assert summary.attachments == ()


def test_utf8_headers_of_smtputf8_mail_are_read_as_utf8() -> None:
    # RFC 6532: internationalized headers are raw UTF-8.
    raw = "Subject: Grüße\r\nFrom: 用户 <用户@例子.广告>\r\n\r\n.\r\n".encode()
    summary = summary_of(raw)
    assert summary.subject == "Grüße"
    assert summary.from_ == "用户 <用户@例子.广告>"


def test_several_to_headers_are_all_listed() -> None:
    summary = summary_of(b"To: a@example.net\r\nTo: b@example.net, c@example.net\r\n\r\n")
    assert summary.to == ("a@example.net", "b@example.net", "c@example.net")


def test_absent_fields_are_empty() -> None:
    assert summary_of(b"X-Other: 1\r\n\r\nbody") == Summary("", "", (), (), None, None, ())
    assert summary_of(b"") == EMPTY_SUMMARY


def test_undecodable_bytes_become_replacement_characters() -> None:
    summary = summary_of(b"Subject: caf\xe9 \xff\r\n\r\n")
    assert summary.subject.startswith("caf")
    summary.subject.encode("utf-8")  # storable: no lone surrogates


NESTED = (
    b"Subject: nested\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n'
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"-- \r\n"  # a signature separator, not a delimiter
    b"--inner\r\n"
    b"Content-Type: text/html\r\n"
    b'Content-Disposition: inline; filename="page.html"\r\n'
    b"\r\n"
    b"<p>hi</p>\r\n"
    b"--inner--\r\n"
    b"--outer   \r\n"  # RFC 2046: a delimiter may be followed by blanks
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.bin\r\n"
    b"\r\n"
    b"--not-a-delimiter\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b'Content-Disposition: attachment; filename="fwd.eml"\r\n'
    b"\r\n"
    b"Subject: forwarded\r\n"
    b"Content-Type: multipart/mixed; boundary=deep\r\n"
    b"\r\n"
    b"--deep\r\n"
    b"Content-Disposition: attachment; filename=inside.txt\r\n"
    b"\r\n"
    b"x\r\n"
    b"--deep--\r\n"
    b"--outer\r\n"
    b"Content-Disposition: attachment\r\n"
    b"\r\n"
    b"unnamed\r\n"
    b"--outer--\r\n"
    b"epilogue\r\n"
)


def test_attachments_of_nested_multiparts_are_found() -> None:
    # Inline parts with a file name count; a forwarded message is one attachment
    # (its own attachments are not this message's); an unnamed one is "".
    assert summary_of(NESTED).attachments == ("page.html", "€.bin", "fwd.eml", "")
    assert summary_of(NESTED).attachments == attachments_by_stdlib(NESTED)


def test_an_outer_delimiter_closes_an_unclosed_inner_multipart() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=o\r\n\r\n"
        b"--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n"
        b"--i\r\nContent-Disposition: attachment; filename=a\r\n\r\nA\r\n"
        b"--o\r\nContent-Disposition: attachment; filename=b\r\n\r\nB\r\n"
        b"--o--\r\n"
    )
    assert summary_of(raw).attachments == ("a", "b") == attachments_by_stdlib(raw)


def test_a_message_that_ends_inside_a_part_header_section() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Disposition: attachment; filename=cut.pdf\r\n"
    )
    assert summary_of(raw).attachments == ("cut.pdf",) == attachments_by_stdlib(raw)


def test_a_single_part_message_with_a_file_name_is_an_attachment() -> None:
    raw = b"Content-Type: application/pdf; name=report.pdf\r\n\r\n%PDF\r\n"
    assert summary_of(raw).attachments == ("report.pdf",)


def test_lf_only_line_endings_are_understood() -> None:
    raw = NESTED.replace(b"\r\n", b"\n")
    assert summary_of(raw).attachments == ("page.html", "€.bin", "fwd.eml", "")


@pytest.mark.parametrize("block", [3, 4, 5, 7, 16, 1000])
def test_delimiters_are_found_across_search_blocks(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # The body search reads blocks; "\n--" straddling two blocks must still be seen.
    monkeypatch.setattr(_summary, "SKIP_BLOCK", block)
    assert summary_of(NESTED).attachments == ("page.html", "€.bin", "fwd.eml", "")


def test_a_long_line_is_no_delimiter_past_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_summary, "LINE_LIMIT", 8)
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Disposition: attachment; filename=one\r\n\r\n"
        b"0123456789--b\r\n"  # "--b" mid-line: body
        b"--b--\r\n"
    )
    assert summary_of(raw).attachments == ("one",)


def test_the_message_header_section_is_parsed_from_its_first_part_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_summary, "HEADER_LIMIT", 40)
    raw = b"Subject: kept\r\nX-Filler: " + b"x" * 100 + b"\r\nFrom: lost@example.org\r\n\r\n"
    summary = summary_of(raw)
    assert summary.subject == "kept"
    assert summary.from_ == ""


# Generated MIME trees: the walk must agree with the stdlib's full parse.

FILENAMES = st.one_of(
    st.none(), st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)
)


@st.composite
def mime_parts(draw: st.DrawFn, depth: int = 0) -> EmailMessage:
    part = EmailMessage()
    if depth < 3 and draw(st.booleans()):
        part.make_mixed()
        for child in draw(st.lists(st.deferred(lambda: mime_parts(depth + 1)), max_size=4)):
            part.attach(child)
        return part
    payload = draw(st.binary(max_size=200))
    filename = draw(FILENAMES)
    disposition = draw(st.sampled_from([None, "inline", "attachment"]))
    if disposition is None and filename is None:
        part.set_content(payload, "application", "octet-stream")
    else:
        part.set_content(
            payload, "application", "octet-stream", disposition=disposition or "attachment",
            filename=filename,
        )  # fmt: skip
    return part


@given(mime_parts(), st.sampled_from([b"\r\n", b"\n"]))
def test_the_walk_finds_what_the_stdlib_parse_finds(message: EmailMessage, eol: bytes) -> None:
    message["Subject"] = "generated"
    raw = message.as_bytes(policy=policy.default.clone(linesep=eol.decode()))
    summary = summary_of(raw)
    assert summary.attachments == attachments_by_stdlib(raw)
    assert summary.subject == "generated"


@given(st.binary(max_size=2000))
def test_any_bytes_give_a_summary_and_never_an_exception(raw: bytes) -> None:
    summary = summary_of(raw)
    for text in (summary.subject, summary.from_, *summary.to, *summary.cc, *summary.attachments):
        text.encode("utf-8")


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_random_bytes_inside_a_multipart_never_raise(head: bytes, body: bytes) -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
        + head
        + b"\r\n\r\n"
        + body
        + b"\r\n--z--\r\n"
    )
    summary_of(raw)
