"""Replies: the receiver's answer to every command.

Theory of operation: a reply is a three-digit code (RFC 5321 §4.2), an optional
enhanced status code (RFC 3463, ``class.subject.detail``, placed after the code
as RFC 2034 §3 describes) and human-readable text of one or more lines. The
first digit decides what the sender does next: 2 done, 3 go on, 4 try again
later, 5 give up. A multi-line reply repeats the code on every line with ``-``
after it on all but the last (RFC 5321 §4.2.1).

``Reply`` is a value; its wire form is produced by :func:`format_reply` and read
back by the reply reader in ``_readers``. ``STANDARD_REPLIES`` holds one default
reply per code that smtpx uses.
"""

from __future__ import annotations

import re

from ._events import Reply

# RFC 3463 §2: class "." subject "." detail, class 2, 4 or 5, each 1-3 digits.

_ENHANCED_PREFIX = re.compile(r"([245]\.\d{1,3}\.\d{1,3})(?: |\Z)")


def format_reply(reply: Reply) -> bytes:
    """The wire form of ``reply``: every line ``code``, ``-`` or space, status, text."""
    wire = reply._wire
    if wire is None:
        wire = _format(reply)
        object.__setattr__(reply, "_wire", wire)
    return wire


def _format(reply: Reply) -> bytes:
    code = str(reply.code)
    lines = reply.text.split("\n")
    last = len(lines) - 1
    out: list[str] = []
    for i, line in enumerate(lines):
        body = " ".join(filter(None, (reply.status, line)))
        sep = "-" if i < last else " "
        out.append(f"{code}{sep}{body}\r\n" if body else f"{code}{sep.strip()}\r\n")
    return "".join(out).encode("utf-8", "surrogateescape")


def split_status(code: int, texts: list[str]) -> Reply:
    """Build a Reply from the texts of its lines, lifting an enhanced status.

    RFC 2034 §3: when enhanced codes are used, every line of the reply starts
    with the same status; its class must agree with the reply code's first digit.
    """
    first = texts[0]
    match = _ENHANCED_PREFIX.match(first)
    if match is None or int(first[0]) != code // 100:
        return Reply(code, None, "\n".join(texts))
    status = match.group(1)
    if len(texts) == 1:
        return Reply(code, status, first[match.end() :])
    size = len(status)
    stripped = [
        t[size + 1 :] if t.startswith(status + " ") else ("" if t == status else t) for t in texts
    ]
    return Reply(code, status, "\n".join(stripped))


def _table(*rows: tuple[int, str | None, str]) -> dict[int, Reply]:
    return {code: Reply(code, status, text) for code, status, text in rows}


# One default per code: RFC 5321 §4.2.2/§4.2.3 texts, RFC 3463 enhanced codes.
STANDARD_REPLIES: dict[int, Reply] = _table(
    (211, "2.0.0", "System status"),
    (214, "2.0.0", "Help message follows"),
    (220, "2.0.0", "Service ready"),
    (221, "2.0.0", "Service closing transmission channel"),
    (235, "2.7.0", "Authentication successful"),  # RFC 4954 §6
    (250, "2.0.0", "OK"),
    (251, "2.1.5", "User not local; will forward"),
    (252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"),
    (334, None, ""),  # RFC 4954 §4: the text is a base64 challenge
    (354, None, "Start mail input; end with <CRLF>.<CRLF>"),
    (421, "4.3.0", "Service not available, closing transmission channel"),
    (450, "4.2.0", "Requested mail action not taken: mailbox unavailable"),
    (451, "4.3.0", "Requested action aborted: local error in processing"),
    (452, "4.3.1", "Requested action not taken: insufficient system storage"),
    (454, "4.7.0", "Temporary authentication or TLS failure"),  # RFC 3207, RFC 4954
    (500, "5.5.2", "Syntax error, command unrecognized"),
    (501, "5.5.4", "Syntax error in parameters or arguments"),
    (502, "5.5.1", "Command not implemented"),
    (503, "5.5.1", "Bad sequence of commands"),
    (504, "5.5.4", "Command parameter not implemented"),
    (530, "5.7.0", "Authentication required"),  # RFC 4954 §6
    (534, "5.7.9", "Authentication mechanism is too weak"),
    (535, "5.7.8", "Authentication credentials invalid"),
    (550, "5.1.1", "Requested action not taken: mailbox unavailable"),
    (551, "5.1.6", "User not local"),
    (552, "5.3.4", "Message size exceeds fixed maximum message size"),  # RFC 1870 §6
    (553, "5.1.3", "Requested action not taken: mailbox name not allowed"),
    (554, "5.0.0", "Transaction failed"),
    (555, "5.5.4", "MAIL FROM/RCPT TO parameters not recognized or not implemented"),
)


def standard_reply(code: int, text: str | None = None) -> Reply:
    """The standard reply for ``code``, optionally with other text."""
    base = STANDARD_REPLIES[code]
    return base if text is None else Reply(code, base.status, text)
