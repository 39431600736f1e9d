"""From a message to what SMTP needs: an envelope, wire bytes, and their parameters.

Theory of operation: the caller hands over an ``email.message`` object (or a
path, through :func:`read_message`). Three questions are asked of it, each
answered by one function:

- who is it from and for? :func:`envelope_of` reads the address fields the way
  ``smtplib.send_message`` does (RFC 5322 §3.6.6: one Resent- block, if present,
  wins), with the header registry's RFC 5322 parser rather than
  ``email.utils.getaddresses``, and refuses to guess when a field does not parse;
- what goes on the wire? :func:`flatten` serialises a deep copy with CRLF line
  endings and without Bcc, under ``email.policy.SMTP``, or ``SMTPUTF8`` when a
  header carries a non-ASCII address (RFC 6531/6532: an address cannot be
  RFC 2047-encoded; display names and subjects can, and are). Header lines
  read from a file go out as they came in, never re-folded (DKIM signs them);
- what must MAIL FROM declare? :func:`body_type` sorts the bytes into 7-bit,
  8BITMIME (RFC 6152) or BINARYMIME (RFC 3030), and :func:`needs_smtputf8`
  checks the envelope.

Nothing here touches the caller's message: :func:`flatten` works on a copy,
because the generator itself writes missing MIME boundaries into what it
flattens. A bad message raises :class:`MessageError` with a one-line reason.
"""

from __future__ import annotations

import copy
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy as email_policy
from email.errors import InvalidHeaderDefect
from email.generator import BytesGenerator
from email.headerregistry import AddressHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from pathlib import Path
from typing import Any

from smtpx.protocol import is_mailbox

__all__ = [
    "Envelope",
    "Flattened",
    "MessageError",
    "MissingInput",
    "body_type",
    "envelope_of",
    "flatten",
    "needs_smtputf8",
    "read_message",
]

# RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including its CRLF.
MAX_LINE = 998
# RFC 5322 §3.6.2-3.6.3, §3.6.6: the fields that hold addresses.
_ADDRESS_FIELDS = frozenset(
    {
        *("from", "sender", "reply-to", "to", "cc", "bcc"),
        *("resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc"),
    }
)
# RFC 5321 §4.1.1.3: the one recipient RCPT accepts without a domain.
_POSTMASTER = "postmaster"
# RFC 5322 §3.6.8: a field name is printable ASCII other than the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")
# A line break not followed by whitespace would start a new header line: injection.
# A break followed by whitespace is folding (RFC 5322 §2.2.3), as parsed messages keep it.
_UNFOLDED_BREAK = re.compile(r"\r(?!\n)|\n(?![ \t])")
_FOLD = re.compile(r"\r\n|\r|\n")
# Parses address fields; the policy only chooses the header classes.
_PARSING = email_policy.default
# policy.SMTP and SMTPUTF8, except that header text kept from a parsed file (or a
# compat32 message) is written as it came: the default, refold_source="long",
# re-folds any line over 78 characters, and on Python 3.11 turns a long token
# (a DKIM b= value, a List-Unsubscribe URL) into RFC 2047 encoded words,
# which breaks DKIM signatures and structured fields. Header objects set by
# a program still fold to 78 columns.
# (Typed for any message: a compat32 Message is flattened under it too.)
_WIRE: EmailPolicy[Any] = email_policy.SMTP.clone(refold_source="none")
_WIRE_UTF8: EmailPolicy[Any] = email_policy.SMTPUTF8.clone(refold_source="none")


class MessageError(ValueError):
    """The message cannot be sent as given; ``str()`` says why, in one line."""


class MissingInput(MessageError):
    """A file the message needs (the .eml itself, an attachment) does not exist."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a message is from and for, in SMTP terms (RFC 5321 §2.3.1).

    ``sender`` is the reverse-path, ``""`` for the null path ``<>``; ``recipients``
    are the forward-paths, one RCPT TO each. Addresses are checked on creation.
    """

    sender: str
    recipients: tuple[str, ...]

    def __post_init__(self) -> None:
        recipients: object = self.recipients
        if isinstance(recipients, str):
            raise TypeError("recipients must be a tuple of addresses, not one string")
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if self.sender:
            _check_mailbox("sender", self.sender)
        if not self.recipients:
            raise MessageError("the envelope has no recipients")
        for recipient in self.recipients:
            if recipient.lower() != _POSTMASTER:
                _check_mailbox("recipient", recipient)


@dataclass(frozen=True, slots=True)
class Flattened:
    """A message as wire bytes, and what MAIL FROM must declare to carry them.

    ``body`` is the BODY parameter (:func:`body_type`); ``smtputf8`` is true when
    the header section holds UTF-8 (RFC 6532), which only SMTPUTF8 may carry.
    """

    data: bytes
    smtputf8: bool
    body: str | None


def envelope_of(message: Message) -> Envelope:
    """The envelope a message's own header fields ask for.

    The sender is the one address of Sender, else of From; the recipients are
    those of To, Cc and Bcc, in that order, each once. When the message has
    exactly one Resent-Date, its Resent- fields are used instead (RFC 5322
    §3.6.6); more than one block is ambiguous and refused.
    """
    return Envelope(sender_of(message), recipients_of(message))


def sender_of(message: Message) -> str:
    """The envelope sender named by the header fields (see ``envelope_of``)."""
    prefix = _resent_prefix(message)
    author_field = f"{prefix}Sender" if f"{prefix}Sender" in message else f"{prefix}From"
    if author_field not in message:
        raise MessageError(f"the message has no {author_field} field, so it has no sender")
    authors = _field_addresses(message, author_field)
    if len(authors) != 1:
        hint = f"; add a {prefix}Sender field" if author_field.endswith("From") else ""
        raise MessageError(
            f"the {author_field} field has {len(authors)} addresses where SMTP needs "
            f"exactly one sender{hint}"
        )
    return authors[0]


def recipients_of(message: Message) -> tuple[str, ...]:
    """The recipients named by the header fields (see ``envelope_of``)."""
    fields = [f"{_resent_prefix(message)}{name}" for name in ("To", "Cc", "Bcc")]
    recipients = _unique(address for name in fields for address in _field_addresses(message, name))
    if not recipients:
        raise MessageError(f"the message has no recipients in {', '.join(fields)}")
    return recipients


def _resent_prefix(message: Message) -> str:
    resent = message.get_all("Resent-Date") or []
    if len(resent) > 1:
        raise MessageError(
            f"the message has {len(resent)} Resent-Date fields, so it is unclear which "
            "Resent- block is the newest; give the envelope explicitly"
        )
    return "Resent-" if resent else ""


def flatten(message: Message) -> Flattened:
    """The message as SMTP wire bytes: CRLF line endings, no Bcc or Resent-Bcc.

    Serialised with ``email.policy.SMTP``, which RFC 2047-encodes non-ASCII
    display names and subjects; with ``email.policy.SMTPUTF8`` (raw UTF-8
    headers) when an address field holds a non-ASCII address, which no
    encoding can carry. Either way header lines read from a file are written
    as they were read, not re-folded. A header with a bare CR or LF (header
    injection) raises :class:`MessageError`.
    """
    # Deep, not shallow: the generator writes a boundary into every multipart
    # part that lacks one, and the parts are shared by a shallow copy. The
    # payloads are immutable strings, so the copy is of the tree, not the data.
    wire = copy.deepcopy(message)
    del wire["Bcc"]
    del wire["Resent-Bcc"]
    for part in wire.walk():
        _check_fields(part)
        if not isinstance(part.policy, EmailPolicy):
            _adopt_smtp_policy(part)
    smtputf8 = _has_utf8_address(wire)
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=_WIRE_UTF8 if smtputf8 else _WIRE).flatten(wire)
    data = buffer.getvalue()
    # Raw 8-bit header text from a parsed file is written back as it came
    # (the generator does not re-encode it): RFC 6532 UTF-8 headers.
    smtputf8 = smtputf8 or not _header_section(data).isascii()
    return Flattened(data, smtputf8, body_type(data))


def body_type(data: bytes) -> str | None:
    """The BODY parameter a message's bytes need: None, "8BITMIME" or "BINARYMIME".

    None for 7-bit text (RFC 5321 §2.4); "8BITMIME" when octets above 127 appear
    in otherwise clean lines (RFC 6152); "BINARYMIME" for NUL, a CR or LF outside
    a CRLF pair, or a line over 998 octets, which only BDAT can carry (RFC 3030).
    """
    if b"\0" in data:
        return "BINARYMIME"
    # Each CRLF holds one CR and one LF, and pairs cannot overlap: equal counts
    # mean every CR and every LF is part of a CRLF.
    pairs = data.count(b"\r\n")
    if data.count(b"\r") != pairs or data.count(b"\n") != pairs:
        return "BINARYMIME"
    if len(data) > MAX_LINE and max(map(len, data.split(b"\r\n"))) > MAX_LINE:
        return "BINARYMIME"
    return None if data.isascii() else "8BITMIME"


def needs_smtputf8(envelope: Envelope) -> bool:
    """True when an envelope address is non-ASCII (RFC 6531 §3.4: MAIL needs SMTPUTF8)."""
    return not (envelope.sender.isascii() and all(r.isascii() for r in envelope.recipients))


def read_message(path: str | os.PathLike[str]) -> EmailMessage:
    """Parse an RFC 5322 message file (.eml) under ``email.policy.default``.

    A missing file raises :class:`MissingInput`; an unreadable one, or one with
    no header fields at all (not a message), raises :class:`MessageError`.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise MissingInput(f"{os.fspath(path)}: no such file") from None
    except OSError as error:
        raise MessageError(f"cannot read {os.fspath(path)}: {error.strerror or error}") from None
    message = BytesParser(EmailMessage, policy=email_policy.default).parsebytes(raw)
    if not message.keys():
        raise MessageError(f"{os.fspath(path)} is not an email message: it has no header fields")
    return message


def _check_mailbox(role: str, address: str) -> None:
    """Refuse what cannot follow MAIL FROM or RCPT TO (RFC 5321 §4.1.2)."""
    if any(c in address for c in "\r\n\0"):
        raise MessageError(f"the {role} address {address!r} contains CR, LF or NUL")
    if not is_mailbox(address):
        raise MessageError(f"the {role} address {address!r} is not a valid mailbox")


def _field_text(name: str, value: object) -> str:
    """A field's value on one line, refusing line breaks that are not folding."""
    text = str(value)
    if _UNFOLDED_BREAK.search(text) or "\0" in text:
        raise MessageError(f"the {name} field contains a bare CR, LF or NUL: {_shorten(text)}")
    return _FOLD.sub("", text)


def _field_addresses(message: Message, name: str) -> list[str]:
    """The addr-specs of every ``name`` field of the message, groups flattened."""
    addresses: list[str] = []
    for value in message.get_all(name) or []:
        header = _address_header(name, value)
        if any(isinstance(defect, InvalidHeaderDefect) for defect in header.defects):
            raise MessageError(
                f"the {name} field is not a valid address list: {_shorten(str(value))}"
            )
        for address in header.addresses:
            mailbox = _from_surrogates(name, address.addr_spec)
            _check_mailbox(f"{name} field's", mailbox)
            addresses.append(mailbox)
    return addresses


def _address_header(name: str, value: object) -> Any:
    """The header registry's parse of an address field (RFC 5322 §3.4).

    Stricter than ``email.utils.getaddresses``, which on Python 3.11 reads
    ``alice@example.org)<bob@example.org>`` as two addresses (CVE-2023-27043):
    this parser finds one and reports an InvalidHeaderDefect.
    """
    text = _field_text(name, value)
    if isinstance(value, AddressHeader):
        return value
    return _PARSING.header_factory(name, text)


def _from_surrogates(name: str, text: str) -> str:
    """Undo the parser's surrogateescape: raw 8-bit header text back to UTF-8."""
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        raise MessageError(f"the {name} field has an address that is not UTF-8") from None


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    """Each address once, first occurrence kept; domains compare without case.

    RFC 5321 §2.4: the local part may be case-sensitive, so it is kept as written.
    """
    seen: dict[tuple[str, str], str] = {}
    for address in addresses:
        local, _, domain = address.rpartition("@")
        seen.setdefault((local, domain.lower()), address)
    return tuple(seen.values())


def _check_fields(part: Message) -> None:
    """Refuse field names and values that would break the header section."""
    for name, value in part.raw_items():
        if not _FIELD_NAME.match(name):
            raise MessageError(f"{name!r} is not a valid header field name")
        _field_text(name, value)


def _adopt_smtp_policy(part: Message) -> None:
    """Re-store a compat32 part's fields as header objects ``policy.SMTP`` can fold.

    Under an EmailPolicy a plain non-ASCII string is written as it is, and
    ``policy.SMTP`` then fails to encode it as ASCII (compat32 itself would
    RFC 2047-encode the whole value, address included); as a header object it
    is encoded with its addresses left intact. ASCII values and raw 8-bit ones
    (surrogates, from a parsed file) stay byte for byte as they were.
    """
    items = list(part.raw_items())
    for name in {name.lower() for name, _ in items}:
        del part[name]
    for name, value in items:
        text = str(value)
        if text.isascii() or _has_surrogates(text):
            part.set_raw(name, text)
        else:
            part.set_raw(*email_policy.SMTP.header_store_parse(name, _field_text(name, text)))
    part.policy = email_policy.SMTP


def _has_utf8_address(message: Message) -> bool:
    """True when a top-level address field holds a non-ASCII addr-spec."""
    for name, value in message.raw_items():
        if name.lower() not in _ADDRESS_FIELDS or str(value).isascii():
            continue
        header = _address_header(name, value)
        if not all(address.addr_spec.isascii() for address in header.addresses):
            return True
    return False


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _header_section(data: bytes) -> bytes:
    """The header fields of serialised message bytes, up to the empty line."""
    if data.startswith(b"\r\n"):
        return b""
    end = data.find(b"\r\n\r\n")  # not partition(): that would copy the body too
    return data if end < 0 else data[:end]


def _shorten(text: str, limit: int = 60) -> str:
    """A value for an error message: quoted, on one line, not too long."""
    return repr(text if len(text) <= limit else text[:limit] + "...")
