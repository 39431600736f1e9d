"""The search language: what each term parses to, the errors, and properties over any text.

No store here: the parser is pure. The properties also compile every query that
parses and run it on an in-memory database with the store's schema, so no text
typed in a search box can make a malformed SQL or FTS5 statement.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from smtpx.store import Query, QueryError, parse_query
from smtpx.store._migrate import migrate
from smtpx.store._query import (
    MAX_TERMS,
    HasAttachment,
    Inbox,
    Received,
    Size,
    Text,
    Unread,
    quote,
    tokens,
)
from smtpx.store._search import compile_query, fts_expression, page_statement, read_count


def terms(text: str) -> tuple[object, ...]:
    return parse_query(text).terms


def error(text: str) -> str:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    message = str(caught.value)
    assert "\n" not in message
    return message


# What each term parses to.


def test_the_empty_query_has_no_terms() -> None:
    assert parse_query("") == Query()
    assert parse_query(" \t\n ") == Query()


def test_free_words_and_quoted_phrases() -> None:
    assert terms("invoice  42") == (Text("invoice"), Text("42"))
    assert terms('"quarterly report"') == (Text("quarterly report", phrase=True),)
    assert terms('-"quarterly report" -spam') == (
        Text("quarterly report", phrase=True, negated=True),
        Text("spam", negated=True),
    )


def test_a_lone_dash_is_a_word_not_a_negation() -> None:
    assert terms("a - b") == (Text("a"), Text("-"), Text("b"))
    assert terms("--x") == (Text("-x", negated=True),)


@pytest.mark.parametrize("field", ["from", "to", "cc", "subject", "message-id"])
def test_field_filters_take_a_word_or_a_quoted_value(field: str) -> None:
    assert terms(f"{field}:alice@example.org") == (Text("alice@example.org", field),)
    assert terms(f'-{field}:"two words"') == (Text("two words", field, True, True),)
    assert terms(f"{field.upper()}:x") == (Text("x", field),)  # names ignore case


def test_quoted_values_unescape_quotes_and_backslashes_only() -> None:
    assert terms(r'subject:"say \"hi\" \\ now \n"') == (
        Text('say "hi" \\ now \\n', "subject", phrase=True),
    )


def test_a_quote_inside_a_bare_word_is_part_of_it() -> None:
    assert terms('don"t') == (Text('don"t'),)


def test_flags() -> None:
    assert terms("has:attachment -has:ATTACHMENTS") == (HasAttachment(), HasAttachment(True))
    assert terms("is:unread is:read") == (Unread(), Unread(negated=True))
    assert terms("-is:unread -is:Read") == (Unread(negated=True), Unread())


def test_dates_are_utc_and_a_day_is_its_midnight() -> None:
    day = datetime(2024, 1, 31, tzinfo=UTC)
    assert terms("before:2024-01-31 -after:2024-01-31") == (
        Received("before", day),
        Received("after", day, negated=True),
    )
    assert terms("after:2024-01-31T09:30") == (Received("after", day + timedelta(hours=9.5)),)
    assert terms("after:2024-01-31T09:30:00Z") == terms("after:2024-01-31T11:30:00+02:00")
    (received,) = terms("after:2024-01-31T11:30:00+02:00")
    assert isinstance(received, Received)
    assert received.at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "octets"),
    [
        ("0", 0),
        ("500", 500),
        ("10k", 10 * 1024),
        ("10K", 10 * 1024),
        ("10kb", 10 * 1024),
        ("2M", 2 * 1024**2),
        ("2MiB", 2 * 1024**2),
        ("1.5m", 3 * 1024**2 // 2),
        ("1G", 1024**3),
        ("9" * 40, 2**62),  # beyond any size: capped
    ],
)
def test_sizes_are_octets_with_1024_multiples(value: str, octets: int) -> None:
    assert terms(f"larger:{value} -smaller:{value}") == (
        Size("larger", octets),
        Size("smaller", octets, negated=True),
    )


def test_inbox_is_exact_and_may_be_the_default_one() -> None:
    assert terms('inbox:Billing -inbox:"" inbox:"two words"') == (
        Inbox("Billing"),
        Inbox("", negated=True),
        Inbox("two words"),
    )


def test_in_inbox_adds_a_term_without_building_text() -> None:
    query = parse_query("invoice").in_inbox('a "b" c')
    assert query.terms == (Text("invoice"), Inbox('a "b" c'))
    assert parse_query(str(query)) == query


def test_str_writes_back_what_parses_to_the_same_query() -> None:
    text = (
        'invoice -"two words" from:a@b -to:"c d" has:attachment -is:read'
        " before:2024-01-31 after:2024-01-01T10:00:00.5+00:00 larger:10k -smaller:1M"
        ' inbox:"x y" -- "" subject:-x'
    )
    query = parse_query(text)
    assert parse_query(str(query)) == query


def test_quote_makes_any_text_one_value() -> None:
    for text in ['a "b" c', "back\\slash\\", "  ", '\\"']:
        assert terms(f"subject:{quote(text)}") == (Text(text, "subject", phrase=True),)
        assert terms(f"inbox:{quote(text)}") == (Inbox(text),)
    assert terms(f"inbox:{quote('')}") == (Inbox(""),)


# Errors name the term.


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Re: hello", "unknown filter 'Re:' in 'Re:' (put the word in quotes to search for it)"),
        ("see http://example.org", "unknown filter 'http:' in 'http://example.org'"),
        ("-foo:bar", "unknown filter 'foo:' in '-foo:bar'"),
        ("from:", "from: needs a value in 'from:'"),
        ('subject:""', "subject: needs a value in 'subject:\"\"'"),
        ("inbox:", "inbox: needs a value in 'inbox:'"),
        ("has:pdf", "unknown 'has:pdf': has:attachment is the one there is"),
        ("is:starred", "unknown 'is:starred': use is:unread or is:read"),
        ("before:yesterday", "bad date in 'before:yesterday': use YYYY-MM-DD or an ISO 8601"),
        ("after:2024-02-30", "bad date in 'after:2024-02-30'"),
        ("after:9999-12-31T23:59-01:00", "bad date in"),  # beyond datetime's range in UTC
        ("larger:ten", "bad size in 'larger:ten': use octets, or 10k, 2M, 1G"),
        ("smaller:-5", "bad size in 'smaller:-5'"),
        ("smaller:5T", "bad size in 'smaller:5T'"),
        ('a "unterminated phrase', "unterminated quote in '\"unterminated phrase'"),
        ('subject:"ends with a backslash\\"', "unterminated quote in"),
    ],
)
def test_errors_name_the_bad_term(text: str, message: str) -> None:
    assert error(text).startswith(message)


def test_a_query_has_at_most_max_terms() -> None:
    assert len(terms("x " * MAX_TERMS)) == MAX_TERMS
    assert (
        error("x " * MAX_TERMS + "is:unread") == "too many terms from 'is:unread' on: 100 at most"
    )


def test_a_query_error_is_a_value_error() -> None:
    assert issubclass(QueryError, ValueError)


# Compiling: user text reaches SQL only as parameters, FTS5 only as quoted strings.


def test_words_become_quoted_fts_strings_with_a_prefix_for_an_unfinished_last_word() -> None:
    assert fts_expression(Text("invoice")) == '"invoice" *'
    assert fts_expression(Text("alice@example.org", "from")) == '{from_} : "alice@example.org" *'
    assert fts_expression(Text("invoice", phrase=True)) == '"invoice"'
    assert fts_expression(Text("ab")) == '"ab"'  # too short to be a prefix
    assert fts_expression(Text("100%")) == '"100%"'  # the word was finished
    assert fts_expression(Text('say "hi" OR NEAR(x)*')) == '"say ""hi"" OR NEAR(x)*"'
    assert fts_expression(Text("a\x00b")) == '"a b"'
    assert fts_expression(Text("—&*")) is None  # no letter or digit: nothing to look up


def test_tokens_are_cut_as_the_index_cuts_them() -> None:
    assert tokens("alice@example.org") == ["alice", "example", "org"]
    assert tokens("Café  a\u0301b x²y") == ["Café", "a\u0301b", "x²y"]
    assert tokens("-- & —") == []


def test_no_user_text_is_ever_part_of_the_sql() -> None:
    hostile = "'; DROP TABLE messages; --"
    query = Query(
        (
            Text(hostile),
            Text(hostile, "subject", negated=True),
            Inbox(hostile),
            Received("after", datetime(2024, 1, 1, tzinfo=UTC)),
        )
    )
    sql, parameters = page_statement(compile_query(query), 50, hostile)
    assert "DROP" not in sql
    assert "'; DROP" not in sql
    assert hostile in parameters


# Properties over any text.

FRAGMENTS = st.sampled_from(
    [
        " ", "  ", "-", '"', "\\", ":", "*", "(", ")", "{", "}", "'", ";", "\x00", "\n",
        "from:", "to:", "cc:", "subject:", "message-id:", "has:", "is:", "before:",
        "after:", "larger:", "smaller:", "inbox:", "attachment", "unread", "read",
        "2024-01-31", "T10:00Z", "10k", "1.5M", "café", "OR", "AND", "NOT", "NEAR",
        "alice@example.org", "x", "ab", "invoice", "—", "🙂", "x:",
    ]
)  # fmt: skip
QUERY_TEXT = st.one_of(st.text(), st.lists(FRAGMENTS, max_size=12).map("".join))


def schema() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    migrate(connection, ":memory:")
    connection.execute(
        "INSERT INTO messages (id, received_at, size, sender, recipients, mail_params,"
        " client_address, client_port, helo, subject, from_, to_, cc, attachments, search)"
        " VALUES ('0190000000000000000a', '2024-06-01T00:00:00+00:00', 10, 'a@b', '[]',"
        " '[]', '::1', 1, 'h', 'café x', '', '[]', '[]', '[]', '')"
    )
    connection.execute(
        "INSERT INTO messages_text (rowid, subject, from_, to_, cc, message_id, body)"
        " VALUES (1, 'café x', 'a@b', '', '', '', 'invoice alice example org')"
    )
    return connection


DATABASE = schema()


@given(QUERY_TEXT)
@example("'; DROP TABLE messages; --")
@example('" OR 1=1 --')
@example('from:"x") OR (1=1" inbox:"\' OR \'1\'=\'1"')
@example("NEAR(a b) {subject}:x subject:* -*")
def test_any_text_parses_or_raises_query_error_and_every_query_runs(text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message
        return
    where = compile_query(query)
    DATABASE.execute(*page_statement(where, 10, "0190000000000000000b")).fetchall()
    read_count(DATABASE, where)
    assert parse_query(str(query)) == query
    (count,) = DATABASE.execute("SELECT count(*) FROM messages").fetchone()
    assert count == 1


@given(st.text())
def test_any_text_quoted_is_one_value(text: str) -> None:
    assert parse_query(f"inbox:{quote(text)}").terms == (Inbox(text),)
    assert parse_query(quote(text)).terms == (Text(text, phrase=True),)


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])))
def test_any_time_written_in_iso_8601_reads_back(at: datetime) -> None:
    try:
        (received,) = parse_query(f"after:{at.isoformat()}").terms
    except QueryError:  # beyond datetime's range once moved to UTC
        return
    assert received == Received("after", at)
