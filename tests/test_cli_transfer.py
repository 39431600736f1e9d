"""`smtpx messages export` and `import`: the store to .eml files and back, and mbox.

The console script runs in a subprocess (tests/cli_command.py) on stores made in
tmp_path with the store's own API (tests/store/storage.py).
"""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

from tests.cli_command import EX_DATAERR, EX_USAGE, one_error_line, smtpx
from tests.store.storage import add, headed, on_store

from smtpx.store import Envelope, Recipient, SQLiteStore, StoredMessage

EX_NOINPUT = 66
EX_CANTCREAT = 73


def fill(data_dir: Path, *raws: bytes) -> list[str]:
    async def scenario(store: SQLiteStore) -> list[str]:
        return [await add(store, raw) for raw in raws]

    return on_store(data_dir, scenario)


def everything(data_dir: Path) -> list[tuple[StoredMessage, bytes]]:
    async def scenario(store: SQLiteStore) -> list[tuple[StoredMessage, bytes]]:
        found = []
        for stored in reversed(await store.list(limit=1000)):
            raw = await store.raw(stored.id)
            assert raw is not None
            found.append((stored, raw))
        return found

    return on_store(data_dir, scenario)


def test_export_writes_the_exact_bytes_and_import_brings_them_back(tmp_path: Path) -> None:
    raws = [headed(f"message {n}", to=f"r{n}@example.net") for n in range(3)]
    raws.append(b"From: a@example.org\nTo: lf@example.net\nSubject: LF only\n\nbody\n")
    ids = fill(tmp_path / "one", *raws)
    run = smtpx("messages", "--data-dir", str(tmp_path / "one"), "export", str(tmp_path / "out"))
    assert run.code == 0, run
    assert "exported 4 messages" in run.stderr
    for message_id, raw in zip(ids, raws, strict=True):
        assert (tmp_path / "out" / f"{message_id}.eml").read_bytes() == raw
    run = smtpx("messages", "import", str(tmp_path / "out"), "--data-dir", str(tmp_path / "two"))
    assert run.code == 0, run
    assert "imported 4 messages" in run.stderr
    back = everything(tmp_path / "two")
    assert sorted(raw for _, raw in back) == sorted(raws)
    recipients = sorted(stored.envelope.recipients[0].address for stored, _ in back)
    assert recipients == ["lf@example.net", "r0@example.net", "r1@example.net", "r2@example.net"]
    assert {stored.envelope.sender for stored, _ in back} == {"a@example.org"}
    assert {stored.origin.helo for stored, _ in back} == {"smtpx-import"}


def test_export_with_a_search(tmp_path: Path) -> None:
    fill(tmp_path / "d", headed("keep this one"), headed("not that one", to="x@example.com"))
    run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "export", str(tmp_path / "out"),
                "--search", "subject:keep")  # fmt: skip
    assert run.code == 0, run
    (exported,) = (tmp_path / "out").iterdir()
    assert b"Subject: keep this one" in exported.read_bytes()


def test_import_an_mbox_with_bcc_and_return_path(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "mail.mbox")
    for n in range(2):
        message = EmailMessage()
        message["Return-Path"] = "<bounces@example.org>"
        message["From"] = "Alice <alice@example.org>"
        message["To"] = "bob@example.net"
        message["Bcc"] = "hidden@example.net"
        message["Subject"] = f"from an mbox {n}"
        message.set_content("hello\n")
        box.add(message)
    box.flush()
    run = smtpx(
        "messages", "--data-dir", str(tmp_path / "d"), "import", str(tmp_path / "mail.mbox")
    )
    assert run.code == 0, run
    back = everything(tmp_path / "d")
    assert len(back) == 2
    for stored, raw in back:
        assert stored.envelope == Envelope(
            "bounces@example.org", (Recipient("bob@example.net"), Recipient("hidden@example.net"))
        )
        assert b"Subject: from an mbox" in raw


def test_import_refuses_a_message_without_recipients_and_keeps_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.eml").write_bytes(headed("fine"))
    (tmp_path / "in" / "b.eml").write_bytes(b"From: a@example.org\r\nSubject: nobody\r\n\r\nx\r\n")
    run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "import", str(tmp_path / "in"))
    assert run.code == EX_DATAERR, run
    assert "b.eml" in one_error_line(run, "smtpx messages import")
    assert everything(tmp_path / "d") == []


def test_import_of_an_empty_directory_or_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "import", str(tmp_path / "empty"))
    assert run.code == EX_NOINPUT, run
    assert "no .eml files" in one_error_line(run, "smtpx messages import")
    run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "import", str(tmp_path / "nope"))
    assert run.code == EX_USAGE, run
    assert "Traceback" not in run.stderr


def test_a_malformed_search_is_a_usage_error_in_one_line(tmp_path: Path) -> None:
    fill(tmp_path / "d", headed("one"))
    for command in (["list"], ["export", str(tmp_path / "out")]):
        run = smtpx("messages", "--data-dir", str(tmp_path / "d"), *command, "--search", "Re: hi")
        assert run.code == EX_USAGE, run
        assert "unknown filter 'Re:'" in run.stderr
        assert "Traceback" not in run.stderr


def test_import_takes_delivered_to_when_the_headers_name_no_recipient(tmp_path: Path) -> None:
    data = (
        b"Delivered-To: carol@example.net\r\nFrom: a@example.org\r\n"
        b"Subject: sent to Bcc only\r\n\r\nx\r\n"
    )
    (tmp_path / "a.eml").write_bytes(data)
    run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "import", str(tmp_path / "a.eml"))
    assert run.code == 0, run
    ((stored, raw),) = everything(tmp_path / "d")
    assert stored.envelope == Envelope("a@example.org", (Recipient("carol@example.net"),))
    assert raw == data


def test_import_of_a_file_that_holds_no_message_keeps_nothing_and_makes_no_store(
    tmp_path: Path,
) -> None:
    for name, data in (("notes.txt", b"just some text\n"), ("empty", b"")):
        (tmp_path / name).write_bytes(data)
        run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "import", str(tmp_path / name))
        assert run.code == EX_DATAERR, run
        assert "no messages in" in one_error_line(run, "smtpx messages import")
    assert not (tmp_path / "d").exists()


def test_import_passes_over_a_directory_named_like_an_eml_file(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub.eml").mkdir(parents=True)
    (tmp_path / "in" / "a.eml").write_bytes(headed("fine"))
    run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "import", str(tmp_path / "in"))
    assert run.code == 0, run
    assert len(everything(tmp_path / "d")) == 1


def test_export_where_no_directory_can_be_made_is_one_line_and_ex_cantcreat(
    tmp_path: Path,
) -> None:
    fill(tmp_path / "d", headed("one"))
    (tmp_path / "a-file").write_text("in the way")
    target = tmp_path / "a-file" / "out"
    run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "export", str(target))
    assert run.code == EX_CANTCREAT, run
    assert f"cannot create {target}" in one_error_line(run, "smtpx messages export")


def test_export_without_a_store_leaves_no_directory_behind(tmp_path: Path) -> None:
    run = smtpx("messages", "--data-dir", str(tmp_path / "d"), "export", str(tmp_path / "out"))
    assert run.code == EX_NOINPUT, run
    assert not (tmp_path / "out").exists()
