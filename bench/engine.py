"""Engine throughput: pipelined transactions through each role alone, in memory.

Each transaction is MAIL, RCPT, DATA, a 1 KB body and end of data, with the
peer's bytes prepared beforehand, so only the engine under test is timed.
Target (issue 2): >= 30,000 transactions/s per engine on one core.

Times are CPU seconds of this process (time.process_time), each run repeated;
the best and the median run are printed, since a shared machine adds noise
that is not the engine's.

    .venv/bin/python bench/engine.py [--transactions N] [--repeat R]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from smtpx.protocol import (
    CLIENT,
    NEED_DATA,
    SERVER,
    Connection,
    Data,
    Ehlo,
    EndOfMessage,
    Extensions,
    Limits,
    MailFrom,
    MessageData,
    RcptTo,
    Reply,
)

# 16 lines of 64 octets: a 1 KB body.
BODY = b"".join(
    b"Line %02d of a one-kilobyte message body, sixty-four octets long\r\n" % i for i in range(16)
)
assert 1000 <= len(BODY) <= 1100
EXTENSIONS = Extensions(pipelining=True, size=0, eightbitmime=True, enhancedstatuscodes=True)
OK_MAIL = Reply(250, "2.1.0", "Sender OK")
OK_RCPT = Reply(250, "2.1.5", "Recipient OK")
GO_AHEAD = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
QUEUED = Reply(250, "2.0.0", "Queued as 1234")


def server_engine(transactions: int) -> float:
    """Seconds for the server engine to read ``transactions`` and answer them."""
    one = (
        b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<rcpt@example.net>\r\nDATA\r\n"
        + BODY
        + b".\r\n"
    )
    wire = b"EHLO client.example\r\n" + one * transactions
    pieces = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    replies: dict[type, Reply] = {
        Ehlo: EXTENSIONS.ehlo_reply("mx.example"),
        MailFrom: OK_MAIL,
        RcptTo: OK_RCPT,
        Data: GO_AHEAD,
        EndOfMessage: QUEUED,
    }
    server = Connection(SERVER, Limits(message_size=None))
    server.send(Reply(220, None, "mx.example ESMTP"))
    done = 0
    start = time.process_time()
    for piece in pieces:
        server.receive_data(piece)
        while True:
            event = server.next_event()
            if event is NEED_DATA:
                break
            kind = type(event)
            if kind is MessageData:
                continue
            server.send(replies[kind])
            done += kind is EndOfMessage
    elapsed = time.process_time() - start
    assert done == transactions, done
    return elapsed


def client_engine(transactions: int) -> float:
    """Seconds for the client engine to send ``transactions`` and read the replies."""
    envelope_replies = b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Go ahead\r\n"
    final_reply = b"250 2.0.0 Queued as 1234\r\n"
    client = Connection(CLIENT)
    client.receive_data(b"220 mx.example ESMTP\r\n")
    client.next_event()
    client.send(Ehlo("client.example"))
    client.receive_data(b"250-mx.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n")
    client.next_event()
    mail, rcpt, data, content, end = (
        MailFrom("sender@example.org"),
        RcptTo("rcpt@example.net"),
        Data(),
        MessageData(BODY),
        EndOfMessage(),
    )
    sent = 0
    start = time.process_time()
    for _ in range(transactions):
        sent += len(client.send(mail) + client.send(rcpt) + client.send(data))
        client.receive_data(envelope_replies)
        for _ in range(3):
            reply = client.next_event()
            if not isinstance(reply, Reply) or reply.code >= 400:
                raise SystemExit(f"refused: {reply}")
        sent += len(client.send(content)) + len(client.send(end))
        client.receive_data(final_reply)
        client.next_event()
    elapsed = time.process_time() - start
    assert sent > transactions * len(BODY)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.transactions
    print(
        f"python {platform.python_version()} on {platform.machine()}, {n} transactions "
        f"of a {len(BODY)}-byte body, best and median of {args.repeat} runs"
    )
    for name, run in (("server engine", server_engine), ("client engine", client_engine)):
        times = [run(n) for _ in range(args.repeat)]
        best, median = min(times), statistics.median(times)
        print(
            f"{name}: {n / best:,.0f} transactions/s best ({best * 1e6 / n:.1f} µs each), "
            f"{n / median:,.0f} median"
        )


if __name__ == "__main__":
    main()
