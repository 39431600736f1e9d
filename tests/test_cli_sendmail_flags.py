"""`smtpx sendmail` with the flags cron, mutt and their kin pass to /usr/sbin/sendmail.

cron runs ``sendmail -FCronDaemon -i -B8BITMIME -oem -r SENDER RCPT`` (cronie);
mutt ``sendmail -oi -oem -- RCPT`` and, for DSN, ``-N`` and ``-R``. Flags sendmail
takes but smtpx has no use for (-B, -oX) are accepted and ignored; -bm is the
only mode. Each test runs the console script against smtp-sink with ``dump=True``,
which writes MAIL's and RCPT's arguments as they came (tests/peers/).
"""

from __future__ import annotations

import os
import pwd

import pytest
from tests.cli_command import (
    EX_DATAERR,
    EX_OK,
    EX_USAGE,
    STEP_TIMEOUT,
    Run,
    at,
    one_error_line,
    parse,
    smtpx,
)
from tests.peers import Sink, SinkDump, StartSink, parse_sink_dump

CRON_OUTPUT = (
    "To: user@example.org\n"
    "Subject: Cron <user@host> /usr/local/bin/backup\n"
    "Content-Type: text/plain; charset=UTF-8\n"
    "\n"
    "backup done\n"
)


def sendmail(sink: Sink, *args: str, stdin: str = CRON_OUTPUT, **env: str) -> Run:
    return smtpx(
        "sendmail",
        *("--server", at(sink.host, sink.port), "--timeout", STEP_TIMEOUT),
        *args,
        stdin=stdin,
        env={"USER": "app", **env},
    )


def only_dump(sink: Sink) -> SinkDump:
    [dump] = sink.dumps()
    return parse_sink_dump(dump)


def test_cron_command_line(smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    run = sendmail(
        sink, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-r", "cron@example.org",
        "user@example.org",
    )  # fmt: skip
    assert run.code == EX_OK, run.stderr
    assert run.stderr == ""
    assert run.outcome("accepted").keys() == {"user@example.org"}
    dump = only_dump(sink)
    assert dump.mail_args.split(" ")[0] == "<cron@example.org>"
    assert dump.rcpt_args == ("<user@example.org>",)
    message = parse(dump.message)
    assert message["From"] == "CronDaemon <cron@example.org>"
    assert message["To"] == "user@example.org"
    assert message["Subject"] == "Cron <user@host> /usr/local/bin/backup"
    assert message.get_content() == "backup done\n"


def test_cron_line_with_spaces_between_flags_and_values(smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    run = sendmail(
        sink, "-F", "Cron Daemon", "-i", "-B", "8BITMIME", "-o", "em", "-f",
        "cron@example.org", "user@example.org",
    )  # fmt: skip
    assert run.code == EX_OK, run.stderr
    dump = only_dump(sink)
    assert dump.mail_args.split(" ")[0] == "<cron@example.org>"
    assert parse(dump.message)["From"] == "Cron Daemon <cron@example.org>"


def test_oi_and_bm_as_mutt_gives_them(smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    stdin = "From: Me <me@example.com>\nTo: user@example.org\nSubject: dots\n\nbefore\n.\nafter\n"
    run = sendmail(sink, "-oi", "-oem", "-bm", "--", "user@example.org", stdin=stdin)
    assert run.code == EX_OK, run.stderr
    dump = only_dump(sink)
    assert dump.mail_args.split(" ")[0] == "<me@example.com>"
    assert dump.rcpt_args == ("<user@example.org>",)
    # -oi: the lone "." is a line of the message, not its end.
    assert dump.message.endswith(b"\n\nbefore\n.\nafter\n")


def test_dsn_flags_go_on_the_wire(smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    run = sendmail(
        sink, "-N", "success,failure", "-R", "hdrs", "-V", "envid1", "-f", "me@example.com",
        "user@example.org",
    )  # fmt: skip
    assert run.code == EX_OK, run.stderr
    dump = only_dump(sink)
    assert dump.mail_args.split(" ")[1:] == ["RET=HDRS", "ENVID=envid1"]
    assert dump.rcpt_args == ("<user@example.org> NOTIFY=SUCCESS,FAILURE",)


@pytest.mark.parametrize(
    "notify",
    [
        pytest.param("success,sometimes", id="unknown-word"),
        # RFC 3461 §4.1: NEVER is alone or not at all.
        pytest.param("never,success", id="never-with-others"),
    ],
)
def test_a_bad_notify_is_a_data_error_and_sends_nothing(smtp_sink: StartSink, notify: str) -> None:
    sink = smtp_sink(dump=True)
    run = sendmail(sink, "-N", notify, "user@example.org")
    assert run.code == EX_DATAERR, run.stderr
    assert "NOTIFY" in one_error_line(run, "smtpx sendmail")
    assert sink.dumps() == []


def test_bs_is_not_supported(smtp_sink: StartSink) -> None:
    # -bs (SMTP on stdin and stdout) is a mode smtpx does not have: a usage error.
    sink = smtp_sink(dump=True)
    run = sendmail(sink, "-bs", stdin="EHLO client.example\r\nQUIT\r\n")
    assert run.code == EX_USAGE
    assert run.stdout == ""
    assert "-b" in one_error_line(run, "smtpx sendmail")
    assert sink.dumps() == []


def test_without_user_or_f_the_sender_is_the_os_user(smtp_sink: StartSink) -> None:
    # cron may run jobs with a bare environment: $USER empty (or unset), no -f.
    sink = smtp_sink(dump=True)
    name = pwd.getpwuid(os.getuid()).pw_name
    empty = {"USER": "", "LOGNAME": "", "LNAME": "", "USERNAME": ""}
    run = sendmail(sink, "user@example.org", **empty)
    assert run.code == EX_OK, run.stderr
    dump = only_dump(sink)
    assert dump.mail_args.split(" ")[0] == f"<{name}@localhost>"
    from_header = parse(dump.message)["From"]
    assert from_header == f"{name}@localhost"
    assert not from_header.startswith("@")


@pytest.mark.parametrize("given", ["<>", "", " <> "], ids=["angle-brackets", "empty", "spaces"])
def test_f_with_nothing_in_it_is_the_null_sender(smtp_sink: StartSink, given: str) -> None:
    # Postfix's sendmail(1) reads -f '' and -f '<>' alike as the null sender, and
    # its cleanup(8) then writes From: MAILER-DAEMON, without -F's name.
    sink = smtp_sink(dump=True)
    run = sendmail(sink, "-f", given, "-F", "Bounce Robot", "user@example.org")
    assert run.code == EX_OK, run.stderr
    dump = only_dump(sink)
    assert dump.mail_args.split(" ")[0] == "<>"
    assert dump.rcpt_args == ("<user@example.org>",)
    assert parse(dump.message)["From"] == "MAILER-DAEMON@localhost"


def test_f_in_angle_brackets_is_the_address_inside(smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    run = sendmail(sink, "-f", "<bounce@example.org>", "user@example.org")
    assert run.code == EX_OK, run.stderr
    dump = only_dump(sink)
    assert dump.mail_args.split(" ")[0] == "<bounce@example.org>"
    assert parse(dump.message)["From"] == "bounce@example.org"


def test_a_null_sender_keeps_the_messages_own_from(smtp_sink: StartSink) -> None:
    sink = smtp_sink(dump=True)
    stdin = "From: Vacation <me@example.com>\nSubject: away\n\nback monday\n"
    run = sendmail(sink, "-f", "<>", "user@example.org", stdin=stdin)
    assert run.code == EX_OK, run.stderr
    dump = only_dump(sink)
    assert dump.mail_args.split(" ")[0] == "<>"
    assert parse(dump.message)["From"] == "Vacation <me@example.com>"
