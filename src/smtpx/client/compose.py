"""Build a message to send: addresses, a text and/or HTML body, attachments.

Theory of operation: :func:`compose` checks every input a person typed
(addresses, subject, header fields, file names) before any of it reaches the
``email`` package, then lets that package write all the MIME: header objects
RFC 2047-encode UTF-8 subjects and display names, ``set_content`` /
``add_alternative`` / ``add_related`` / ``add_attachment`` build the tree::

    multipart/mixed                      only with attachments
      multipart/alternative              only with both text and HTML
        text/plain
        multipart/related                only with inline images
          text/html
          image/png  Content-ID: <logo>  shown by <img src="cid:logo">
      application/pdf                    an attachment

Bodies are made 7-bit (quoted-printable or base64, the ``email`` package's
choice per part), so the result goes to any server without BODY=8BITMIME.
Bcc is kept as a header: :func:`~smtpx.client._message.envelope_of` reads it,
and :func:`~smtpx.client._message.flatten` leaves it off the wire.

    >>> message = compose(sender="Jürgen <j@example.org>", to="ops@example.net",
    ...                   subject="Grüße", text="Hello", date=False, message_id=False)
    >>> print(message["Subject"], message.get_content_type())
    Grüße text/plain
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Iterable
from email import policy as email_policy
from email.errors import InvalidHeaderDefect
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TypeAlias, TypeGuard

from smtpx.protocol import is_mailbox

from ._message import MAX_LINE, MessageError, MissingInput, body_type

__all__ = ["Attachment", "Mailbox", "compose"]

#: One address: ``"a@example.org"``, ``"Jürgen <j@example.org>"``, a
#: ``(display name, address)`` pair, or an ``email.headerregistry.Address``.
Mailbox: TypeAlias = str | tuple[str, str] | Address
#: A file to attach: a path, or ``(filename, content, MIME type or None to guess)``.
Attachment: TypeAlias = str | os.PathLike[str] | tuple[str, bytes, str | None]

# email.policy.SMTP (CRLF) choosing 7-bit transfer encodings for the bodies it writes.
_POLICY = email_policy.SMTP.clone(cte_type="7bit")
# RFC 5322 §3.6.8: printable ASCII other than the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")
# RFC 6838 §4.2: type "/" subtype, each a restricted-name.
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MIME_TYPE = re.compile(rf"({_RESTRICTED_NAME})/({_RESTRICTED_NAME})\Z")
# RFC 2392: the cid: URL names a Content-ID, a msg-id (RFC 5322 §3.6.4) without
# its angle brackets; no spaces, brackets or controls.
_CONTENT_ID = re.compile(r"[!-;=?-~]+\Z")
# C0 controls but tab, and DEL (CR, LF and NUL are refused first, by name).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# What guess_type reports as an "encoding" is the file's real type.
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}
_FALLBACK_TYPE = "application/octet-stream"
# RFC 2046 §5.2.1, RFC 6532 §3.7: message types that may carry 8-bit text.
_EIGHT_BIT_MESSAGES = frozenset({"rfc822", "global"})
# compose() writes these itself, from the body it builds.
_MIME_FIELDS = ("content-", "mime-version")


def compose(
    *,
    sender: Mailbox,
    to: Mailbox | Iterable[Mailbox],
    cc: Mailbox | Iterable[Mailbox] = (),
    bcc: Mailbox | Iterable[Mailbox] = (),
    subject: str = "",
    text: str | None = None,
    html: str | None = None,
    attachments: Iterable[Attachment] = (),
    inline: Iterable[tuple[str, str | os.PathLike[str]]] = (),
    headers: Iterable[tuple[str, str]] = (),
    date: bool = True,
    message_id: bool = True,
) -> EmailMessage:
    """A message from ``sender`` to ``to``, ``cc`` and ``bcc``, ready to send.

    Each of ``sender``, ``to``, ``cc`` and ``bcc`` takes a :data:`Mailbox`, and
    the recipients also a list of them; a string may hold several addresses
    (``"a@x.org, b@y.org"``). ``text`` alone gives text/plain, ``html`` alone
    text/html, both multipart/alternative; neither, an empty text/plain (or no
    body part at all when there are attachments).
    ``inline`` holds ``(cid, path)`` pairs the HTML shows as ``cid:<cid>``.
    ``headers`` adds fields such as ``("Reply-To", "help@example.org")``.
    Date and Message-ID are added unless switched off or given in ``headers``.

    Raises :class:`MessageError` for a bad address, a CR, LF or other control
    character (tab aside) in any value, or a header compose() writes itself;
    :class:`MissingInput` for a file that is not there.
    """
    message = EmailMessage(policy=_POLICY)
    authors = _mailboxes("sender", sender)
    if len(authors) != 1:
        raise MessageError(f"the sender must be one address, not {len(authors)}")
    message["From"] = authors[0]
    recipients = 0
    for name, value in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        addresses = _mailboxes(name.lower(), value)
        recipients += len(addresses)
        if addresses:
            message[name] = addresses
    if not recipients:
        raise MessageError("the message has no recipients: give to, cc or bcc")
    if subject:
        message["Subject"] = _one_line("subject", subject)
    fields = list(headers)
    given = {name.lower() for name, _ in fields}
    # A Date or Message-ID among ``headers`` replaces the one compose() would write.
    if date and "date" not in given:
        message["Date"] = formatdate(localtime=True)
    if message_id and "message-id" not in given:
        message["Message-ID"] = make_msgid(domain=_ascii_domain(authors[0].domain))
    for name, value in fields:
        _add_field(message, name, value)
    _add_body(message, text, html, list(inline))
    for attachment in attachments:
        _attach(message, attachment)
    # add_attachment() on a message with no body yet makes a multipart/mixed
    # without MIME-Version; RFC 2045 §4 requires it at the top.
    if "MIME-Version" not in message:
        message["MIME-Version"] = "1.0"
    return message


def _mailboxes(role: str, value: Mailbox | Iterable[Mailbox]) -> list[Address]:
    """Every address ``value`` names, checked.

    A str, an Address or a ``(name, address)`` pair is one item; any other
    iterable holds items. A 2-tuple of strings is a pair when its first string
    has no "@": ``("Jürgen", "j@example.org")``, not ``("a@x.org", "b@y.org")``.
    """
    items = [value] if isinstance(value, str | Address) or _is_pair(value) else value
    addresses: list[Address] = []
    for item in items:
        if isinstance(item, Address):
            found = [item]
        elif isinstance(item, tuple):
            name, addr_spec = item
            _one_line(f"{role} display name", name)
            try:
                found = [Address(display_name=name, addr_spec=_one_line(role, addr_spec))]
            except (ValueError, IndexError):
                raise MessageError(f"{role}: {addr_spec!r} is not a valid address") from None
        elif isinstance(item, str):
            header = _POLICY.header_factory("To", _one_line(role, item))
            if any(isinstance(defect, InvalidHeaderDefect) for defect in header.defects):
                raise MessageError(f"{role}: {item!r} is not a valid address list")
            found = list(header.addresses)
        else:
            raise TypeError(f"{role}: expected an address, got {type(item).__name__}")
        for address in found:
            _one_line(f"{role} display name", address.display_name)
            _one_line(role, address.addr_spec)
            if not is_mailbox(address.addr_spec):
                raise MessageError(f"{role}: {address.addr_spec!r} is not a valid address")
        addresses.extend(found)
    return addresses


def _is_pair(value: object) -> TypeGuard[tuple[str, str]]:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(part, str) for part in value)
        and "@" not in value[0]
    )


def _one_line(what: str, value: str) -> str:
    """``value`` unchanged, unless it holds a line break or NUL (header injection)
    or another control character but tab (RFC 5322 §2.2: none belongs in a field)."""
    if any(c in value for c in "\r\n\0"):
        raise MessageError(f"the {what} contains CR, LF or NUL: {value!r}")
    if _CONTROL.search(value):
        raise MessageError(f"the {what} contains a control character: {value!r}")
    return value


def _ascii_domain(domain: str) -> str:
    """The domain for a Message-ID: IDNA A-labels keep the header ASCII."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "invalid"  # RFC 2606; the id stays unique by its random left part


def _add_field(message: EmailMessage, name: str, value: str) -> None:
    if not _FIELD_NAME.match(name):
        raise MessageError(f"{name!r} is not a valid header field name")
    if name.lower().startswith(_MIME_FIELDS):
        raise MessageError(f"compose() writes {name} itself, from the body it builds")
    _one_line(f"{name} field", value)
    limit = _POLICY.header_max_count(name)
    if limit is not None and len(message.get_all(name) or []) >= limit:
        raise MessageError(f"cannot add {name}: RFC 5322 allows only {limit} in a message")
    if value.isascii() and len(name) + 2 + len(value) <= MAX_LINE:
        # Kept as given: folding it as a header object would turn a long token,
        # such as a List-Unsubscribe URL, into RFC 2047 encoded words.
        message.set_raw(name, value)
    else:
        message[name] = value


def _add_body(
    message: EmailMessage,
    text: str | None,
    html: str | None,
    inline: list[tuple[str, str | os.PathLike[str]]],
) -> None:
    if inline and html is None:
        raise MessageError("inline images need an html body that shows them")
    if html is None:
        if text is not None:
            message.set_content(text)
        return
    shows: MIMEPart = message
    if text is None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        shows = list(message.iter_parts())[-1]
    for cid, path in inline:
        data, maintype, subtype = _read(path, "inline image")
        content_id = cid.removeprefix("<").removesuffix(">")
        if not _CONTENT_ID.match(content_id):
            raise MessageError(f"{cid!r} is not a usable Content-ID")
        shows.add_related(
            data,
            maintype,
            subtype,
            cid=f"<{content_id}>",
            disposition="inline",
            filename=Path(path).name,
        )


def _attach(message: EmailMessage, attachment: Attachment) -> None:
    if isinstance(attachment, tuple):
        filename, data, mime_type = attachment
        if mime_type is None:
            maintype, subtype = _guess_type(filename)
        else:
            maintype, subtype = _parse_type(mime_type)
    else:
        data, maintype, subtype = _read(attachment, "attachment")
        filename = Path(attachment).name
    filename = _one_line("attachment file name", filename)
    if maintype == "message":
        # RFC 2046 §5.2.1: a message/rfc822 body is 7bit, 8bit or binary, never
        # base64. 7-bit bytes are attached as they are; an 8-bit message goes in
        # parsed, because the generator writes a message/* payload held as a
        # string with a strict ASCII encode; anything else goes as plain data.
        kind = body_type(data)
        if kind is None:
            message.add_attachment(data, maintype, subtype, cte="7bit", filename=filename)
            return
        if kind == "8BITMIME" and subtype in _EIGHT_BIT_MESSAGES:
            attached = BytesParser(EmailMessage, policy=email_policy.default).parsebytes(data)
            message.add_attachment(attached, subtype, cte="8bit", filename=filename)
            return
        maintype, subtype = _FALLBACK_TYPE.split("/")
    message.add_attachment(data, maintype, subtype, filename=filename)


def _read(path: str | os.PathLike[str], what: str) -> tuple[bytes, str, str]:
    """A file's bytes and its MIME type guessed from its name."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise MissingInput(f"{what} not found: {os.fspath(path)}") from None
    except OSError as error:
        raise MessageError(f"cannot read {what} {os.fspath(path)}: {error.strerror}") from None
    return (data, *_guess_type(os.fspath(path)))


def _guess_type(filename: str) -> tuple[str, str]:
    mime_type, encoding = mimetypes.guess_type(filename)
    if encoding is not None:  # "a.tar.gz" is gzip data, not a tar file
        mime_type = _COMPRESSED.get(encoding, _FALLBACK_TYPE)
    if mime_type is None or mime_type.startswith("multipart/"):
        mime_type = _FALLBACK_TYPE
    return _parse_type(mime_type)


def _parse_type(mime_type: str) -> tuple[str, str]:
    match = _MIME_TYPE.match(mime_type)
    if match is None or match.group(1).lower() == "multipart":
        raise MessageError(f"{mime_type!r} is not a MIME type for an attachment")
    return match.group(1).lower(), match.group(2).lower()
