"""`smtpx messages list | show | raw | delete | count`: the store from the shell.

Each test fills a real store in ``tmp_path`` with the store's own API
(tests/store/storage.py), runs the installed console script on it in a
subprocess (tests/cli_command.py), and reads what it printed and, for
``delete``, the store again.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from tests.cli_command import (
    EX_DATAERR,
    EX_NOINPUT,
    EX_OK,
    EX_USAGE,
    NO_CONFIG,
    SCRIPT,
    one_error_line,
    smtpx,
)
from tests.store.storage import ENVELOPE, SIMPLE, add, headed, on_store

from smtpx.store import SQLiteStore

UNKNOWN = "0" * 20
EX_CONFIG = 78


def fill(data_dir: Path, *raws: bytes) -> list[str]:
    async def scenario(store: SQLiteStore) -> list[str]:
        return [await add(store, raw) for raw in raws]

    return on_store(data_dir, scenario)


def test_list_shows_newest_first_with_sender_recipients_subject_and_size(tmp_path: Path) -> None:
    first, second = fill(tmp_path, headed("first"), headed("second, longer" + "x" * 10))
    run = smtpx("messages", "--data-dir", str(tmp_path), "list")
    assert run.code == EX_OK, run.stderr
    assert [line.split()[0] for line in run.lines] == [second, first]
    newest = run.lines[0]
    assert f"  {ENVELOPE.sender}  bob@example.net,carol@example.net  " in newest
    assert "'second, longer" in newest
    assert newest.endswith(f"  {len(headed('second, longer' + 'x' * 10))}")


def test_list_pages_with_limit_and_before_and_searches(tmp_path: Path) -> None:
    ids = fill(tmp_path, *(headed(f"number {n}") for n in range(5)))
    run = smtpx("messages", "list", "--limit", "2", "--data-dir", str(tmp_path))
    assert [line.split()[0] for line in run.lines] == [ids[4], ids[3]]
    run = smtpx("messages", "list", "--before", ids[3], "--data-dir", str(tmp_path))
    assert [line.split()[0] for line in run.lines] == [ids[2], ids[1], ids[0]]
    run = smtpx("messages", "list", "--search", 'subject:"number 2"', "--data-dir", str(tmp_path))
    assert [line.split()[0] for line in run.lines] == [ids[2]]


def test_a_search_the_query_language_cannot_read_is_a_usage_error(tmp_path: Path) -> None:
    fill(tmp_path, SIMPLE)
    run = smtpx("messages", "list", "--search", "larger:lots", "--data-dir", str(tmp_path))
    assert run.code == EX_USAGE
    assert "--search" in run.stderr
    assert "Traceback" not in run.stderr


def test_show_prints_the_envelope_headers_and_text(tmp_path: Path) -> None:
    (message_id,) = fill(tmp_path, SIMPLE)
    run = smtpx("messages", "show", message_id, "--data-dir", str(tmp_path))
    assert run.code == EX_OK, run.stderr
    assert f"id:         {message_id}" in run.lines
    assert "client:     192.0.2.1 (client.example.org)" in run.lines
    assert "mail from:  <alice@example.org>" in run.lines
    assert [line for line in run.lines if line.startswith("rcpt to:")] == [
        "rcpt to:    <bob@example.net>",
        "rcpt to:    <carol@example.net>",
    ]
    assert "Subject: Hello" in run.lines
    assert run.lines[-1] == "Hi Bob."


def test_raw_writes_the_exact_bytes(tmp_path: Path) -> None:
    data = b"Subject: bytes\r\n\r\n\xff\xfe not UTF-8\r\n.. a dot line\r\n"
    (message_id,) = fill(tmp_path, data)
    done = subprocess.run(
        [str(SCRIPT), "messages", "raw", message_id, "--data-dir", str(tmp_path)],
        capture_output=True,
        timeout=30,
        check=False,
        env={"SMTPX_CONFIG": NO_CONFIG, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == EX_OK, done.stderr
    assert done.stdout == data


def test_delete_removes_one_message_and_count_counts(tmp_path: Path) -> None:
    kept, gone = fill(tmp_path, headed("kept"), headed("gone"))
    assert smtpx("messages", "count", "--data-dir", str(tmp_path)).lines == ["2"]
    run = smtpx("messages", "delete", gone, "--data-dir", str(tmp_path))
    assert run.code == EX_OK, run.stderr
    assert run.lines == [f"deleted {gone}"]
    assert smtpx("messages", "count", "--data-dir", str(tmp_path)).lines == ["1"]
    left = on_store(tmp_path, lambda store: store.list())
    assert [message.id for message in left] == [kept]


@pytest.mark.parametrize("command", ["show", "raw", "delete"])
def test_an_unknown_id_is_one_line_and_ex_dataerr(tmp_path: Path, command: str) -> None:
    fill(tmp_path, SIMPLE)
    run = smtpx("messages", command, UNKNOWN, "--data-dir", str(tmp_path))
    assert run.code == EX_DATAERR
    assert one_error_line(run, "smtpx messages") == f"smtpx messages: no message {UNKNOWN}"


@pytest.mark.parametrize(
    "command", [["list"], ["show", UNKNOWN], ["raw", UNKNOWN], ["delete", UNKNOWN], ["count"]]
)
def test_a_data_dir_without_a_store_is_one_line_and_ex_noinput_and_left_alone(
    tmp_path: Path, command: list[str]
) -> None:
    for where in (tmp_path / "nowhere", tmp_path):  # missing, and a directory with no store
        run = smtpx("messages", *command, "--data-dir", str(where))
        assert run.code == EX_NOINPUT, run.stderr
        assert one_error_line(run, "smtpx messages") == (
            f"smtpx messages: no store in {where}: give the --data-dir `smtpx serve` uses"
        )
    assert list(tmp_path.iterdir()) == []


def test_the_group_data_dir_is_used_and_a_later_one_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(tmp_path / "smtpx-data", SIMPLE)
    fill(tmp_path / "other", SIMPLE, SIMPLE)
    monkeypatch.chdir(tmp_path)
    assert smtpx("messages", "count").lines == ["1"]  # ./smtpx-data, the default
    assert smtpx("messages", "--data-dir", "other", "count").lines == ["2"]
    assert smtpx("messages", "--data-dir", "nowhere", "count", "--data-dir", "other").lines == ["2"]


@pytest.mark.parametrize(
    "options",
    [["--limit", "99999999999999999999"], ["--limit", "0"], ["--before", "nope"], ["--before", ""]],
)
def test_list_refuses_a_limit_or_cursor_it_cannot_use(tmp_path: Path, options: list[str]) -> None:
    fill(tmp_path, SIMPLE)
    run = smtpx("messages", "list", *options, "--data-dir", str(tmp_path))
    assert run.code == EX_USAGE, run
    assert "Traceback" not in run.stderr


def test_an_empty_database_file_is_no_store_and_stays_empty(tmp_path: Path) -> None:
    database = tmp_path / "messages.sqlite3"
    database.write_bytes(b"")
    run = smtpx("messages", "list", "--data-dir", str(tmp_path))
    assert run.code == EX_NOINPUT, run
    assert database.read_bytes() == b""


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    database = tmp_path / "messages.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE foo (x)")
    connection.close()
    run = smtpx("messages", "list", "--data-dir", str(tmp_path))
    assert run.code == EX_CONFIG, run
    assert "is not an smtpx store" in one_error_line(run, "smtpx messages")
    with sqlite3.connect(database) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
    connection.close()
    assert tables == ["foo"]


def test_show_reads_a_text_part_in_a_charset_python_does_not_know(tmp_path: Path) -> None:
    data = (
        b'Subject: odd\r\nContent-Type: text/plain; charset="bogus-charset"\r\n\r\n'
        b"caf\xc3\xa9 \xff\r\n"
    )
    (message_id,) = fill(tmp_path, data)
    run = smtpx("messages", "show", message_id, "--data-dir", str(tmp_path))
    assert run.code == EX_OK, run.stderr
    assert run.lines[-1] == "café \ufffd"


def test_show_never_writes_the_senders_control_characters(tmp_path: Path) -> None:
    data = b"Subject: \x1b[31mRED\x1b]0;title\x07\r\n\r\nclear \x1b[2J screen\r\n"
    (message_id,) = fill(tmp_path, data)
    run = smtpx("messages", "show", message_id, "--data-dir", str(tmp_path))
    assert run.code == EX_OK, run.stderr
    assert "\x1b" not in run.stdout
    assert "\x07" not in run.stdout
    assert "Subject: \\x1b[31mRED\\x1b]0;title\\x07" in run.lines
    assert run.lines[-1] == "clear \\x1b[2J screen"
