"""The Received chain: RFC 5321 §4.4 clauses read as far as they read, never an error."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from smtpx.web._received import Hop, parse_received


def test_smtpx_own_trace_header_reads_completely() -> None:
    hop = parse_received(
        "from client.example ([192.0.2.1])\r\n\tby mx.example (smtpx) with ESMTPSA id 0a1b2c3d4e5f"
        "\r\n\tfor <bob@example.net>; Tue, 01 Jul 2025 12:00:00 +0200"
    )
    assert hop == Hop(
        raw="from client.example ([192.0.2.1]) by mx.example (smtpx) with ESMTPSA "
        "id 0a1b2c3d4e5f for <bob@example.net>; Tue, 01 Jul 2025 12:00:00 +0200",
        from_="client.example",
        from_info="[192.0.2.1]",
        by="mx.example",
        by_info="smtpx",
        with_="ESMTPSA",
        id="0a1b2c3d4e5f",
        for_="bob@example.net",
        date="Tue, 01 Jul 2025 12:00:00 +0200",
        timestamp=datetime(2025, 7, 1, 10, 0, tzinfo=UTC),
    )


def test_gmail_style_header_with_nested_comments() -> None:
    hop = parse_received(
        "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])"
        " by mx.google.com with SMTPS id x2sor.45 for <a@b.example>"
        " (Google Transport Security (nested) \\) quoted);"
        " Mon, 01 Jan 2024 00:00:00 -0800 (PST)"
    )
    assert hop.from_ == "mail-sor-f41.google.com"
    assert hop.from_info == "mail-sor-f41.google.com. [209.85.220.41]"
    assert hop.by == "mx.google.com"
    assert hop.by_info is None
    assert (hop.with_, hop.id, hop.for_) == ("SMTPS", "x2sor.45", "a@b.example")
    assert hop.timestamp == datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


def test_clauses_in_any_order_and_any_case() -> None:
    hop = parse_received("BY relay.example WITH LMTP FROM [192.0.2.9] VIA UUCP ID 77")
    assert (hop.by, hop.with_, hop.from_, hop.via, hop.id) == (
        "relay.example",
        "LMTP",
        "[192.0.2.9]",
        "UUCP",
        "77",
    )
    assert hop.date is None
    assert hop.timestamp is None


def test_an_unparseable_date_is_kept_as_text() -> None:
    hop = parse_received("by mx.example; yesterday at noon")
    assert hop.date == "yesterday at noon"
    assert hop.timestamp is None


def test_a_header_of_nothing_but_words_keeps_its_text() -> None:
    hop = parse_received("  some   mailer   wrote this  ")
    assert hop == Hop(raw="some mailer wrote this")


def test_an_unclosed_comment_runs_to_the_end() -> None:
    hop = parse_received("from a.example (unclosed [192.0.2.1] by b.example")
    assert hop.from_ == "a.example"
    assert hop.from_info == "unclosed [192.0.2.1] by b.example"
    assert hop.by is None


@given(st.text(max_size=300))
def test_any_text_reads_without_error(value: str) -> None:
    hop = parse_received(value)
    assert hop.raw == " ".join(value.split())
