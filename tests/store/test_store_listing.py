"""Listing (newest first, paged by id), search by words, delete and count.

The search language itself is tested in test_store_query.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.store.storage import add, headed, on_store

from smtpx.store import Envelope, Recipient, SQLiteStore


def test_list_is_newest_first_and_pages_with_the_last_id_as_cursor(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, headed(f"message {n}")) for n in range(7)]
        assert ids == sorted(ids)
        newest_first = ids[::-1]

        page = await store.list(limit=3)
        assert [m.id for m in page] == newest_first[:3]
        assert [m.summary.subject for m in page] == ["message 6", "message 5", "message 4"]
        page = await store.list(limit=3, before=page[-1].id)
        assert [m.id for m in page] == newest_first[3:6]
        page = await store.list(limit=3, before=page[-1].id)
        assert [m.id for m in page] == newest_first[6:]
        assert await store.list(limit=3, before=page[-1].id) == []

    on_store(tmp_path, scenario)


def test_a_deleted_cursor_still_pages_on(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, headed(str(n))) for n in range(4)]
        assert await store.delete(ids[2])
        assert [m.id for m in await store.list(before=ids[2])] == [ids[1], ids[0]]

    on_store(tmp_path, scenario)


def test_list_of_an_empty_store_and_a_zero_limit_are_empty(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        assert await store.list() == []
        await add(store, headed("x"))
        assert await store.list(limit=0) == []
        assert len(await store.list(limit=50)) == 1

    on_store(tmp_path, scenario)


def test_search_matches_subject_from_to_and_cc_ignoring_case(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        invoice = await add(store, headed("Your Invoice #42", to="billing@shop.example"))
        hello = await add(store, headed("hello", sender="Zoë <zoe@example.org>"))
        copied = await add(
            store, b"Subject: status\r\nCc: Watcher <watcher@example.net>\r\n\r\n.\r\n"
        )

        async def found(text: str) -> list[str]:
            return [m.id for m in await store.search(text)]

        assert await found("invoice") == [invoice]
        assert await found("INVOICE #42") == [invoice]  # every word, any case
        assert await found("invoice hello") == []
        assert await found("BILLING@shop") == [invoice]
        assert await found("zoË") == [hello]  # Unicode case folding, not only ASCII
        assert await found("watcher") == [copied]
        assert await found("example") == [copied, hello, invoice]  # newest first
        assert await found("nothing like it") == []

    on_store(tmp_path, scenario)


def test_search_finds_envelope_recipients_absent_from_the_headers(tmp_path: Path) -> None:
    # A Bcc recipient is only in the envelope.
    envelope = Envelope("sender@example.org", (Recipient("hidden@example.net"),))

    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, headed("secret"), envelope)
        assert [m.id for m in await store.search("hidden@")] == [message_id]

    on_store(tmp_path, scenario)


def test_search_treats_wildcards_as_plain_text(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        percent = await add(store, headed("100% off"))
        await add(store, headed("1000 offers"))
        underscore = await add(store, headed("a_b"))
        await add(store, headed("axb"))
        assert [m.id for m in await store.search("100%")] == [percent]
        assert [m.id for m in await store.search("a_b")] == [underscore]
        assert [m.id for m in await store.search("10*")] == []  # "*" is no wildcard
        # No letter or digit: nothing to look up, so it constrains nothing.
        assert len(await store.search("\\")) == 4

    on_store(tmp_path, scenario)


def test_search_limit_and_cursor(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, headed(f"match {n}")) for n in range(5)]
        await add(store, headed("other"))
        page = await store.search("match", limit=2)
        assert [m.id for m in page] == [ids[4], ids[3]]
        page = await store.search("match", limit=10, before=page[-1].id)
        assert [m.id for m in page] == [ids[2], ids[1], ids[0]]
        assert len(await store.search("", limit=10)) == 6  # no words: everything

    on_store(tmp_path, scenario)


def test_delete_removes_the_message_and_its_bytes(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        kept = await add(store, headed("kept"))
        gone = await add(store, headed("gone") + b"x" * 1_000_000)  # spilled, large blob
        assert await store.count() == 2
        assert await store.delete(gone) is True
        assert await store.get(gone) is None
        assert await store.raw(gone) is None
        assert await store.open_raw(gone) is None
        assert [m.id for m in await store.list()] == [kept]
        assert await store.count() == 1
        assert await store.delete(gone) is False
        assert await store.delete("no such id") is False

    on_store(tmp_path, scenario)


def test_count_follows_adds_and_deletes(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        assert await store.count() == 0
        ids = [await add(store, headed(str(n))) for n in range(5)]
        assert await store.count() == 5
        for message_id in ids[:3]:
            await store.delete(message_id)
        assert await store.count() == 2

    on_store(tmp_path, scenario)
