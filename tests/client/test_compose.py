"""compose(): the MIME tree, the header fields, and what it refuses.

Most tests flatten the result as the client would send it and parse the bytes
back with ``email.parser``: what matters is what the receiver reads.
"""

from __future__ import annotations

import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from smtpx.client._message import (
    Envelope,
    MessageError,
    MissingInput,
    body_type,
    envelope_of,
    flatten,
)
from smtpx.client.compose import compose

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def sent(message: EmailMessage) -> EmailMessage:
    """What the receiver parses from the bytes the client would send."""
    back = BytesParser(EmailMessage, policy=policy.default).parsebytes(flatten(message).data)
    assert isinstance(back, EmailMessage)
    return back


def structure(part: MIMEPart) -> object:
    """The MIME tree as nested (type, [children]) tuples, leaves as plain types."""
    if not part.is_multipart():
        return part.get_content_type()
    return (part.get_content_type(), [structure(child) for child in part.iter_parts()])


def plain(**overrides: object) -> EmailMessage:
    """A minimal message, without the parts of it that change on every call."""
    arguments: dict[str, object] = {
        "sender": "a@example.org",
        "to": "b@example.org",
        "date": False,
        "message_id": False,
    }
    arguments.update(overrides)
    return compose(**arguments)  # type: ignore[arg-type]


# --- bodies and structure ----------------------------------------------------


def test_text_alone_is_text_plain() -> None:
    back = sent(plain(subject="Hello", text="one\ntwo\n"))
    assert structure(back) == "text/plain"
    assert back.get_content().replace("\r\n", "\n") == "one\ntwo\n"
    assert back["MIME-Version"] == "1.0"
    assert back["Subject"] == "Hello"


def test_html_alone_is_text_html() -> None:
    back = sent(plain(html="<p>Hi</p>"))
    assert structure(back) == "text/html"
    assert back.get_content().strip() == "<p>Hi</p>"


def test_text_and_html_are_alternatives_text_first() -> None:
    back = sent(plain(text="Hi", html="<p>Hi</p>"))
    # RFC 2046 §5.1.4: alternatives in increasing order of preference.
    assert structure(back) == ("multipart/alternative", ["text/plain", "text/html"])


def test_no_body_gives_an_empty_text_part() -> None:
    back = sent(plain())
    assert structure(back) == "text/plain"
    assert back.get_content().strip() == ""


def test_non_ascii_bodies_are_sent_7bit() -> None:
    message = plain(text="Grüße aus Köln\n" * 3, html="<p>Привет, мир</p>")
    flattened = flatten(message)
    assert body_type(flattened.data) is None
    back = sent(message)
    text, html = back.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == "Grüße aus Köln\n" * 3
    assert html.get_content().strip() == "<p>Привет, мир</p>"


def test_inline_image_is_related_to_the_html_inside_the_alternative(tmp_path: Path) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(PNG)
    back = sent(plain(text="Hi", html='<p>Hi <img src="cid:logo"></p>', inline=[("logo", image)]))
    assert structure(back) == (
        "multipart/alternative",
        ["text/plain", ("multipart/related", ["text/html", "image/png"])],
    )
    related = list(back.iter_parts())[1]
    html, logo = related.iter_parts()
    assert "cid:logo" in html.get_content()
    # RFC 2392: cid:logo names the part whose Content-ID is <logo>.
    assert logo["Content-ID"] == "<logo>"
    assert logo.get_content() == PNG
    assert logo.get_content_disposition() == "inline"
    assert logo.get_filename() == "logo.png"


def test_inline_image_with_html_alone_makes_html_related(tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    back = sent(plain(html='<img src="cid:photo">', inline=[("<photo>", str(image))]))
    assert structure(back) == ("multipart/related", ["text/html", "image/jpeg"])
    assert list(back.iter_parts())[1]["Content-ID"] == "<photo>"


def test_inline_image_without_html_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(PNG)
    with pytest.raises(MessageError, match="inline images need an html body"):
        plain(text="Hi", inline=[("logo", image)])


@pytest.mark.parametrize("cid", ["two words", "a>b", "", "line\nbreak"])
def test_unusable_content_id_is_refused(tmp_path: Path, cid: str) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(PNG)
    with pytest.raises(MessageError, match="is not a usable Content-ID"):
        plain(html="<p>x</p>", inline=[(cid, image)])


def test_missing_inline_image_is_missing_input(tmp_path: Path) -> None:
    path = tmp_path / "gone.png"
    with pytest.raises(MissingInput, match=re.escape(f"inline image not found: {path}")):
        plain(html="<p>x</p>", inline=[("logo", path)])


# --- attachments -------------------------------------------------------------


def test_attachments_round_trip_name_type_and_bytes(tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7\n\x00\xff binary")
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"line one\nline two\n")
    back = sent(
        plain(
            text="See attached.",
            attachments=[
                report,
                str(notes),
                ("data.csv", b"a,b\r\n1,2\r\n", "text/csv"),
                ("Grüße.bin", bytes(range(256)), None),
                ("no-extension", b"\x00", None),
            ],
        )
    )
    assert structure(back) == (
        "multipart/mixed",
        [
            "text/plain",
            "application/pdf",
            "text/plain",
            "text/csv",
            "application/octet-stream",
            "application/octet-stream",
        ],
    )
    got = [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in back.iter_attachments()
    ]
    assert got == [
        ("report.pdf", "application/pdf", b"%PDF-1.7\n\x00\xff binary"),
        ("notes.txt", "text/plain", b"line one\nline two\n"),
        ("data.csv", "text/csv", b"a,b\r\n1,2\r\n"),
        ("Grüße.bin", "application/octet-stream", bytes(range(256))),
        ("no-extension", "application/octet-stream", b"\x00"),
    ]


def test_compressed_file_is_typed_by_its_compression() -> None:
    back = sent(plain(text="x", attachments=[("backup.tar.gz", b"\x1f\x8b", None)]))
    assert [part.get_content_type() for part in back.iter_attachments()] == ["application/gzip"]


def test_attachments_alone_need_no_body_part() -> None:
    message = plain(attachments=[("a.pdf", b"%PDF", None)])
    # add_attachment() on an empty message leaves MIME-Version off: compose adds it.
    assert message["MIME-Version"] == "1.0"
    assert structure(sent(message)) == ("multipart/mixed", ["application/pdf"])


def test_everything_at_once_nests_as_mixed_alternative_related(tmp_path: Path) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(PNG)
    back = sent(
        plain(
            text="Hi",
            html='<img src="cid:logo">',
            inline=[("logo", image)],
            attachments=[("a.pdf", b"%PDF", None)],
        )
    )
    assert structure(back) == (
        "multipart/mixed",
        [
            (
                "multipart/alternative",
                ["text/plain", ("multipart/related", ["text/html", "image/png"])],
            ),
            "application/pdf",
        ],
    )


def test_attached_message_is_not_base64_encoded() -> None:
    inner = b"From: x@example.org\r\nSubject: inner\r\n\r\nhello\r\n"
    message = plain(text="fwd", attachments=[("forward.eml", inner, None)])
    data = flatten(message).data
    # RFC 2046 §5.2.1: message/rfc822 is 7bit, 8bit or binary, never base64.
    assert b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n" in data
    attached = next(sent(message).iter_attachments())
    assert attached.get_content()["Subject"] == "inner"


def test_attached_8bit_message_is_sent_8bit() -> None:
    inner = "From: x@example.org\r\nSubject: Grüße\r\n\r\nGrüße\r\n".encode()
    data = flatten(plain(text="fwd", attachments=[("f.eml", inner, "message/rfc822")])).data
    assert b"Content-Transfer-Encoding: 8bit\r\n" in data
    assert body_type(data) == "8BITMIME"


def test_attached_message_that_is_binary_goes_as_plain_data() -> None:
    inner = b"From: x@example.org\r\n\r\n\x00\x01"
    back = sent(plain(text="fwd", attachments=[("f.eml", inner, None)]))
    attached = next(back.iter_attachments())
    assert attached.get_content_type() == "application/octet-stream"
    assert attached.get_payload(decode=True) == inner


def test_missing_attachment_is_missing_input_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pdf"
    with pytest.raises(MissingInput, match=re.escape(f"attachment not found: {path}")):
        plain(text="x", attachments=[path])


def test_unreadable_attachment_is_a_message_error(tmp_path: Path) -> None:
    with pytest.raises(MessageError, match="cannot read attachment") as raised:
        plain(text="x", attachments=[tmp_path])
    assert not isinstance(raised.value, MissingInput)


@pytest.mark.parametrize("mime_type", ["pdf", "text/", "multipart/mixed", "a b/c", "text/plain\n"])
def test_invalid_attachment_mime_type_is_refused(mime_type: str) -> None:
    with pytest.raises(MessageError, match="is not a MIME type for an attachment"):
        plain(text="x", attachments=[("a.bin", b"x", mime_type)])


def test_line_break_in_attachment_file_name_is_refused() -> None:
    with pytest.raises(MessageError, match="attachment file name contains CR, LF or NUL"):
        plain(text="x", attachments=[("a\r\nContent-Type: text/html", b"x", None)])


# --- addresses and header fields ---------------------------------------------


def test_utf8_subject_and_display_names_are_encoded_without_smtputf8() -> None:
    message = compose(
        sender="Jürgen Müller <j@example.org>",
        to=[("Zoë Ångström", "zoe@example.org"), Address("山田 太郎", "yamada", "example.jp")],
        subject="Grüße aus Köln",
        text="Hallo",
    )
    flattened = flatten(message)
    assert flattened.smtputf8 is False
    assert flattened.data.isascii()
    back = sent(message)
    assert back["Subject"] == "Grüße aus Köln"
    assert back["From"].addresses == (Address("Jürgen Müller", addr_spec="j@example.org"),)
    assert back["To"].addresses == (
        Address("Zoë Ångström", addr_spec="zoe@example.org"),
        Address("山田 太郎", addr_spec="yamada@example.jp"),
    )


def test_sender_as_a_name_and_address_pair() -> None:
    message = plain(sender=("Jürgen", "j@example.org"))
    assert message["From"].addresses == (Address("Jürgen", addr_spec="j@example.org"),)


def test_recipients_as_one_pair_or_a_list_of_addresses() -> None:
    assert plain(to=("Zoë", "zoe@example.org"))["To"].addresses == (
        Address("Zoë", addr_spec="zoe@example.org"),
    )
    # Two addresses, not a (name, address) pair: the first has an "@".
    message = plain(to=("a@example.org", "b@example.org"))
    assert [a.addr_spec for a in message["To"].addresses] == ["a@example.org", "b@example.org"]


def test_one_string_may_list_several_recipients() -> None:
    message = plain(to='"Doe, Jane" <jane@example.org>, bob@example.org')
    assert [a.addr_spec for a in message["To"].addresses] == ["jane@example.org", "bob@example.org"]


def test_non_ascii_address_needs_smtputf8() -> None:
    message = plain(to="jürgen@exämple.org", subject="Grüße")
    flattened = flatten(message)
    assert flattened.smtputf8 is True
    assert "To: jürgen@exämple.org\r\n".encode() in flattened.data


def test_bcc_is_a_recipient_but_not_sent() -> None:
    message = plain(to="b@example.org", cc="c@example.org", bcc=["d@example.org"], text="x")
    assert envelope_of(message) == Envelope(
        "a@example.org", ("b@example.org", "c@example.org", "d@example.org")
    )
    data = flatten(message).data
    assert b"Cc: c@example.org\r\n" in data
    assert b"d@example.org" not in data


def test_bcc_alone_is_enough() -> None:
    message = plain(to=(), bcc="d@example.org")
    assert "To" not in message
    assert envelope_of(message).recipients == ("d@example.org",)


def test_date_and_message_id_are_added_by_default() -> None:
    message = compose(sender="a@mail.example.org", to="b@example.org", text="x")
    assert parsedate_to_datetime(str(message["Date"])).tzinfo is not None
    assert re.fullmatch(r"<[^@<>]+@mail\.example\.org>", str(message["Message-ID"]))


def test_message_id_of_an_idn_sender_is_ascii() -> None:
    message = compose(sender="a@exämple.org", to="b@example.org", text="x")
    assert str(message["Message-ID"]).endswith("@xn--exmple-cua.org>")


def test_message_id_of_a_domain_idna_cannot_encode_falls_back_to_invalid() -> None:
    # A 64-octet label: a mailbox by RFC 5321's grammar, too long for a DNS name.
    message = compose(sender=f"a@{'x' * 64}.org", to="b@example.org", text="x")
    assert str(message["Message-ID"]).endswith("@invalid>")


def test_date_and_message_id_can_be_left_off_and_given_as_headers() -> None:
    message = plain(text="x", headers=[("Date", "Mon, 01 Jan 2024 10:00:00 +0000")])
    assert "Message-ID" not in message
    assert message["Date"] == "Mon, 01 Jan 2024 10:00:00 +0000"


def test_extra_headers_are_added_as_given() -> None:
    url = "<https://example.org/unsubscribe/" + "u" * 90 + ">"
    message = plain(
        text="x",
        headers=[
            ("Reply-To", "help@example.org"),
            ("List-Unsubscribe", url),
            ("X-Note", "Grüße"),
            ("Comments", "one"),
            ("Comments", "two"),
        ],
    )
    data = flatten(message).data
    assert b"Reply-To: help@example.org\r\n" in data
    # Not folded into encoded words: the URL must stay a URL.
    assert f"List-Unsubscribe: {url}\r\n".encode() in data
    back = sent(message)
    assert back["X-Note"] == "Grüße"
    assert back.get_all("Comments") == ["one", "two"]


def test_header_compose_already_wrote_cannot_be_added_twice() -> None:
    with pytest.raises(MessageError, match="cannot add Subject: RFC 5322 allows only 1"):
        plain(subject="one", headers=[("Subject", "two")])


@pytest.mark.parametrize("name", ["Content-Type", "content-transfer-encoding", "MIME-Version"])
def test_mime_headers_are_composes_own(name: str) -> None:
    with pytest.raises(MessageError, match=f"compose\\(\\) writes {name} itself"):
        plain(text="x", headers=[(name, "text/html")])


@pytest.mark.parametrize("name", ["X Bad", "X:Bad", "", "X-Ünïcode"])
def test_invalid_header_field_name_is_refused(name: str) -> None:
    with pytest.raises(MessageError, match="is not a valid header field name"):
        plain(text="x", headers=[(name, "value")])


@pytest.mark.parametrize(
    "arguments",
    [
        {"subject": "Hi\r\nBcc: spy@example.net"},
        {"subject": "Hi\nthere"},
        {"headers": [("X-Note", "a\r\nBcc: spy@example.net")]},
        {"headers": [("X-Note", "a\0b")]},
        {"sender": ("Eve\r\nBcc: spy@example.net", "eve@example.org")},
        {"to": ["b@example.org\r\nBcc: spy@example.net"]},
        {"cc": "Eve\r\n <eve@example.org>"},
    ],
)
def test_line_break_in_any_value_is_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(MessageError, match="contains CR, LF or NUL"):
        plain(text="x", **arguments)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"to": "not an address"}, "to: 'not an address' is not a valid address list"),
        ({"to": ["jane"]}, "not a valid address list"),
        ({"to": ("Jane", "jane")}, "to: 'jane' is not a valid address"),
        ({"cc": "jane@-example.org"}, "cc: 'jane@-example.org' is not a valid address"),
        ({"sender": "a@example.org, b@example.org"}, "the sender must be one address, not 2"),
        ({"sender": "undisclosed-recipients:;"}, "the sender must be one address, not 0"),
        ({"to": [], "cc": (), "bcc": ()}, "the message has no recipients"),
    ],
)
def test_bad_address_is_refused(arguments: dict[str, object], error: str) -> None:
    with pytest.raises(MessageError, match=re.escape(error)):
        plain(text="x", **arguments)


def test_something_that_is_not_an_address_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected an address, got int"):
        plain(to=[42])


def test_composed_message_is_not_changed_by_sending_it() -> None:
    message = plain(text="x", bcc="d@example.org", attachments=[("a.pdf", b"%PDF", None)])
    before = message.as_bytes()
    flatten(message)
    assert message.as_bytes() == before
    assert message["Bcc"] == "d@example.org"
