"""From what the caller hands over to one ``Transaction``: envelope, bytes, choices.

A caller gives either an ``email.message.EmailMessage`` (the envelope then comes
from its headers unless given, and Bcc is stripped from what is sent) or bytes
with an explicit envelope. Either way line endings become CRLF (RFC 5321
§2.3.8), and the message is classed as 7-bit, 8-bit (BODY=8BITMIME) or binary
(a NUL: BODY=BINARYMIME, RFC 3030), and as needing SMTPUTF8 or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message

from ._message import (
    Envelope,
    MessageError,
    body_type,
    flatten,
    needs_smtputf8,
    recipients_of,
    sender_of,
)
from ._steps import Transaction

_ANY_EOL = re.compile(rb"\r\n|\r|\n")
_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY", "NEVER"})


def transaction(
    message: Message | bytes | Transaction,
    sender: str | None,
    recipients: Iterable[str] | None,
    *,
    ret: str | None = None,
    envid: str | None = None,
    notify: Iterable[str] | None = None,
) -> Transaction:
    """The transaction for ``message``; MessageError for the caller's mistakes.

    Public as ``smtpx.client.prepare``: checking a message before connecting
    means a bad one is refused without a word to the server.
    """
    if isinstance(message, Transaction):
        return message
    smtputf8 = False
    if isinstance(message, bytes | bytearray | memoryview):
        if sender is None or recipients is None:
            raise MessageError("raw message bytes need an explicit sender and recipients")
        data = bytes(message)
        crlf = data.count(b"\r\n")
        if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
            data = _ANY_EOL.sub(b"\r\n", data)
        envelope = Envelope(sender, tuple(recipients))
    else:
        envelope = Envelope(
            sender_of(message) if sender is None else sender,
            recipients_of(message) if recipients is None else tuple(recipients),
        )
        flattened = flatten(message)
        data, smtputf8 = flattened.data, flattened.smtputf8
    notify_words = tuple(word.upper() for word in notify) if notify is not None else None
    if notify_words is not None and not set(notify_words) <= _NOTIFY:
        raise MessageError(f"NOTIFY takes SUCCESS, FAILURE, DELAY or NEVER, not {notify_words}")
    if ret is not None and ret.upper() not in ("FULL", "HDRS"):
        raise MessageError(f"RET takes FULL or HDRS, not {ret!r}")
    return Transaction(
        envelope.sender,
        envelope.recipients,
        data,
        body=_body(data),
        smtputf8=smtputf8 or needs_smtputf8(envelope),
        ret=ret.upper() if ret is not None else None,
        envid=envid,
        notify=notify_words,
    )


def _body(data: bytes) -> str | None:
    """BODY= for ``data`` (RFC 6152, RFC 3030); long lines alone do not make it binary:
    servers take them in practice, and refusing them would refuse common mail."""
    body = body_type(data)
    if body == "BINARYMIME" and b"\0" not in data:
        return None if data.isascii() else "8BITMIME"
    return body
