"""A message comes back exactly as it went in: bytes, envelope, origin, summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.store.storage import ENVELOPE, ORIGIN, SIMPLE, add, on_store

from smtpx.store import Envelope, Origin, Recipient, SQLiteStore, StoredMessage
from smtpx.store._incoming import MEMORY_LIMIT

# NUL, CR and LF alone, every 8-bit octet, invalid UTF-8, no final CRLF.
BINARY = (
    b"Subject: binary\r\n\r\n"
    + bytes(range(256))
    + b"\x00\x00\r\r\n\n\xff\xfe\xc3\x28lone CR\rlone LF\n"
    + b"no final line break"
)


@pytest.mark.parametrize(
    "raw",
    [
        SIMPLE,
        BINARY,
        b"",
        b"x",
        b"\x00" * 1000,
        b"A" * MEMORY_LIMIT,  # the most that stays in memory
        b"B" * (MEMORY_LIMIT + 1),  # the least that spills to a file
        bytes(range(256)) * 5000,  # 1.28 MB, spilled
    ],
    ids=["simple", "binary", "empty", "one-octet", "nuls", "at-limit", "spilled", "large"],
)
def test_raw_returns_the_exact_bytes_received(tmp_path: Path, raw: bytes) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, raw)
        assert await store.raw(message_id) == raw
        stored = await store.get(message_id)
        assert stored is not None
        assert stored.size == len(raw)

    on_store(tmp_path, scenario)


def test_chunks_are_joined_in_order_across_the_spill(tmp_path: Path) -> None:
    chunks = [bytes([n % 256]) * 10_000 for n in range(100)]  # 1 MB in 100 writes

    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, chunks)
        assert await store.raw(message_id) == b"".join(chunks)

    on_store(tmp_path, scenario)


def test_open_raw_streams_the_same_bytes_as_raw(tmp_path: Path) -> None:
    raw = BINARY * 20_000  # 2.6 MB

    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, raw)
        stream = await store.open_raw(message_id)
        assert stream is not None
        with stream:
            assert stream.read(10) == raw[:10]
            assert stream.read() == raw[10:]
            stream.seek(len(raw) - 5)
            assert stream.read() == raw[-5:]

    on_store(tmp_path, scenario)


def test_open_raw_keeps_reading_a_message_deleted_meanwhile(tmp_path: Path) -> None:
    # The file reads a snapshot (WAL): a delete does not pull the bytes away from it.
    raw = SIMPLE * 1000

    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, raw)
        stream = await store.open_raw(message_id)
        assert stream is not None
        with stream:
            assert await store.delete(message_id) is True
            assert stream.read() == raw
        assert await store.raw(message_id) is None

    on_store(tmp_path, scenario)


def test_envelope_origin_and_time_are_kept(tmp_path: Path) -> None:
    before = datetime.now(UTC)

    async def scenario(store: SQLiteStore) -> StoredMessage | None:
        return await store.get(await add(store, SIMPLE))

    stored = on_store(tmp_path, scenario)
    assert stored is not None
    assert stored.envelope == ENVELOPE
    assert stored.origin == ORIGIN
    assert stored.received_at.tzinfo is not None
    assert stored.received_at.utcoffset() == timedelta(0)
    assert before <= stored.received_at <= datetime.now(UTC)


def test_null_sender_plain_origin_and_unicode_addresses_are_kept(tmp_path: Path) -> None:
    envelope = Envelope(
        "",  # a bounce: the null reverse-path
        (Recipient("用户@例子.广告", (("ORCPT", "utf-8;用户@例子.广告"),)),),
        (("SMTPUTF8", ""),),
    )
    origin = Origin("::1", 1, "[IPv6:::1]")

    async def scenario(store: SQLiteStore) -> StoredMessage | None:
        return await store.get(await add(store, SIMPLE, envelope, origin))

    stored = on_store(tmp_path, scenario)
    assert stored is not None
    assert stored.envelope == envelope
    assert stored.origin == origin


def test_summary_is_kept_with_the_message(tmp_path: Path) -> None:
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.org>\r\n"
        b"To: Bob <bob@example.net>, carol@example.net\r\n"
        b"Cc: dave@example.net\r\n"
        b"Subject: Quarterly report\r\n"
        b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <report-1@example.org>\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n'
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"See attached.\r\n"
        b"--b1\r\n"
        b'Content-Type: application/pdf; name="q1.pdf"\r\n'
        b"Content-Disposition: attachment\r\n"
        b"\r\n"
        b"JVBERi0=\r\n"
        b"--b1--\r\n"
    )

    async def scenario(store: SQLiteStore) -> StoredMessage | None:
        return await store.get(await add(store, raw))

    stored = on_store(tmp_path, scenario)
    assert stored is not None
    summary = stored.summary
    assert summary.subject == "Quarterly report"
    assert summary.from_ == "José <jose@example.org>"
    assert summary.to == ("Bob <bob@example.net>", "carol@example.net")
    assert summary.cc == ("dave@example.net",)
    assert summary.date == "Mon, 01 Jan 2024 10:00:00 +0000"
    assert summary.message_id == "<report-1@example.org>"
    assert summary.attachments == ("q1.pdf",)


def test_get_and_raw_of_an_unknown_id_are_none(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        assert await store.get("0" * 20) is None
        assert await store.raw("0" * 20) is None
        assert await store.open_raw("not an id") is None

    on_store(tmp_path, scenario)


def test_messages_are_still_there_after_close_and_reopen(tmp_path: Path) -> None:
    async def first(store: SQLiteStore) -> str:
        return await add(store, BINARY)

    message_id = on_store(tmp_path, first)

    async def second(store: SQLiteStore) -> None:
        assert await store.raw(message_id) == BINARY
        stored = await store.get(message_id)
        assert stored is not None
        assert stored.envelope == ENVELOPE
        # Ids keep increasing across a reopen.
        assert await add(store, SIMPLE) > message_id

    on_store(tmp_path, second)
