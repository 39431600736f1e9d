"""Inbox reads on a large store: listing, searching, counting, with 100,000 messages.

Builds a store of N small messages (default 100,000) in a temporary directory,
through the store's own API (``add()`` calls issued 1,000 at a time, so they share
group commits), then marks every other message seen. The corpus: words drawn from
a made-up vocabulary of 20,000 words with Zipf frequencies (a few words in most
messages, most words in few), 1,000 senders and recipients, three inboxes; one
message in ten has an attachment (2-40 KB), one in ten is HTML only, one in ten
has accented text.

Each read is then timed through the async API (so the hop to a reader thread is
included), ``--repeat`` times after two warm-up runs; the median and the 90th
percentile are printed. Target (inbox issue): the first page of the list and a
typical search each <= 50 ms at the median. Then a prune and a delete_matching
are timed, with the commits they took, while a message is added every 10 ms:
how long those add() calls took shows whether the deletion held receiving up.

Then the migration of a version 2 store (built with the version 2 schema by
hand) of ``--migrate`` messages is timed: opening it fills the full-text index
from the messages' bytes.

    .venv/bin/python bench/store_search.py [--messages 100000] [--repeat 30] [--migrate 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from smtpx.store import Envelope, Origin, Recipient, SQLiteStore
from smtpx.store._schema import MIGRATIONS
from smtpx.store._sqlite import DATABASE_NAME

ORIGIN = Origin("192.0.2.1", 40000, "bench.example")
INBOXES = ("", "team", "ops")
ADDS_AT_ONCE = 1000
SYLLABLES = [a + b for a in "bcdfghklmnprstvz" for b in ("a", "e", "i", "o", "u", "ai", "ou")]


class Corpus:
    """Deterministic messages: ``message(n)`` is the same for the same seed."""

    def __init__(self, seed: int = 1) -> None:
        self.random = random.Random(seed)
        words: set[str] = set()
        while len(words) < 20_000:
            words.add("".join(self.random.choices(SYLLABLES, k=self.random.randint(1, 4))))
        self.vocabulary = sorted(words)  # a set's order changes from one process to the next
        self.random.shuffle(self.vocabulary)
        self.weights = list(itertools.accumulate(1 / rank for rank in range(1, 20_001)))

    def words(self, count: int) -> str:
        return " ".join(self.random.choices(self.vocabulary, cum_weights=self.weights, k=count))

    def message(self, n: int) -> tuple[bytes, Envelope, str]:
        sender = f"user{int(self.random.paretovariate(1.2)) % 1000}@example.org"
        recipient = f"rcpt{self.random.randrange(1000)}@example.net"
        head = (
            f"From: User {sender[4:-12]} <{sender}>\r\nTo: <{recipient}>\r\n"
            f"Subject: {self.words(self.random.randint(3, 8))}\r\n"
            f"Message-ID: <{n}.bench@example.org>\r\nMIME-Version: 1.0\r\n"
        )
        text = self.words(self.random.randint(40, 120))
        kind = n % 10
        if kind == 0:
            attachment = base64.encodebytes(self.random.randbytes(self.random.randint(2000, 40000)))
            body = (
                'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                f"Content-Type: text/plain\r\n\r\n{text}\r\n--b\r\n"
                "Content-Type: application/octet-stream\r\n"
                'Content-Disposition: attachment; filename="data.bin"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n"
                + attachment.decode().replace("\n", "\r\n")
                + "--b--\r\n"
            )
        elif kind == 1:
            body = f"Content-Type: text/html\r\n\r\n<html><body><p>{text}</p></body></html>\r\n"
        elif kind == 2:
            body = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text} café crème brûlée\r\n"
        else:
            body = f"Content-Type: text/plain\r\n\r\n{text}\r\n"
        envelope = Envelope(sender, (Recipient(recipient),))
        return (head + body).encode(), envelope, INBOXES[n % 3]


async def build(store: SQLiteStore, corpus: Corpus, count: int) -> list[str]:
    """Add ``count`` messages; their ids, oldest first."""

    async def one(n: int) -> str:
        raw, envelope, inbox = corpus.message(n)
        incoming = store.incoming()
        incoming.write(raw)
        return await store.add(incoming, envelope, ORIGIN, inbox=inbox)

    ids: list[str] = []
    for start in range(0, count, ADDS_AT_ONCE):
        ids += await asyncio.gather(
            *(one(n) for n in range(start, min(start + ADDS_AT_ONCE, count)))
        )
    for start in range(0, len(ids), 10_000):
        await store.mark_seen(ids[start : start + 10_000 : 2])
    return ids


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float, Any]:
    """Median and 90th percentile (ms) of ``repeat`` calls, and the last result."""
    result = None
    for _ in range(2):
        result = await call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1], result


async def reads(data_dir: Path, count: int, repeat: int) -> None:
    corpus = Corpus()
    async with await SQLiteStore.open(data_dir) as store:
        start = time.perf_counter()
        ids = await build(store, corpus, count)
        built = time.perf_counter() - start
        stats = await store.stats()
        print(
            f"built {count:,} messages in {built:.1f} s ({count / built:,.0f}/s);"
            f" {stats.bytes / 2**20:.0f} MiB of messages, {stats.database_bytes / 2**20:.0f} MiB"
            " on disk"
        )
        typical, rare = corpus.vocabulary[100], corpus.vocabulary[5000]
        cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("list(): first page", lambda: store.list(50)),
            ("list(): page 100", lambda: store.list(50, before=ids[-min(5000, count)])),
            (f"search {typical!r} (word of rank 100)", lambda: store.search(typical)),
            (f"search {rare!r} (word of rank 5000)", lambda: store.search(rare)),
            ('search "caf" (a prefix)', lambda: store.search("caf")),
            ("search from:user42@example.org", lambda: store.search("from:user42@example.org")),
            ("search is:unread", lambda: store.search("is:unread")),
            ("search inbox:team is:unread", lambda: store.search("inbox:team is:unread")),
            ("search has:attachment larger:10k", lambda: store.search("has:attachment larger:10k")),
            ("search smaller:300 (matches none)", lambda: store.search("smaller:300")),
            (f"search {typical} -is:unread after:2000-01-01", lambda: store.search(
                f"{typical} -is:unread after:2000-01-01"
            )),
            ("count()", store.count),
            ("count('is:unread')", lambda: store.count("is:unread")),
            (f"count({typical!r})", lambda: store.count(typical)),
            ("since('', 1,000th newest id)", lambda: store.since("", ids[-1000])),
            ("since(to:rcpt7@example.net, newest id)", lambda: store.since(
                "to:rcpt7@example.net", ids[-1]
            )),
            ("stats()", store.stats),
        ]  # fmt: skip
        print(f"{'read':48} {'median':>9} {'p90':>9}  result")
        for name, call in cases:
            median, p90, result = await timed(call, repeat)
            shown = len(result) if isinstance(result, list) else result
            if not isinstance(shown, int):
                shown = type(shown).__name__
            print(f"{name:48} {median:7.2f}ms {p90:7.2f}ms  {shown}")
        changes: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            ("prune 5,000 oldest", lambda: store.prune(
                max_messages=count - 5000, max_age=None, now=time.time()
            )),
            (f"delete_matching({typical!r})", lambda: store.delete_matching(typical)),
        ]  # fmt: skip
        for name, change in changes:
            commits, start = store.commits, time.perf_counter()
            task = asyncio.ensure_future(change())
            waits = await receiving(store, corpus, task)
            removed = await task
            took, commits = time.perf_counter() - start, store.commits - commits
            print(
                f"{name}: {removed:,} messages in {took:.2f} s, {commits} commits; meanwhile"
                f" {len(waits)} add() calls took {statistics.median(waits):.1f} ms at the"
                f" median, {max(waits):.1f} ms at most"
            )


async def receiving(store: SQLiteStore, corpus: Corpus, task: asyncio.Future[int]) -> list[float]:
    """Add a message every 10 ms until ``task`` is done; how long each add() took (ms)."""
    waits: list[float] = []
    while not task.done() or not waits:
        raw, envelope, inbox = corpus.message(len(waits))
        incoming = store.incoming()
        incoming.write(raw)
        start = time.perf_counter()
        await store.add(incoming, envelope, ORIGIN, inbox=inbox)
        waits.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.01)
    return waits


def migration(data_dir: Path, count: int) -> None:
    """Time the opening of a version 2 store of ``count`` messages (fills the index)."""
    corpus = Corpus(seed=2)
    with sqlite3.connect(data_dir / DATABASE_NAME) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        for version in (1, 2):
            connection.executescript(MIGRATIONS[version])
        for n in range(count):
            raw, envelope, _ = corpus.message(n)
            connection.execute(
                "INSERT INTO messages VALUES (?, ?, '2024-01-01T00:00:00+00:00', ?, ?, ?, '[]',"
                " '192.0.2.1', 25, 'bench', NULL, NULL, 'subject', '', '[]', '[]', NULL, NULL,"
                " '[]', '')",
                (n + 1, f"{n:020x}", len(raw), envelope.sender,
                 json.dumps([[r.address, []] for r in envelope.recipients])),
            )  # fmt: skip
            connection.execute("INSERT INTO contents VALUES (?, ?)", (n + 1, raw))
        connection.execute("PRAGMA user_version = 2")

    async def open_and_count() -> int:
        async with await SQLiteStore.open(data_dir) as store:
            return await store.count("café")

    start = time.perf_counter()
    found = asyncio.run(open_and_count())
    took = time.perf_counter() - start
    print(
        f"migration of a version 2 store of {count:,} messages: {took:.1f} s"
        f" ({count / took:,.0f} messages/s; {found:,} found by 'café' after)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--migrate", type=int, default=10_000, help="0: skip the migration")
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}"
    )
    with tempfile.TemporaryDirectory(prefix="smtpx-bench-") as directory:
        asyncio.run(reads(Path(directory) / "reads", args.messages, args.repeat))
    if args.migrate:
        with tempfile.TemporaryDirectory(prefix="smtpx-bench-") as directory:
            (Path(directory) / "v2").mkdir()
            migration(Path(directory) / "v2", args.migrate)


if __name__ == "__main__":
    main()
