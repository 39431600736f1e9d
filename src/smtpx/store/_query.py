"""The search language of the inbox: ``parse_query(text)`` turns a search box into a Query.

Theory of operation: a query is a list of *terms* separated by white space, all
of which a message must match (AND). A term is a word, a quoted phrase, or a
filter ``name:value``; a leading ``-`` negates any of them::

    invoice "quarterly report" from:alice@example.org -has:attachment
    subject:"two words" after:2024-01-31 larger:10k is:unread inbox:billing

Words and phrases
    Free words and ``"quoted phrases"`` are looked up in the full-text index:
    subject, From, To, Cc, envelope sender and recipients, Message-ID and the
    text of the message (see ``_text.py``). Case and accents do not matter
    ("cafe" finds "café"). A word is cut into tokens at anything that is not a
    letter or digit, and its tokens must follow one another ("alice@example.org"
    finds that address). An unquoted word that ends in a letter or digit, its
    last token at least ``MIN_PREFIX`` long, also finds words that start with it
    ("invoice" finds "invoices"; "100%" does not find "1000"); a quoted phrase
    finds whole words only. There is no OR: "a OR b" is three words. A word
    with no letter or digit at all ("—", "&") has nothing to look up: it
    constrains nothing.
``from:`` ``to:`` ``cc:`` ``subject:`` ``message-id:``
    The same, in one field: ``from:`` is the From header and the envelope sender,
    ``to:`` the To header and the envelope recipients (a Bcc recipient is only
    there), ``cc:`` the Cc header.
``has:attachment``, ``is:unread``, ``is:read``
    A message with an attachment (``Summary.attachments``); not yet marked seen;
    marked seen.
``before:DATE``, ``after:DATE``
    Received before the start of DATE (exclusive), at or after its start
    (inclusive), so ``after:2024-01-31 before:2024-02-01`` is that one day. DATE
    is ``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 time (``2024-01-31T09:30``,
    ``...Z``, ``...+02:00``; without an offset it is UTC).
``larger:SIZE``, ``smaller:SIZE``
    Size of the raw message strictly above, strictly below SIZE octets: a number,
    optionally with ``k``, ``M`` or ``G`` (1024, 1024², 1024³; ``10k``, ``1.5M``,
    ``2MB`` and ``2MiB`` alike).
``inbox:NAME``
    Filed in that inbox (exactly; ``inbox:""`` is the default inbox).

A value may be quoted: ``subject:"two words"``; inside quotes, ``\\"`` is a quote
and ``\\\\`` a backslash. Filter names and the values of ``has:`` and ``is:``
ignore case. Anything else is a :class:`QueryError` naming the term: an unknown
filter (``re:``, ``http:``: quote such a word to search for it), a filter with
no value, a bad date or size, an unterminated quote, more than ``MAX_TERMS``
terms. The empty query matches every message.

A Query is a plain value: ``str(query)`` writes it back as text that parses to
the same Query, and the store compiles it to SQL (``_search.py``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Literal

__all__ = [
    "MAX_TERMS",
    "MIN_PREFIX",
    "TEXT_FIELDS",
    "HasAttachment",
    "Inbox",
    "Query",
    "QueryError",
    "Received",
    "Size",
    "Term",
    "Text",
    "Unread",
    "parse_query",
    "quote",
    "tokens",
]

# An unquoted word's last token is a prefix from this many characters: a prefix of
# one or two letters ("a*", "th*") matches so many words that merging their lists
# takes longer than a search may (bench/store_search.py).
MIN_PREFIX = 3
# The filters that look up words, and the field each searches.
TEXT_FIELDS = ("from", "to", "cc", "subject", "message-id")
FILTERS = (*TEXT_FIELDS, "has", "is", "before", "after", "larger", "smaller", "inbox")
# Terms in one query, at most: each is a condition of one SQL statement, whose
# expression tree SQLite caps at 1000 levels (SQLITE_MAX_EXPR_DEPTH).
MAX_TERMS = 100
# The largest size worth comparing with (SQLite integers are 64-bit).
_SIZE_MAX = 2**62
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_FILTER_NAME = re.compile(r"([A-Za-z][A-Za-z-]*):")


class QueryError(ValueError):
    """A search the language cannot read; the message (one line) names the bad term."""


@dataclass(frozen=True, slots=True)
class Text:
    """Words to look up in the full-text index, in one field or ("") in all of them."""

    text: str
    field: str = ""  # "" or one of TEXT_FIELDS
    phrase: bool = False  # written in quotes: whole words only, no prefix
    negated: bool = False


@dataclass(frozen=True, slots=True)
class HasAttachment:
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Unread:
    """``is:unread``; ``is:read`` is ``Unread(negated=True)``."""

    negated: bool = False


@dataclass(frozen=True, slots=True)
class Received:
    """``before:`` (received before ``at``) or ``after:`` (at ``at`` or later)."""

    op: Literal["before", "after"]
    at: datetime  # UTC, timezone-aware
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Size:
    """``larger:`` (more than ``octets``) or ``smaller:`` (fewer)."""

    op: Literal["larger", "smaller"]
    octets: int
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Inbox:
    name: str
    negated: bool = False


Term = Text | HasAttachment | Unread | Received | Size | Inbox


@dataclass(frozen=True, slots=True)
class Query:
    """What a message must match: every term (none: every message)."""

    terms: tuple[Term, ...] = ()

    def in_inbox(self, name: str) -> Query:
        """This query, restricted to the inbox ``name``."""
        return Query((*self.terms, Inbox(name)))

    def __str__(self) -> str:
        return " ".join(_render(term) for term in self.terms)


def parse_query(text: str) -> Query:
    """The Query written in ``text``; QueryError (one line) if a term is wrong."""
    terms: list[Term] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return Query(tuple(terms))
        start = position
        negated = text[position] == "-" and position + 1 < len(text)
        negated = negated and not text[position + 1].isspace()
        if negated:
            position += 1
        name = ""
        found = _FILTER_NAME.match(text, position)
        if found:
            name = found.group(1).lower()
            position = found.end()
        value, quoted, position = _value(text, position, start)
        written = text[start:position]
        if found and name not in FILTERS:
            raise QueryError(
                f"unknown filter {found.group(0)!r} in {written!r}"
                " (put the word in quotes to search for it)"
            )
        terms.append(_term(name, value, quoted=quoted, negated=negated, written=written))
        if len(terms) > MAX_TERMS:
            raise QueryError(f"too many terms from {written!r} on: {MAX_TERMS} at most")


def quote(text: str) -> str:
    """``text`` as a quoted query value: ``f"subject:{quote(text)}"`` is safe to parse."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tokens(text: str) -> list[str]:
    """The words the full-text index cuts ``text`` into: runs of letters, digits,
    private-use characters and combining marks (SQLite's unicode61 tokenizer, with
    the marks that remove_diacritics then drops)."""
    found: list[str] = []
    current: list[str] = []
    for character in text:
        if _is_token_character(character):
            current.append(character)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def _is_token_character(character: str) -> bool:
    category = unicodedata.category(character)
    return category[0] in "LN" or category in ("Co", "Mn")


def _value(text: str, position: int, start: int) -> tuple[str, bool, int]:
    """The value at ``position``: (value, quoted, position after it)."""
    if position < len(text) and text[position] == '"':
        value: list[str] = []
        position += 1
        while position < len(text):
            character = text[position]
            if character == '"':
                return "".join(value), True, position + 1
            if character == "\\" and text[position + 1 : position + 2] in ('"', "\\"):
                position += 1
                character = text[position]
            value.append(character)
            position += 1
        raise QueryError(f"unterminated quote in {text[start:]!r}")
    end = position
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[position:end], False, end


def _term(name: str, value: str, *, quoted: bool, negated: bool, written: str) -> Term:
    if not name:
        return Text(value, "", quoted, negated)
    if not value and not (quoted and name == "inbox"):
        raise QueryError(f"{name}: needs a value in {written!r}")
    if name in TEXT_FIELDS:
        return Text(value, name, quoted, negated)
    if name == "inbox":
        return Inbox(value, negated)
    if name == "has":
        if value.lower() in ("attachment", "attachments"):
            return HasAttachment(negated)
        raise QueryError(f"unknown {written!r}: has:attachment is the one there is")
    if name == "is":
        if value.lower() in ("unread", "read"):
            return Unread(negated != (value.lower() == "read"))
        raise QueryError(f"unknown {written!r}: use is:unread or is:read")
    if name in ("before", "after"):
        return Received("before" if name == "before" else "after", _time(value, written), negated)
    return Size("larger" if name == "larger" else "smaller", _size(value, written), negated)


def _time(value: str, written: str) -> datetime:
    try:
        if _DAY.fullmatch(value):
            day = datetime.strptime(value, "%Y-%m-%d")
            return day.replace(tzinfo=UTC)
        at = datetime.fromisoformat(value)
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise QueryError(
            f"bad date in {written!r}: use YYYY-MM-DD or an ISO 8601 time (2024-01-31T09:30Z)"
        ) from None


def _size(value: str, written: str) -> int:
    found = _SIZE.fullmatch(value)
    if found is None:
        raise QueryError(f"bad size in {written!r}: use octets, or 10k, 2M, 1G (1024 multiples)")
    number, unit = found.groups()
    return min(int(Fraction(number) * _UNITS[unit.lower()]), _SIZE_MAX)


def _render(term: Term) -> str:
    sign = "-" if term.negated else ""
    if isinstance(term, Text):
        prefix = f"{term.field}:" if term.field else ""
        bare = term.text and not term.phrase and not any(c.isspace() for c in term.text)
        bare = bare and not term.text.startswith('"')
        if bare and not term.field:  # must not read as a filter or a negation
            bare = not _FILTER_NAME.match(term.text)
            bare = bare and (term.negated or term.text == "-" or not term.text.startswith("-"))
        return f"{sign}{prefix}{term.text if bare else quote(term.text)}"
    if isinstance(term, HasAttachment):
        return f"{sign}has:attachment"
    if isinstance(term, Unread):
        return f"{sign}is:unread"
    if isinstance(term, Received):
        return f"{sign}{term.op}:{term.at.isoformat()}"
    if isinstance(term, Size):
        return f"{sign}{term.op}:{term.octets}"
    return f"{sign}inbox:{quote(term.name)}"
