"""Store.search: every term of the language, and its negation, against a small corpus.

The corpus has one message of each kind the full-text index must read: plain
text, HTML only, multipart with an attachment, and accented UTF-8 (with a
Latin-1 quoted-printable part). Each test names the messages it expects, newest
first; a negated term must find exactly the others.
"""

from __future__ import annotations

import asyncio
import base64
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.store.storage import ORIGIN, add, on_store

from smtpx.store import Envelope, Query, QueryError, Recipient, SQLiteStore

PLAIN = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Quarterly report\r\n"
    b"Message-ID: <q1.report@example.org>\r\n"
    b"\r\n"
    b"The numbers are up this quarter.\r\n"
)
HTML_ONLY = (
    b"From: Shop <news@shop.example>\r\n"
    b"To: carol@example.net\r\n"
    b"Subject: Weekly offers\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<html><head><title>hidden title</title><style>p {color: red}</style></head>"
    b"<body><p>Big <b>discount</b> on shoes&amp;boots</p><script>tracking()</script>"
    b"</body></html>\r\n"
)
ATTACHMENT = base64.encodebytes(random.Random(1).randbytes(12_000)).replace(b"\n", b"\r\n")
WITH_ATTACHMENT = (
    b"From: Dave <dave@example.org>\r\n"
    b"To: bob@example.net\r\n"
    b"Cc: Erin <erin@example.net>\r\n"
    b"Subject: Invoice 42\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Please find the invoice attached.\r\n"
    b"--b1\r\n"
    b'Content-Type: application/pdf; name="invoice.pdf"\r\n'
    b"Content-Disposition: attachment\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + ATTACHMENT + b"--b1--\r\n"
)
ACCENTED = (
    "From: Zoë <zoe@example.fr>\r\n"
    "To: bob@example.net\r\n"
    "Subject: Café crème\r\n"
    'Content-Type: multipart/alternative; boundary="alt"\r\n'
    "\r\n"
    "--alt\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Rendez-vous au café à midi.\r\n"
    "--alt\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "D=E9j=E0 vu, na=EFve.\r\n"
    "--alt--\r\n"
).encode()
BOB = Envelope("alice@example.org", (Recipient("bob@example.net"),))


@dataclass(frozen=True)
class Corpus:
    plain: str
    html: str
    attached: str
    accented: str

    @property
    def all(self) -> list[str]:
        return [self.accented, self.attached, self.html, self.plain]  # newest first


async def corpus(store: SQLiteStore) -> Corpus:
    plain = await add(store, PLAIN, BOB)
    html = await add(
        store, HTML_ONLY, Envelope("bounces@shop.example", (Recipient("carol@example.net"),))
    )
    # Hidden is a Bcc recipient: in the envelope only.
    attached = await add(
        store,
        WITH_ATTACHMENT,
        Envelope(
            "dave@example.org", (Recipient("bob@example.net"), Recipient("hidden@example.net"))
        ),
    )
    accented = await add(
        store, ACCENTED, Envelope("zoe@example.fr", (Recipient("bob@example.net"),))
    )
    return Corpus(plain, html, attached, accented)


def check(tmp_path: Path, cases: list[tuple[str, list[str]]]) -> None:
    """Search each query and its negation; ``cases`` name corpus fields, newest first."""

    async def scenario(store: SQLiteStore) -> None:
        messages = await corpus(store)
        for text, expected in cases:
            wanted = [getattr(messages, name) for name in expected]
            found = [m.id for m in await store.search(text)]
            assert found == wanted, text
            assert await store.count(text) == len(wanted), text
            if not text.startswith("-") and " " not in text:
                others = [m for m in messages.all if m not in wanted]
                assert [m.id for m in await store.search(f"-{text}")] == others, f"-{text}"

    on_store(tmp_path, scenario)


NEWEST_FIRST = ["accented", "attached", "html", "plain"]


def test_free_words_search_subject_addresses_and_text(tmp_path: Path) -> None:
    check(
        tmp_path,
        [
            ("numbers", ["plain"]),  # text/plain body
            ("discount", ["html"]),  # HTML-only: the text of the HTML
            ("boots", ["html"]),  # an entity decoded
            ("tracking", []),  # a script is not text
            ("hidden", ["attached"]),  # ...nor a <title> (the Bcc recipient is hidden@)
            ("attached", ["attached"]),  # the text part of a multipart
            ("JVBER", []),  # an attachment is not text
            ("erin", ["attached"]),  # Cc
            ("shop", ["html"]),  # From
            ("carol@example.net", ["html"]),  # an address: its words in a row
            ("bounces", ["html"]),  # the envelope sender
            ("example", NEWEST_FIRST),
            ("nothing", []),
        ],
    )


def test_case_and_accents_do_not_matter(tmp_path: Path) -> None:
    check(
        tmp_path,
        [
            ("cafe", ["accented"]),  # subject and text: café
            ("CAFÉ", ["accented"]),
            ("deja", ["accented"]),  # Latin-1, quoted-printable: déjà
            ("naive", ["accented"]),
            ("zoe", ["accented"]),
            ("creme", ["accented"]),
        ],
    )


def test_an_unfinished_last_word_is_a_prefix_a_quoted_one_is_not(tmp_path: Path) -> None:
    check(
        tmp_path,
        [
            ("quart", ["plain"]),  # quarter, Quarterly
            ('"quart"', []),
            ("invo", ["attached"]),
            ("in", []),  # two letters: the word "in" only, no prefix
            ("alice@exa", ["plain"]),
            ('"alice@exa"', []),
        ],
    )


def test_phrases_need_their_words_in_order(tmp_path: Path) -> None:
    check(
        tmp_path,
        [
            ('"find the invoice"', ["attached"]),
            ('"FIND the   invoice"', ["attached"]),
            ('"the invoice find"', []),
            ('"quarterly report"', ["plain"]),
            ('-"quarterly report"', ["accented", "attached", "html"]),
        ],
    )


def test_several_terms_must_all_match(tmp_path: Path) -> None:
    check(
        tmp_path,
        [
            ("invoice attached", ["attached"]),
            ("invoice numbers", []),
            ("bob -invoice", ["accented", "plain"]),
            ("-invoice -cafe", ["html", "plain"]),  # negations alone
            ("to:bob has:attachment", ["attached"]),
            ("to:bob -has:attachment smaller:10k", ["accented", "plain"]),
            ("from:alice OR from:dave", []),  # no OR: three words, "or" among them
        ],
    )


def test_field_filters_search_their_field_only(tmp_path: Path) -> None:
    check(
        tmp_path,
        [
            ("from:alice", ["plain"]),
            ("from:alice@example.org", ["plain"]),
            ("from:zoë", ["accented"]),
            ("from:bounces", ["html"]),  # the envelope sender
            ("from:bob", []),
            ("to:bob", ["accented", "attached", "plain"]),
            ("to:hidden", ["attached"]),  # an envelope recipient (Bcc)
            ("to:alice", []),
            ("cc:erin", ["attached"]),
            ("cc:bob", []),
            ("subject:report", ["plain"]),
            ("subject:numbers", []),  # a word of the text, not of the subject
            ('subject:"café crème"', ["accented"]),
            ("subject:cafe", ["accented"]),
            ("message-id:q1.report@example.org", ["plain"]),
            ('message-id:"<q1.report@example.org>"', ["plain"]),
            ("message-id:report", ["plain"]),
            ("message-id:alice", []),
        ],
    )


def test_has_attachment(tmp_path: Path) -> None:
    check(tmp_path, [("has:attachment", ["attached"])])


def test_sizes_are_strict_bounds(tmp_path: Path) -> None:
    plain = len(PLAIN)
    check(
        tmp_path,
        [
            ("larger:10k", ["attached"]),
            ("smaller:10k", ["accented", "html", "plain"]),
            (f"larger:{plain}", ["accented", "attached", "html"]),
            (f"larger:{plain - 1} smaller:{plain + 1}", ["plain"]),
            (f"smaller:{plain}", []),
            ("larger:1G", []),
        ],
    )


def test_is_unread_and_is_read(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        messages = await corpus(store)
        assert await store.mark_seen([messages.plain, messages.attached]) == 2

        async def found(text: str) -> list[str]:
            return [m.id for m in await store.search(text)]

        assert await found("is:unread") == [messages.accented, messages.html]
        assert await found("-is:read") == [messages.accented, messages.html]
        assert await found("is:read") == [messages.attached, messages.plain]
        assert await found("-is:unread") == [messages.attached, messages.plain]
        assert await found("is:unread to:bob") == [messages.accented]

    on_store(tmp_path, scenario)


def test_inbox_filters_by_the_inbox_given_at_add(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = {}
        for name, inbox in [("a", "team"), ("b", ""), ("c", "Team"), ("d", "team")]:
            incoming = store.incoming()
            incoming.write(PLAIN)
            ids[name] = await store.add(incoming, BOB, ORIGIN, inbox=inbox)
        stored = await store.get(ids["a"])
        assert stored is not None
        assert stored.inbox == "team"

        async def found(query: str | Query) -> list[str]:
            return [m.id for m in await store.search(query)]

        assert await found("inbox:team") == [ids["d"], ids["a"]]  # exact: not "Team"
        assert await found("-inbox:team") == [ids["c"], ids["b"]]
        assert await found('inbox:""') == [ids["b"]]
        assert await found("inbox:Team report") == [ids["c"]]
        assert await found(Query().in_inbox("team")) == [ids["d"], ids["a"]]
        assert await store.count("inbox:team") == 2

    on_store(tmp_path, scenario)


def test_search_pages_with_before_and_a_query_error_touches_nothing(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        ids = [await add(store, PLAIN) for _ in range(5)]
        page = await store.search("report", limit=2)
        assert [m.id for m in page] == [ids[4], ids[3]]
        page = await store.search("report", limit=2, before=page[-1].id)
        assert [m.id for m in page] == [ids[2], ids[1]]
        assert [m.id for m in await store.search("report", before=ids[1])] == [ids[0]]
        for call in (store.search("re: x"), store.count("x:"), store.delete_matching("is:")):
            with pytest.raises(QueryError):
                await call
        assert await store.count() == 5

    on_store(tmp_path, scenario)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("'; DROP TABLE messages; --", 0),
        ('" OR 1=1 --', None),  # a stray quote: QueryError, before any SQL
        ("x') OR ('1'='1", 0),
        ('subject:"\\" OR \\"1\\"=\\"1"', 0),
        ("inbox:\"' OR '1'='1\"", 0),
        ("NEAR(report numbers) OR *", 0),
        ("{subject}:report subject:* -*", 0),
        ("from:alice) OR (to:bob", 0),
        ("message-id:%", 4),  # no letter or digit: constrains nothing
        ("report\x00'; DELETE FROM contents; --", 0),
        ('"\'; DROP TABLE messages_text; --" larger:1 smaller:1', 0),
        ("drop:table messages", None),  # an unknown filter
    ],
)
def test_sql_and_fts_injection_attempts_are_inert(
    tmp_path: Path, text: str, count: int | None
) -> None:
    async def scenario(store: SQLiteStore) -> None:
        messages = await corpus(store)
        if count is None:
            with pytest.raises(QueryError):
                await store.search(text)
        else:
            found = await store.search(text)
            assert len(found) == count
            assert await store.count(text) == count
            assert await store.since(text, None) == found[::-1]
        assert await store.count() == 4
        assert [m.id for m in await store.list()] == messages.all
        assert await store.raw(messages.plain) == PLAIN

    on_store(tmp_path, scenario)


def test_searches_run_while_messages_arrive(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        await corpus(store)
        results = await asyncio.gather(
            *(add(store, PLAIN) for _ in range(50)),
            *(store.search("report") for _ in range(20)),
        )
        assert all(1 <= len(result) <= 50 for result in results[50:])
        assert await store.count("report") == 51

    on_store(tmp_path, scenario)
