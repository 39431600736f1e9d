"""From what the caller hands over to one ``Transaction``: envelope, bytes, choices.

A caller gives either an ``email.message.EmailMessage`` (the envelope then comes
from its headers unless given, and Bcc is stripped from what is sent) or bytes
with an explicit envelope. Either way line endings become CRLF (RFC 5321
§2.3.8), and the message is classed as 7-bit, 8-bit (BODY=8BITMIME) or binary
(a NUL: BODY=BINARYMIME, RFC 3030), and as needing SMTPUTF8 or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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
_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})
_ENVID_MAX = 100
_ORCPT_MAX = 500


def transaction(
    message: Message | bytes | Transaction,
    sender: str | None,
    recipients: Iterable[str] | None,
    *,
    ret: str | None = None,
    envid: str | None = None,
    notify: Iterable[str] | None = None,
    orcpt: Mapping[str, str] | None = None,
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
    notify_words = _notify(notify)
    if ret is not None and ret.upper() not in ("FULL", "HDRS"):
        raise MessageError(f"RET takes FULL or HDRS, not {ret!r}")
    # RFC 3461 §4.4: an ENVID of at most 100 characters; §4.2: ORCPT 500.
    if envid is not None and not 0 < len(envid) <= _ENVID_MAX:
        raise MessageError(f"ENVID must be 1 to {_ENVID_MAX} characters")
    for recipient, original in (orcpt or {}).items():
        if recipient not in envelope.recipients:
            raise MessageError(f"ORCPT given for {recipient!r}, which is not a recipient")
        if not 0 < len(original) <= _ORCPT_MAX - len("rfc822;"):
            raise MessageError(f"the original recipient of {recipient!r} is too long or empty")
    return Transaction(
        envelope.sender,
        envelope.recipients,
        data,
        body=_body(data),
        smtputf8=smtputf8 or needs_smtputf8(envelope),
        ret=ret.upper() if ret is not None else None,
        envid=envid,
        notify=notify_words,
        orcpt=tuple((orcpt or {}).items()),
    )


def _notify(words: Iterable[str] | None) -> tuple[str, ...] | None:
    """RFC 3461 §4.1: NEVER alone, or some of SUCCESS, FAILURE, DELAY, once each."""
    if words is None:
        return None
    notify = tuple(word.strip().upper() for word in words)
    if notify == ("NEVER",):
        return notify
    if not notify or not set(notify) <= _NOTIFY or len(set(notify)) != len(notify):
        raise MessageError(
            f"NOTIFY takes NEVER alone, or SUCCESS, FAILURE and DELAY, not {','.join(notify)}"
        )
    return notify


Item = Message | bytes | Transaction | tuple[bytes, str, Iterable[str]]


def transactions(items: Iterable[Item]) -> list[Transaction]:
    """``transaction`` for each item of a batch; a tuple is (bytes, sender, recipients)."""
    return [
        transaction(item[0], item[1], item[2])
        if isinstance(item, tuple)
        else transaction(item, None, None)
        for item in items
    ]


def _body(data: bytes) -> str | None:
    """BODY= for ``data`` (RFC 6152, RFC 3030); long lines alone do not make it binary:
    servers take them in practice, and refusing them would refuse common mail."""
    body = body_type(data)
    if body == "BINARYMIME" and b"\0" not in data:
        return None if data.isascii() else "8BITMIME"
    return body
