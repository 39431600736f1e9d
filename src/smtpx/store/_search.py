"""A Query as SQL, and the reads built on it: a page, what came since, a count.

Theory of operation: ``compile_query`` turns a :class:`Query` into a
:class:`Where`: at most one FTS5 MATCH expression for the words, and conditions
on ``messages`` for the rest. No user text is ever part of the SQL: every value
is a parameter, and a word reaches FTS5 as one string token (``"..."``, with
``"`` doubled, FTS5's only escape), so whatever it holds (``OR``, ``NEAR``,
``*``, ``:``) is text to find, cut into words by the index's own tokenizer.
Negated words join the MATCH as ``NOT`` when there is a positive one; alone,
they exclude the rows their OR matches.

Newest first is ``seq`` order (``_schema.py``), so a page is read in the order
it is returned and stops at its limit: with words, the full-text index drives
(its rowid is ``seq``, and FTS5 walks it in either direction); without, the
table or the index of the one filter that has one (``messages_unread``,
``messages_inbox``). Whatever else the query says is checked row by row.

Bounds on ``seq`` let the walk start and stop where the answer does, rather than
scan the whole store for a query that matches little:

- an id cursor becomes the ``seq`` of the first id at or past it, so a deleted
  cursor still pages on;
- a date filter adds a bound on ``seq`` to the exact ``received_at`` condition.
  ``after:`` takes the first id of the date's millisecond or later: an id's
  time is never earlier than its message's received_at (``_ids.py``: it is made
  from it, and only ever moved later), so nothing received since is left out,
  and the id index answers at once. ``before:`` cannot use ids (a clock set
  back makes ids later than their received_at), so it takes the greatest
  ``seq`` received before the date from ``messages_received``: exact, at the
  cost of reading the index up to the date (~15 ms per 100,000 messages).

Size filters have no index: a store of 100,000 messages is scanned in ~25 ms.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ._model import StoredMessage
from ._query import (
    MIN_PREFIX,
    HasAttachment,
    Inbox,
    Query,
    Received,
    Size,
    Text,
    Unread,
    tokens,
)
from ._schema import QUALIFIED_COLUMNS, UNREAD, message_from_row

__all__ = [
    "Where",
    "compile_query",
    "fts_expression",
    "page_statement",
    "read_count",
    "read_page",
    "read_seqs",
    "read_since",
    "since_statement",
]

# The columns of messages_text each field filter searches.
FTS_COLUMNS = {
    "from": "from_",
    "to": "to_",
    "cc": "cc",
    "subject": "subject",
    "message-id": "message_id",
}
_NO_BOUND = 2**63 - 1  # above every seq

# A condition: SQL (with "{key}" for the seq column the query walks) and its values.
Condition = tuple[str, tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class Where:
    """A compiled Query: the FTS5 expression to match (None: no words) and the
    conditions on the rest."""

    match: str | None
    conditions: tuple[Condition, ...]


def compile_query(query: Query) -> Where:
    """``query`` as SQL (see the module docstring)."""
    positive: list[str] = []
    negative: list[str] = []
    conditions: list[Condition] = []
    for term in query.terms:
        if isinstance(term, Text):
            expression = fts_expression(term)
            if expression is not None:
                (negative if term.negated else positive).append(expression)
        elif isinstance(term, HasAttachment):
            operator = "=" if term.negated else "!="
            conditions.append((f"messages.attachments {operator} '[]'", ()))
        elif isinstance(term, Unread):
            conditions.append(("messages.seen = 1" if term.negated else f"messages.{UNREAD}", ()))
        elif isinstance(term, Received):
            conditions += _received(after=(term.op == "after") != term.negated, at=term.at)
        elif isinstance(term, Size):
            operator = {"larger": ">", "smaller": "<"}[term.op]
            if term.negated:
                operator = {">": "<=", "<": ">="}[operator]
            conditions.append((f"messages.size {operator} ?", (term.octets,)))
        elif isinstance(term, Inbox):
            operator = "!=" if term.negated else "="
            conditions.append((f"messages.inbox {operator} ?", (term.name,)))
    match = None
    if positive:
        match = "(" + " AND ".join(f"({p})" for p in positive) + ")"
        match += "".join(f" NOT ({n})" for n in negative)
    elif negative:
        excluded = " OR ".join(f"({n})" for n in negative)
        conditions.append(
            (
                "messages.seq NOT IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ?)",
                (excluded,),
            )
        )
    return Where(match, tuple(conditions))


def fts_expression(term: Text) -> str | None:
    """The FTS5 expression of a Text term; None if it has no word to look up."""
    words = tokens(term.text)
    if not words:
        return None
    # One FTS5 string: tokenized by the index's tokenizer, "" the only escape. NUL
    # would end the expression early: it separates words anyway.
    expression = '"' + term.text.replace("\x00", " ").replace('"', '""') + '"'
    if not term.phrase and len(words[-1]) >= MIN_PREFIX and term.text.endswith(words[-1]):
        expression += " *"  # an unquoted last word still being typed: a prefix
    if term.field:
        expression = f"{{{FTS_COLUMNS[term.field]}}} : {expression}"
    return expression


def _received(*, after: bool, at: datetime) -> list[Condition]:
    # received_at is ISO 8601 text in UTC (datetime.isoformat()): compared as text,
    # it sorts as the times do. "+" keeps the planner from reading messages_received
    # for the exact test (it would then have to sort): the seq bound narrows the walk.
    value = at.astimezone(UTC).isoformat()
    if after:
        # An id starts with the millisecond of its received_at, or a later one (_ids.py):
        # a message received at or after ``at`` has an id at or past that millisecond.
        millisecond = f"{max(int(at.timestamp() * 1000), 0):012x}"
        return [
            ("+messages.received_at >= ?", (value,)),
            (
                "{key} >= ifnull((SELECT seq FROM messages WHERE id >= ? ORDER BY id LIMIT 1),"
                f" {_NO_BOUND})",
                (millisecond,),
            ),
        ]
    return [
        ("+messages.received_at < ?", (value,)),
        (
            "{key} <= (SELECT max(seq) FROM messages INDEXED BY messages_received"
            " WHERE received_at < ?)",
            (value,),
        ),
    ]


def read_page(
    connection: sqlite3.Connection, where: Where, limit: int, before: str | None
) -> list[StoredMessage]:
    """Up to ``limit`` matching messages older than the id ``before``, newest first."""
    rows = connection.execute(*page_statement(where, limit, before))
    return [message_from_row(row) for row in rows]


def read_since(
    connection: sqlite3.Connection, where: Where, after: str | None, limit: int
) -> list[StoredMessage]:
    """Up to ``limit`` matching messages newer than the id ``after``, oldest first."""
    rows = connection.execute(*since_statement(where, after, limit))
    return [message_from_row(row) for row in rows]


def page_statement(where: Where, limit: int, before: str | None) -> tuple[str, list[object]]:
    """The SELECT of ``read_page``, and its parameters."""
    extra: list[Condition] = []
    if before is not None:
        extra.append(
            (
                "{key} < ifnull((SELECT seq FROM messages WHERE id >= ? ORDER BY id LIMIT 1),"
                f" {_NO_BOUND})",
                (before,),
            )
        )
    return _select(where, QUALIFIED_COLUMNS, extra, "DESC", limit)


def since_statement(where: Where, after: str | None, limit: int) -> tuple[str, list[object]]:
    """The SELECT of ``read_since``, and its parameters."""
    extra: list[Condition] = []
    if after is not None:
        extra.append(
            (
                "{key} > ifnull((SELECT seq FROM messages WHERE id <= ? ORDER BY id DESC LIMIT 1),"
                " 0)",
                (after,),
            )
        )
    return _select(where, QUALIFIED_COLUMNS, extra, "ASC", limit)


def read_count(connection: sqlite3.Connection, where: Where) -> int:
    """How many messages match."""
    sql, parameters = _select(where, "count(*)", [], None, None)
    if where.match is not None and not where.conditions:  # the index alone knows
        sql = "SELECT count(*) FROM messages_text WHERE messages_text MATCH ?"
    (count,) = connection.execute(sql, parameters).fetchone()
    return int(count)


def read_seqs(
    connection: sqlite3.Connection, where: Where, upto: str, limit: int
) -> list[tuple[int, int]]:
    """(seq, size) of up to ``limit`` matching messages with an id of at most ``upto``,
    newest first: what ``delete_matching`` removes next."""
    extra: list[Condition] = [("messages.id <= ?", (upto,))]
    sql, parameters = _select(where, "messages.seq, messages.size", extra, "DESC", limit)
    return [(int(seq), int(size)) for seq, size in connection.execute(sql, parameters)]


def _select(
    where: Where,
    columns: str,
    extra: Sequence[Condition],
    order: str | None,
    limit: int | None,
) -> tuple[str, list[object]]:
    conditions: list[str] = []
    parameters: list[object] = []
    if where.match is not None:
        source = "messages_text JOIN messages ON messages.seq = messages_text.rowid"
        key = "messages_text.rowid"
        conditions.append("messages_text MATCH ?")
        parameters.append(where.match)
    else:
        source, key = "messages", "messages.seq"
    for sql, values in (*where.conditions, *extra):
        conditions.append(sql.format(key=key))
        parameters += values
    statement = f"SELECT {columns} FROM {source}"
    if conditions:
        statement += " WHERE " + " AND ".join(conditions)
    if order is not None:
        statement += f" ORDER BY {key} {order}"
    if limit is not None:
        statement += " LIMIT ?"
        parameters.append(max(limit, 0))
    return statement, parameters
