"""The Received chain: each ``Received:`` trace header read into its clauses.

Theory of operation: RFC 5321 §4.4 gives a trace header's shape,

    Received: FROM domain (TCP-info) BY domain (comment) [VIA link] [WITH protocol]
              [ID id] [FOR <path>] ; date-time

but real MTAs leave clauses out, reorder them and put anything in comments. So
this is a tolerant reader, not a grammar: the date is what follows the last ";"
(RFC 5322 §3.6.7), the rest is split into words and parenthesised comments
(nested, with backslash quoting, RFC 5322 §3.2.2), and a keyword word (FROM, BY,
VIA, WITH, ID, FOR) takes the next word as its value. The comments after FROM
and BY are kept, since that is where the client's real name and address are
(``(mail.example [192.0.2.1])``). Whatever does not fit is simply not a field:
the header's text is always kept in ``raw``, and reading never raises.

Each MTA adds its Received header on top, so the chain in header order starts
with the last hop (the one nearest the store) and ends with the first.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Hop", "parse_received"]

# The clause keywords of RFC 5321 §4.4 (Stamp, Opt-info).
_KEYWORDS = frozenset({"from", "by", "via", "with", "id", "for"})


@dataclass(frozen=True, slots=True)
class Hop:
    """One Received header, read as far as it reads; None where a clause is absent."""

    raw: str  # the header's value, unfolded
    from_: str | None = None  # the name the client gave (HELO/EHLO), or its address
    from_info: str | None = None  # the comment after it: "mail.example [192.0.2.1]"
    by: str | None = None  # the host that received the message
    by_info: str | None = None
    via: str | None = None
    with_: str | None = None  # the protocol: "ESMTPS", "SMTP", "LMTP"...
    id: str | None = None
    for_: str | None = None  # the recipient, without angle brackets
    date: str | None = None  # as written
    timestamp: datetime | None = None  # the date, parsed; None if it does not parse


def parse_received(value: str) -> Hop:
    """The clauses of one Received header's ``value`` (folded or not). Never raises."""
    raw = " ".join(value.split())
    try:
        return _parse(raw)
    except Exception:  # a trace header is shown, never trusted: keep its text
        return Hop(raw=raw)


def _parse(raw: str) -> Hop:
    clauses, semicolon, date_text = raw.rpartition(";")
    if not semicolon:
        clauses, date_text = raw, ""
    date = date_text.strip() or None
    timestamp: datetime | None = None
    if date is not None:
        try:
            timestamp = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            timestamp = None

    fields: dict[str, str] = {}
    comments: dict[str, list[str]] = {}
    keyword: str | None = None  # the clause the next word or comment belongs to
    for kind, text in _tokens(clauses):
        if kind == "comment":
            if keyword is not None:
                comments.setdefault(keyword, []).append(text)
        elif text.lower() in _KEYWORDS and text.lower() not in fields:
            keyword = text.lower()
            fields[keyword] = ""
        elif keyword is not None and not fields[keyword]:
            fields[keyword] = text
    recipient = fields.get("for", "")
    if recipient.startswith("<") and recipient.endswith(">"):
        recipient = recipient[1:-1]
    return Hop(
        raw=raw,
        from_=fields.get("from") or None,
        from_info=" ".join(comments.get("from", ())) or None,
        by=fields.get("by") or None,
        by_info=" ".join(comments.get("by", ())) or None,
        via=fields.get("via") or None,
        with_=fields.get("with") or None,
        id=fields.get("id") or None,
        for_=recipient or None,
        date=date,
        timestamp=timestamp,
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    """``text`` as ("word", w) and ("comment", c) tokens; c without its parentheses.

    An unclosed comment runs to the end of the text."""
    tokens: list[tuple[str, str]] = []
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "(":
            comment: list[str] = []
            depth = 1
            i += 1
            while i < end and depth:
                char = text[i]
                if char == "\\" and i + 1 < end:  # RFC 5322 §3.2.1 quoted-pair
                    comment.append(text[i + 1])
                    i += 2
                    continue
                if char == "(":
                    depth += 1
                elif char == ")":
                    depth -= 1
                if depth:
                    comment.append(char)
                i += 1
            tokens.append(("comment", "".join(comment).strip()))
        else:
            start = i
            while i < end and not text[i].isspace() and text[i] != "(":
                i += 1
            tokens.append(("word", text[start:i]))
    return tokens
