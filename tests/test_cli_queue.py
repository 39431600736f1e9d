"""`smtpx queue`: the relay's queue, read and changed from another process.

Each test prepares a real store in ``tmp_path`` (as `smtpx serve --relay` would
leave it: messages added with ``relay_to`` and outcomes recorded), runs the
installed console script on it, and reads the store again afterwards.

Times are shown in local time: the command runs with ``TZ`` at UTC+05:30, so a
time printed in UTC would not match.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tests.cli_command import EX_DATAERR, EX_NOINPUT, EX_OK, EX_USAGE, Run, one_error_line
from tests.cli_command import smtpx as run_smtpx
from tests.store.storage import ENVELOPE, SIMPLE, add, headed, on_store

from smtpx.cli._queue import one_line
from smtpx.store import Delivery, DeliveryStatus, DeliveryUpdate, Envelope, SQLiteStore

BOB, CAROL = "bob@example.net", "carol@example.net"  # ENVELOPE's recipients, in order
LATER = 2_000_000_000.0  # 2033: a next attempt that is never due in these tests
ZONE = timezone(timedelta(hours=5, minutes=30))
LOCAL = {"TZ": "IST-05:30"}  # POSIX TZ: five and a half hours ahead of UTC
GREYLISTED = "451-4.7.1 greylisted,\r\n451 4.7.1 come back in 5 minutes"
EX_CONFIG = 78


def smtpx(*args: str) -> Run:
    return run_smtpx(*args, env=LOCAL)


def local(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, ZONE).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Queue:
    waiting: str  # Bob deferred until LATER, Carol queued
    done: str  # Bob delivered, Carol failed
    bounce: str  # from <>, Bob deferred until LATER
    kept: str  # kept by the server, never queued for relaying
    received: dict[str, float]  # id -> received, epoch seconds


def prepare(data_dir: Path) -> Queue:
    async def scenario(store: SQLiteStore) -> Queue:
        done = await add(store, headed("done"), relay_to=[BOB, CAROL])
        kept = await add(store, headed("kept"))
        null_sender = Envelope("", ENVELOPE.recipients[:1])
        bounce = await add(store, headed("bounce"), null_sender, relay_to=[BOB])
        waiting = await add(store, SIMPLE, relay_to=[BOB, CAROL])
        await store.record(
            done,
            [
                DeliveryUpdate(BOB, DeliveryStatus.DELIVERED, "250 2.0.0 queued as X1", "mx1"),
                DeliveryUpdate(CAROL, DeliveryStatus.FAILED, "550 5.1.1 no such user", "mx2"),
            ],
        )
        greylisted = DeliveryUpdate(
            BOB, DeliveryStatus.DEFERRED, GREYLISTED, "mx.example.net", LATER
        )
        await store.record(waiting, [greylisted])
        await store.record(bounce, [greylisted])
        return Queue(waiting, done, bounce, kept, await received(store, waiting, done, bounce))

    return on_store(data_dir, scenario)


async def received(store: SQLiteStore, *ids: str) -> dict[str, float]:
    found = {}
    for message_id in ids:
        message = await store.get(message_id)
        assert message is not None
        found[message_id] = message.received_at.timestamp()
    return found


def deliveries(data_dir: Path, message_id: str) -> list[Delivery]:
    return on_store(data_dir, lambda store: store.deliveries(message_id))


def listed(run: Run) -> dict[str, tuple[list[str], list[list[str]]]]:
    """`list`'s output: id -> (the message line's words, each recipient line's words)."""
    assert run.code == EX_OK, run.stderr
    found: dict[str, tuple[list[str], list[list[str]]]] = {}
    for line in run.lines:
        if line.startswith("    "):
            found[list(found)[-1]][1].append(line.split())
        else:
            found[line.split()[0]] = (line.split(), [])
    return found


def words(recipient: str, status: str, attempts: int, *rest: str) -> list[str]:
    """A recipient line of `list` as its words; ``rest``: next attempt, remote, reply."""
    return [recipient, status, "attempts", str(attempts), "next", *" ".join(rest).split()]


def fields(run: Run) -> list[tuple[str, str]]:
    """`show`'s "name: value" lines, in order (recipient records' names indented)."""
    assert run.code == EX_OK, run.stderr
    return [
        (name, value.strip())
        for name, _, value in (line.partition(": ") for line in run.lines)
        if value
    ]


# list


def test_list_shows_pending_messages_first_each_recipient_with_its_state(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx("queue", "--data-dir", str(tmp_path), "list")
    assert run.stderr == ""
    messages = listed(run)
    # Pending first (newest first among them), then the rest; never a kept message.
    assert list(messages) == [queue.waiting, queue.bounce, queue.done]

    line, (bob, carol) = messages[queue.waiting]
    when = local(queue.received[queue.waiting])
    assert line == [queue.waiting, *when.split(), "87", "octets", "<alice@example.org>", "'Hello'"]
    # A multi-line reply is put on one line (not cut: stdout is not a terminal).
    assert bob == words(BOB, "deferred", 1, local(LATER), "mx.example.net", GREYLISTED)
    # Never tried: due since it was received, no remote, no reply.
    assert carol == words(CAROL, "queued", 0, when, "-", "-")

    _, (bob, carol) = messages[queue.done]
    assert bob == words(BOB, "delivered", 1, "-", "mx1", "250 2.0.0 queued as X1")
    assert carol == words(CAROL, "failed", 1, "-", "mx2", "550 5.1.1 no such user")


def test_list_shows_the_null_sender_as_angle_brackets(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    line, _ = listed(smtpx("queue", "list", "--data-dir", str(tmp_path)))[queue.bounce]
    assert line[4:] == ["octets", "<>", "'bounce'"]


def test_list_pending_leaves_out_messages_with_every_recipient_done(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx("queue", "list", "--pending", "--data-dir", str(tmp_path))
    assert list(listed(run)) == [queue.waiting, queue.bounce]


def test_list_limit_shows_the_first_messages_and_says_there_are_more(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx("queue", "list", "--limit", "2", "--data-dir", str(tmp_path))
    assert list(listed(run)) == [queue.waiting, queue.bounce]
    assert one_error_line(run, "smtpx queue") == (
        "smtpx queue: showing the first 2 messages only (--limit)"
    )


def test_an_empty_queue_says_so_and_list_exits_0(tmp_path: Path) -> None:
    on_store(tmp_path, lambda store: add(store, SIMPLE))  # kept, not relayed
    run = smtpx("queue", "list", "--data-dir", str(tmp_path))
    assert (run.code, run.stdout, run.stderr) == (EX_OK, "queue is empty\n", "")


def test_list_pending_with_nothing_pending_says_so(tmp_path: Path) -> None:
    async def scenario(store: SQLiteStore) -> None:
        message_id = await add(store, SIMPLE, relay_to=[BOB])
        await store.record(message_id, [DeliveryUpdate(BOB, DeliveryStatus.DELIVERED, "250 ok")])

    on_store(tmp_path, scenario)
    run = smtpx("queue", "list", "--pending", "--data-dir", str(tmp_path))
    assert (run.code, run.stdout) == (EX_OK, "nothing pending in the queue\n")


def test_a_reply_is_cut_to_the_room_left_on_the_line() -> None:
    assert one_line("451-busy\r\n451 try later", None) == "451-busy 451 try later"
    assert one_line("451 try later", 13) == "451 try later"
    assert one_line("451 try later", 8) == "451 try…"


# show


def test_show_prints_the_envelope_origin_and_every_delivery_record(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx("queue", "show", queue.waiting, "--data-dir", str(tmp_path))
    found = fields(run)
    at = datetime.fromtimestamp(queue.received[queue.waiting], ZONE).strftime("%z")
    assert found[:9] == [
        ("id", queue.waiting),
        ("received", f"{local(queue.received[queue.waiting])} {at}"),
        ("size", "87 octets"),
        ("client", "192.0.2.1 port 40123 (client.example.org)"),
        ("tls", "TLSv1.3 TLS_AES_256_GCM_SHA384"),
        ("auth", "al"),
        ("mail from", "<alice@example.org> SIZE=123 BODY=8BITMIME"),
        ("rcpt to", f"<{BOB}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@x"),
        ("rcpt to", f"<{CAROL}>"),
    ]
    assert found[9] == ("subject", "Hello")
    bob = dict(found[10:17])
    assert bob == {
        "  status": "deferred",
        "  attempts": "1",
        "  next attempt": f"{local(LATER)} +0530",
        "  updated": bob["  updated"],
        "  warned": "no",
        "  remote": "mx.example.net",
        "  last reply": "451-4.7.1 greylisted,",
    }
    assert datetime.strptime(bob["  updated"], "%Y-%m-%d %H:%M:%S %z").timestamp() >= int(
        queue.received[queue.waiting]
    )
    # The whole reply, every line of it.
    assert "                 451 4.7.1 come back in 5 minutes" in run.lines
    assert f"to <{BOB}>" in run.lines
    assert f"to <{CAROL}>" in run.lines
    assert dict(found[17:])["  status"] == "queued"
    assert dict(found[17:])["  last reply"] == "-"


def test_show_of_a_final_delivery_has_no_next_attempt(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    found = fields(smtpx("queue", "show", queue.done, "--data-dir", str(tmp_path)))
    assert [value for name, value in found if name == "  next attempt"] == ["-", "-"]
    assert [value for name, value in found if name == "  status"] == ["delivered", "failed"]


def test_show_of_an_unknown_id_is_one_line_and_ex_dataerr(tmp_path: Path) -> None:
    prepare(tmp_path)
    run = smtpx("queue", "show", "0" * 20, "--data-dir", str(tmp_path))
    assert run.code == EX_DATAERR
    assert one_error_line(run, "smtpx queue") == f"smtpx queue: no message {'0' * 20}"


def test_show_of_a_message_never_queued_says_it_is_not_in_the_queue(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx("queue", "show", queue.kept, "--data-dir", str(tmp_path))
    assert run.code == EX_DATAERR
    assert one_error_line(run, "smtpx queue") == (
        f"smtpx queue: message {queue.kept} is not in the queue (see `smtpx messages`)"
    )


# retry and flush


def test_retry_one_message_makes_its_pending_recipients_due_now(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    before = time.time()
    run = smtpx("queue", "retry", queue.waiting, "--data-dir", str(tmp_path))
    after = time.time()
    assert (run.code, run.stdout) == (EX_OK, "rescheduled 2 recipients: due now\n")
    bob, carol = deliveries(tmp_path, queue.waiting)
    for delivery in (bob, carol):
        assert delivery.next_attempt is not None
        assert before <= delivery.next_attempt <= after
    assert (bob.status, bob.attempts, bob.last_reply) == (DeliveryStatus.DEFERRED, 1, GREYLISTED)
    # Another message's deferred recipient is left where it was.
    [other] = deliveries(tmp_path, queue.bounce)
    assert other.next_attempt == LATER


def test_retry_of_a_message_with_nothing_pending_changes_nothing(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx("queue", "retry", queue.done, "--data-dir", str(tmp_path))
    assert (run.code, run.stdout) == (EX_OK, "nothing pending to retry\n")
    assert [d.next_attempt for d in deliveries(tmp_path, queue.done)] == [None, None]


@pytest.mark.parametrize("command", [["retry"], ["flush"]])
def test_retry_without_id_and_flush_make_every_pending_recipient_due_now(
    tmp_path: Path, command: list[str]
) -> None:
    queue = prepare(tmp_path)
    before = time.time()
    run = smtpx("queue", "--data-dir", str(tmp_path), *command)
    after = time.time()
    assert (run.code, run.stdout) == (EX_OK, "rescheduled 3 recipients: due now\n")
    pending = deliveries(tmp_path, queue.waiting) + deliveries(tmp_path, queue.bounce)
    assert len(pending) == 3
    for delivery in pending:
        assert delivery.next_attempt is not None
        assert before <= delivery.next_attempt <= after
    assert [d.next_attempt for d in deliveries(tmp_path, queue.done)] == [None, None]


def test_flush_says_in_its_help_that_it_is_postqueue_f() -> None:
    run = smtpx("queue", "flush", "--help")
    assert run.code == EX_OK
    assert "postqueue -f" in run.stdout


@pytest.mark.parametrize("command", ["retry", "delete"])
def test_retry_or_delete_of_an_unknown_id_is_one_line_and_ex_dataerr(
    tmp_path: Path, command: str
) -> None:
    prepare(tmp_path)
    run = smtpx("queue", command, "0" * 20, "--data-dir", str(tmp_path))
    assert run.code == EX_DATAERR
    assert one_error_line(run, "smtpx queue") == f"smtpx queue: no message {'0' * 20}"


# delete


def test_delete_removes_the_message_and_its_deliveries(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx("queue", "delete", queue.waiting, "--data-dir", str(tmp_path))
    assert (run.code, run.stdout) == (EX_OK, f"deleted {queue.waiting}\n")
    assert deliveries(tmp_path, queue.waiting) == []
    assert on_store(tmp_path, lambda store: store.get(queue.waiting)) is None
    assert list(listed(smtpx("queue", "list", "--data-dir", str(tmp_path)))) == [
        queue.bounce,
        queue.done,
    ]


def test_delete_leaves_a_message_that_was_never_queued(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx("queue", "delete", queue.kept, "--data-dir", str(tmp_path))
    assert run.code == EX_DATAERR
    assert "is not in the queue" in one_error_line(run, "smtpx queue")
    assert on_store(tmp_path, lambda store: store.get(queue.kept)) is not None


# --data-dir


@pytest.mark.parametrize(
    "command", [["list"], ["show", "0" * 20], ["retry"], ["flush"], ["delete", "0" * 20]]
)
def test_a_missing_data_dir_is_one_line_and_ex_noinput_and_not_created(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "nowhere"
    run = smtpx("queue", *command, "--data-dir", str(missing))
    assert run.code == EX_NOINPUT
    assert one_error_line(run, "smtpx queue") == (
        f"smtpx queue: no store in {missing}: give the --data-dir `smtpx serve` uses"
    )
    assert not missing.exists()


def test_the_default_data_dir_is_smtpx_data_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = smtpx("queue", "list")
    assert run.code == EX_NOINPUT
    assert "no store in ./smtpx-data:" in one_error_line(run, "smtpx queue")
    queue = prepare(tmp_path / "smtpx-data")
    assert queue.waiting in listed(smtpx("queue", "list"))


def test_data_dir_on_the_subcommand_wins_over_the_group(tmp_path: Path) -> None:
    queue = prepare(tmp_path)
    run = smtpx(
        "queue", "--data-dir", str(tmp_path / "nowhere"), "list", "--data-dir", str(tmp_path)
    )
    assert queue.waiting in listed(run)


def test_a_data_dir_that_is_a_file_is_one_line_and_ex_config(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a store")
    run = smtpx("queue", "list", "--data-dir", str(a_file))
    assert run.code == EX_CONFIG
    assert "is not a directory" in one_error_line(run, "smtpx queue")


def test_bare_smtpx_queue_prints_its_help_and_exits_ex_usage() -> None:
    run = smtpx("queue")
    assert run.code == EX_USAGE
    assert "retry" in run.stderr
    assert "Traceback" not in run.stderr
