"""From a message to an envelope, wire bytes and MAIL FROM parameters.

Messages are parsed from text with ``email.policy.default`` (what ``read_message``
gives), built with ``EmailMessage``, or made the legacy way (``Message``,
policy compat32): all three reach ``envelope_of`` and ``flatten``.
"""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpx.client._message import (
    MAX_LINE,
    Envelope,
    Flattened,
    MessageError,
    MissingInput,
    body_type,
    envelope_of,
    flatten,
    needs_smtputf8,
    read_message,
)


def parse(text: str) -> EmailMessage:
    """A message from header lines written with LF, as read_message would give it."""
    message = BytesParser(EmailMessage, policy=policy.default).parsebytes(text.encode())
    assert isinstance(message, EmailMessage)
    return message


def reparse(data: bytes) -> EmailMessage:
    message = BytesParser(EmailMessage, policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def has_bare_line_ending(data: bytes) -> bool:
    return re.search(rb"\r(?!\n)|(?<!\r)\n", data) is not None


# --- envelope_of -------------------------------------------------------------


def test_recipients_are_to_then_cc_then_bcc() -> None:
    message = parse(
        "From: a@example.org\nBcc: d@example.org\nCc: c@example.org\nTo: b@example.org\n\nhi\n"
    )
    assert envelope_of(message) == Envelope(
        "a@example.org", ("b@example.org", "c@example.org", "d@example.org")
    )


def test_display_names_and_groups_yield_only_addresses() -> None:
    message = parse(
        'From: "Doe, Jane" <jane@example.org>\n'
        'To: "Smith, John" <john@example.org>, Team: x@example.net, "Y" <y@example.net>;\n'
        "Cc: undisclosed-recipients:;, carol@example.com (Carol)\n\n"
    )
    envelope = envelope_of(message)
    assert envelope.sender == "jane@example.org"
    assert envelope.recipients == (
        "john@example.org",
        "x@example.net",
        "y@example.net",
        "carol@example.com",
    )


def test_repeated_recipient_is_sent_once_domain_compared_without_case() -> None:
    message = parse(
        "From: a@example.org\nTo: Bob@Example.ORG, bob@example.org\n"
        "Cc: Bob@example.org\nBcc: BOB@example.org, bob@example.org\n\n"
    )
    # RFC 5321 §2.4: the local part may be case-sensitive; the domain is not.
    assert envelope_of(message).recipients == (
        "Bob@Example.ORG",
        "bob@example.org",
        "BOB@example.org",
    )


def test_sender_field_is_preferred_to_from() -> None:
    message = parse(
        "From: Ann <ann@example.org>, Bea <bea@example.org>\nSender: sec@example.org\n"
        "To: x@example.net\n\n"
    )
    assert envelope_of(message).sender == "sec@example.org"


def test_from_with_two_authors_and_no_sender_is_refused() -> None:
    message = parse("From: ann@example.org, bea@example.org\nTo: x@example.net\n\n")
    with pytest.raises(MessageError, match=r"From field has 2 addresses.*add a Sender field"):
        envelope_of(message)


def test_message_without_from_is_refused() -> None:
    with pytest.raises(MessageError, match="no From field"):
        envelope_of(parse("To: x@example.net\n\nhi\n"))


def test_message_without_recipients_is_refused() -> None:
    with pytest.raises(MessageError, match="no recipients in To, Cc, Bcc"):
        envelope_of(parse("From: a@example.org\nTo: undisclosed-recipients:;\n\n"))


def test_one_resent_block_gives_the_envelope() -> None:
    message = parse(
        "Resent-Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
        "Resent-From: fwd@example.org\n"
        "Resent-To: new@example.net\n"
        "Resent-Cc: copy@example.net\n"
        "Resent-Bcc: hidden@example.net\n"
        "From: original@example.org\n"
        "To: old@example.net\n\nhi\n"
    )
    assert envelope_of(message) == Envelope(
        "fwd@example.org", ("new@example.net", "copy@example.net", "hidden@example.net")
    )


def test_resent_sender_is_preferred_to_resent_from() -> None:
    message = parse(
        "Resent-Date: Mon, 1 Jan 2024 10:00:00 +0000\nResent-From: a@example.org, b@example.org\n"
        "Resent-Sender: agent@example.org\nResent-To: new@example.net\n"
        "From: original@example.org\nTo: old@example.net\n\n"
    )
    assert envelope_of(message).sender == "agent@example.org"


def test_resent_block_without_resent_from_is_refused() -> None:
    message = parse(
        "Resent-Date: Mon, 1 Jan 2024 10:00:00 +0000\nResent-To: new@example.net\n"
        "From: original@example.org\nTo: old@example.net\n\n"
    )
    with pytest.raises(MessageError, match="no Resent-From field"):
        envelope_of(message)


def test_two_resent_blocks_are_ambiguous() -> None:
    message = parse(
        "Resent-Date: Tue, 2 Jan 2024 10:00:00 +0000\nResent-From: b@example.org\n"
        "Resent-To: c@example.net\n"
        "Resent-Date: Mon, 1 Jan 2024 10:00:00 +0000\nResent-From: a@example.org\n"
        "Resent-To: b@example.net\n"
        "From: original@example.org\nTo: old@example.net\n\n"
    )
    with pytest.raises(MessageError, match="2 Resent-Date fields"):
        envelope_of(message)


def test_address_smuggled_past_a_parenthesis_is_refused_not_added() -> None:
    # CVE-2023-27043: getaddresses() on 3.11 reads this as two recipients.
    message = parse("From: a@example.org\nTo: alice@example.org)<bob@example.org>\n\n")
    with pytest.raises(MessageError, match="To field is not a valid address list"):
        envelope_of(message)


def test_address_without_domain_is_refused_naming_the_field() -> None:
    with pytest.raises(MessageError, match="Cc field is not a valid address list: 'jane'"):
        envelope_of(parse("From: a@example.org\nTo: b@example.org\nCc: jane\n\n"))


def test_address_the_header_parser_takes_but_smtp_does_not_is_refused() -> None:
    # RFC 5321 §4.1.2: a sub-domain starts with a letter or digit.
    message = parse("From: a@example.org\nTo: b@example.org\nCc: jane@-example.org\n\n")
    with pytest.raises(
        MessageError, match=re.escape("Cc field's address 'jane@-example.org' is not a valid")
    ):
        envelope_of(message)


def test_line_break_in_an_address_field_is_refused() -> None:
    message = Message()
    message["From"] = "a@example.org"
    message["To"] = "b@example.org\r\nBcc: spy@example.net"
    with pytest.raises(MessageError, match="To field contains a bare CR, LF or NUL"):
        envelope_of(message)


def test_folded_address_field_is_unfolded() -> None:
    message = parse("From: a@example.org\nTo: b@example.org,\n c@example.org\n\n")
    assert envelope_of(message).recipients == ("b@example.org", "c@example.org")


def test_legacy_message_gives_its_envelope() -> None:
    message = email.message_from_string(
        "From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\nTo: Zoë <zoe@example.org>\n\nhi\n"
    )
    assert envelope_of(message) == Envelope("j@example.org", ("zoe@example.org",))


def test_raw_utf8_address_is_read_as_utf8() -> None:
    message = parse("From: jürgen@exämple.org\nTo: zoë@example.org\n\n")
    assert envelope_of(message) == Envelope("jürgen@exämple.org", ("zoë@example.org",))


def test_raw_8bit_address_that_is_not_utf8_is_refused() -> None:
    message = reparse(b"From: a@example.org\nTo: j\xfcrgen@example.org\n\n")
    with pytest.raises(MessageError, match="To field has an address that is not UTF-8"):
        envelope_of(message)


# --- Envelope and needs_smtputf8 ---------------------------------------------


def test_null_reverse_path_is_a_valid_sender() -> None:
    assert Envelope("", ("postmaster@example.org",)).sender == ""


def test_postmaster_without_domain_is_a_valid_recipient() -> None:
    # RFC 5321 §4.1.1.3: RCPT TO:<Postmaster>.
    assert Envelope("a@example.org", ("Postmaster",)).recipients == ("Postmaster",)


@pytest.mark.parametrize("bad", ["a@example.org\r\n", "a\n@example.org", "a\0@example.org"])
def test_envelope_address_with_cr_lf_or_nul_is_refused(bad: str) -> None:
    with pytest.raises(MessageError, match="contains CR, LF or NUL"):
        Envelope(bad, ("b@example.org",))
    with pytest.raises(MessageError, match="contains CR, LF or NUL"):
        Envelope("a@example.org", ("b@example.org", bad))


@pytest.mark.parametrize("bad", ["no-at-sign", "a@", "<a@example.org>", "a b@example.org"])
def test_envelope_address_that_is_not_a_mailbox_is_refused(bad: str) -> None:
    with pytest.raises(MessageError, match="is not a valid mailbox"):
        Envelope("a@example.org", (bad,))


def test_envelope_needs_a_recipient() -> None:
    with pytest.raises(MessageError, match="no recipients"):
        Envelope("a@example.org", ())


def test_envelope_recipients_must_not_be_one_string() -> None:
    with pytest.raises(TypeError, match="not one string"):
        Envelope("a@example.org", "b@example.org")  # type: ignore[arg-type]


def test_envelope_recipients_become_a_tuple() -> None:
    envelope = Envelope("a@example.org", ["b@example.org"])  # type: ignore[arg-type]
    assert envelope.recipients == ("b@example.org",)


@pytest.mark.parametrize(
    ("sender", "recipient", "expected"),
    [
        ("a@example.org", "b@example.org", False),
        ("", "b@example.org", False),
        ("jürgen@example.org", "b@example.org", True),
        ("a@example.org", "b@exämple.org", True),
    ],
)
def test_smtputf8_is_needed_for_a_non_ascii_envelope_address(
    sender: str, recipient: str, expected: bool
) -> None:
    assert needs_smtputf8(Envelope(sender, (recipient,))) is expected


# --- flatten -----------------------------------------------------------------


def test_bcc_is_not_sent_but_its_recipients_are() -> None:
    message = parse(
        "From: a@example.org\nTo: b@example.org\nBcc: hidden@example.org\nSubject: s\n\nhi\n"
    )
    flattened = flatten(message)
    assert b"Bcc" not in flattened.data
    assert b"hidden" not in flattened.data
    assert envelope_of(message).recipients == ("b@example.org", "hidden@example.org")


def test_resent_bcc_is_not_sent() -> None:
    message = parse(
        "Resent-Date: Mon, 1 Jan 2024 10:00:00 +0000\nResent-From: fwd@example.org\n"
        "Resent-To: new@example.net\nResent-Bcc: hidden@example.net\n"
        "From: a@example.org\nTo: b@example.org\n\n"
    )
    data = flatten(message).data
    assert b"Resent-Bcc" not in data
    assert b"Resent-To: new@example.net\r\n" in data


def test_flatten_leaves_the_callers_message_as_it_was() -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["To"] = "b@example.org"
    message["Bcc"] = "hidden@example.org"
    message.set_content("text")
    message.add_alternative("<p>html</p>", subtype="html")
    message.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream")
    before = [(part.get_content_type(), part.items()) for part in message.walk()]
    flatten(message)
    after = [(part.get_content_type(), part.items()) for part in message.walk()]
    assert after == before
    assert message["Bcc"] == "hidden@example.org"
    # The generator writes a boundary into each multipart it flattens: on the copy only.
    assert all(part.get_boundary() is None for part in message.walk() if part.is_multipart())


def test_flattened_lines_end_in_crlf_only() -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["To"] = "b@example.org"
    message["Subject"] = "x" * 200  # long enough to be folded
    message.set_content("one\ntwo\r\nthree\rfour\n")
    message.add_attachment(b"\n\r\n\r" * 50, maintype="application", subtype="octet-stream")
    data = flatten(message).data
    assert b"\r\n" in data
    assert not has_bare_line_ending(data)
    assert b"\r\n " in data  # the subject was folded, with CRLF


def test_parsed_lf_message_is_sent_with_crlf() -> None:
    data = flatten(parse("From: a@example.org\nTo: b@example.org\n\nline one\nline two\n")).data
    assert data == b"From: a@example.org\r\nTo: b@example.org\r\n\r\nline one\r\nline two\r\n"


def test_utf8_subject_and_display_names_are_encoded_without_smtputf8() -> None:
    message = EmailMessage()
    message["From"] = "Jürgen Müller <j@example.org>"
    message["To"] = "Zoë <zoe@example.org>, 山田 <yamada@example.jp>"
    message["Subject"] = "Grüße aus Köln " * 6
    message.set_content("hi")
    flattened = flatten(message)
    assert flattened.smtputf8 is False
    assert flattened.body is None
    assert flattened.data.isascii()
    assert b"=?utf-8?" in flattened.data
    back = reparse(flattened.data)
    assert back["Subject"] == "Grüße aus Köln " * 6
    assert back["From"].addresses[0].display_name == "Jürgen Müller"
    assert [a.display_name for a in back["To"].addresses] == ["Zoë", "山田"]
    assert [a.addr_spec for a in back["To"].addresses] == ["zoe@example.org", "yamada@example.jp"]


def test_non_ascii_address_needs_smtputf8_and_is_sent_as_utf8() -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["To"] = "Jürgen <jürgen@exämple.org>"
    message["Subject"] = "Grüße"
    message.set_content("hi")
    flattened = flatten(message)
    assert flattened.smtputf8 is True
    # RFC 6532: the header is raw UTF-8, never an encoded word inside an address.
    assert "To: Jürgen <jürgen@exämple.org>\r\n".encode() in flattened.data
    assert "Subject: Grüße\r\n".encode() in flattened.data
    assert flattened.body == "8BITMIME"


def test_non_ascii_address_in_bcc_only_does_not_make_the_content_utf8() -> None:
    message = parse("From: a@example.org\nTo: b@example.org\nBcc: zoë@example.org\n\nhi\n")
    flattened = flatten(message)
    assert flattened.smtputf8 is False
    assert needs_smtputf8(envelope_of(message)) is True


def test_parsed_raw_utf8_headers_are_kept_and_need_smtputf8() -> None:
    raw = "From: Jürgen <j@example.org>\r\nTo: b@example.org\r\nSubject: Grüße\r\n\r\nhi\r\n"
    flattened = flatten(reparse(raw.encode()))
    assert flattened.data == raw.encode()
    assert flattened.smtputf8 is True


def test_legacy_message_with_utf8_subject_is_encoded_with_its_address_intact() -> None:
    message = email.message_from_string(
        "From: Jürgen <j@example.org>\nTo: b@example.org\nSubject: Grüße\n\nhi\n"
    )
    flattened = flatten(message)
    assert flattened.smtputf8 is False
    assert flattened.data.startswith(b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n")
    assert reparse(flattened.data)["Subject"] == "Grüße"


def test_legacy_message_with_utf8_address_is_sent_as_utf8() -> None:
    message = email.message_from_string("From: a@example.org\nTo: jürgen@exämple.org\n\nhi\n")
    flattened = flatten(message)
    assert flattened.smtputf8 is True
    assert "To: jürgen@exämple.org\r\n".encode() in flattened.data


def test_legacy_message_parsed_from_8bit_bytes_keeps_them() -> None:
    raw = "From: a@example.org\r\nSubject: Grüße\r\n\r\nhi\r\n".encode()
    flattened = flatten(email.message_from_bytes(raw))
    assert flattened.data == raw
    assert flattened.smtputf8 is True


def test_message_without_header_fields_has_no_utf8_header() -> None:
    flattened = flatten(reparse("\nGrüße\n".encode()))
    assert flattened == Flattened("\r\nGrüße\r\n".encode(), smtputf8=False, body="8BITMIME")


def test_legacy_message_keeps_ascii_fields_byte_for_byte() -> None:
    signature = "v=1; a=rsa-sha256; d=example.org;\n\tb=abc" + "d" * 100
    message = email.message_from_string(
        f"DKIM-Signature: {signature}\nFrom: a@example.org\nTo: b@example.org\n\nhi\n"
    )
    data = flatten(message).data
    assert data.startswith(f"DKIM-Signature: {signature}".replace("\n", "\r\n").encode())


def test_parsed_long_fields_are_sent_as_read_not_refolded() -> None:
    # policy.SMTP would re-fold these, and on 3.11 turn each long token into
    # encoded words: a broken DKIM signature and an unusable unsubscribe URL.
    fields = (
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.org;\r\n\tb=" + "d" * 100 + "\r\n"
        "List-Unsubscribe: <https://example.org/unsubscribe/" + "u" * 90 + ">\r\n"
        "From: a@example.org\r\nTo: b@example.org\r\n"
    )
    data = flatten(reparse(fields.encode() + b"\r\nhi\r\n")).data
    assert data == fields.encode() + b"\r\nhi\r\n"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Subject", "hello\r\nBcc: spy@example.net"),
        ("Subject", "hello\nX-Injected: yes"),
        ("Subject", "hello\rworld"),
        ("X-Note", "trailing break\n"),
        ("X-Note", "a NUL \0 here"),
    ],
)
def test_line_break_in_a_header_value_is_refused(name: str, value: str) -> None:
    message = Message()
    message["From"] = "a@example.org"
    message[name] = value
    with pytest.raises(MessageError, match=f"{name} field contains a bare CR, LF or NUL"):
        flatten(message)


def test_line_break_set_raw_into_an_email_message_is_refused() -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message.set_raw("Subject", "hello\r\nBcc: spy@example.net")
    with pytest.raises(MessageError, match="Subject field contains a bare CR, LF or NUL"):
        flatten(message)


def test_line_break_in_a_part_header_is_refused() -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message.set_content("text")
    message.add_attachment(b"x", maintype="application", subtype="octet-stream")
    attachment = next(message.iter_attachments())
    attachment.set_raw("X-Part", "a\nContent-Type: text/html")
    with pytest.raises(MessageError, match="X-Part field contains"):
        flatten(message)


@pytest.mark.parametrize("name", ["Bad Name", "Bad:Name", "Bad\r\nName", "Naïve"])
def test_invalid_header_field_name_is_refused(name: str) -> None:
    message = Message()
    message["From"] = "a@example.org"
    message.set_raw(name, "value")
    with pytest.raises(MessageError, match="is not a valid header field name"):
        flatten(message)


def test_folded_field_of_a_parsed_message_is_not_injection() -> None:
    data = flatten(parse("From: a@example.org\nSubject: one\n two\n\n")).data
    assert data == b"From: a@example.org\r\nSubject: one\r\n two\r\n\r\n"


def test_flattened_8bit_body_is_declared_8bitmime() -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message.set_content("Grüße\n")  # policy.default: Content-Transfer-Encoding 8bit
    assert flatten(message) == Flattened(flatten(message).data, smtputf8=False, body="8BITMIME")


# Characters that survive set_content: no surrogates, no controls but tab and
# newline, none of the other characters str.splitlines() breaks at.
_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="\x85\u2028\u2029",
        whitelist_characters="\t\n",
    )
)


@given(_TEXT, st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_any_text_body_and_subject_survive_flatten_and_parse(text: str, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["To"] = "b@example.org"
    message["Subject"] = subject
    message.set_content(text)
    flattened = flatten(message)
    assert not has_bare_line_ending(flattened.data)
    assert flattened.smtputf8 is False
    # set_content picks quoted-printable or base64 for long lines: never binary.
    assert flattened.body in (None, "8BITMIME")
    back = reparse(flattened.data)
    assert back.get_content().replace("\r\n", "\n") == "\n".join(text.splitlines()) + "\n"
    # Header parsing collapses runs of whitespace and drops what is at the ends.
    assert " ".join(str(back["Subject"]).split()) == " ".join(subject.split())


# --- body_type ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", None),
        (b"Subject: hi\r\n\r\nplain ascii\r\n", None),
        (b"no final line ending", None),
        (b"x" * MAX_LINE + b"\r\n", None),
        (b"x" * MAX_LINE, None),
        ("Grüße\r\n".encode(), "8BITMIME"),
        (b"\xff\r\n", "8BITMIME"),
        (b"a\0b\r\n", "BINARYMIME"),
        (b"bare\nline feed\r\n", "BINARYMIME"),
        (b"bare\rcarriage return\r\n", "BINARYMIME"),
        (b"reversed\n\r", "BINARYMIME"),
        (b"ends in a bare LF\n", "BINARYMIME"),
        (b"x" * (MAX_LINE + 1) + b"\r\n", "BINARYMIME"),
        (b"short\r\n" + b"x" * (MAX_LINE + 1), "BINARYMIME"),
        (b"\xff" * (MAX_LINE + 1), "BINARYMIME"),
    ],
)
def test_body_type_follows_rfc_6152_and_rfc_3030(data: bytes, expected: str | None) -> None:
    assert body_type(data) == expected


def slow_body_type(data: bytes) -> str | None:
    """The rules of body_type, one line at a time."""
    if b"\0" in data:
        return "BINARYMIME"
    lines = data.split(b"\r\n")
    if any(b"\r" in line or b"\n" in line or len(line) > MAX_LINE for line in lines):
        return "BINARYMIME"
    return None if all(byte < 0x80 for byte in data) else "8BITMIME"


_PIECES = st.sampled_from(
    [b"a", b"\xe9", b"\r\n", b"\r", b"\n", b"\0", b"x" * 500, b"\r\n" + b"y" * 997]
)


@given(st.lists(_PIECES, max_size=12).map(b"".join))
def test_body_type_agrees_with_a_line_by_line_reading(data: bytes) -> None:
    assert body_type(data) == slow_body_type(data)


# --- read_message ------------------------------------------------------------


def test_read_message_parses_an_eml_file(tmp_path: Path) -> None:
    path = tmp_path / "hello.eml"
    path.write_bytes(b"From: a@example.org\nTo: b@example.org\nSubject: hi\n\nbody\n")
    message = read_message(path)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "hi"
    assert envelope_of(message) == Envelope("a@example.org", ("b@example.org",))


def test_read_message_takes_a_str_path(tmp_path: Path) -> None:
    path = tmp_path / "hello.eml"
    path.write_bytes(b"From: a@example.org\n\nbody\n")
    assert read_message(str(path))["From"] == "a@example.org"


def test_missing_message_file_is_missing_input(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.eml"
    with pytest.raises(MissingInput, match=re.escape(f"{path}: no such file")):
        read_message(path)


def test_directory_is_not_a_readable_message(tmp_path: Path) -> None:
    with pytest.raises(MessageError, match="cannot read") as raised:
        read_message(tmp_path)
    assert not isinstance(raised.value, MissingInput)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\xff\xfe binary junk\n\nmore", b"just some words\n", b"\xff\xfeF\x00r\x00"],
)
def test_file_without_header_fields_is_not_a_message(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.eml"
    path.write_bytes(content)
    with pytest.raises(MessageError, match="is not an email message: it has no header fields"):
        read_message(path)
