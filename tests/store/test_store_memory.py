"""A 50 MB message is received, stored and streamed back without 50 MB of memory.

Measured in a child process, on Linux: its peak resident set right after opening
the store, then again after writing 50 MB into an Incoming and adding it, and
after reading it all back through ``open_raw``. The content is made chunk by
chunk (a SHA-256 checks it), so the test itself holds no 50 MB.

The peak is VmHWM from /proc/self/status, reset to the current resident set
before the first measure (``/proc/self/clear_refs``), so memory used below an
earlier, higher peak (the imports) still shows. Not ``getrusage().ru_maxrss``:
Linux carries the peak of the process image replaced by exec into it, so a child
of a large pytest process would report pytest's peak and hide any growth below it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.store.storage import run_child

MESSAGE_SIZE = 50 * 1024 * 1024
# What the peak resident set may grow by while a 50 MB message goes in and out.
GROWTH_LIMIT = 16 * 1024 * 1024

FIFTY_MEGABYTES = """
    import asyncio, hashlib, json, sys
    from smtpx.store import Envelope, Origin, Recipient, SQLiteStore

    SIZE = int(sys.argv[2])
    CHUNK = 64 * 1024

    def peak():  # VmHWM: the peak resident set of this process's memory, in KiB
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc/self/status")

    def reset_peak():
        # Linux: "5" resets the peak to the current resident set, so the growth
        # measured is this message's, not hidden under an earlier, higher peak.
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
        except OSError:
            return False
        return True

    async def add(store, chunks):
        incoming = store.incoming()
        for chunk in chunks:
            incoming.write(chunk)
        envelope = Envelope("a@example.org", (Recipient("b@example.net"),))
        return await store.add(incoming, envelope, Origin("192.0.2.1", 1, "big"))

    def pieces():
        head = (b"Subject: fifty megabytes\\r\\n"
                b"Content-Type: multipart/mixed; boundary=b\\r\\n\\r\\n"
                b"--b\\r\\nContent-Disposition: attachment; filename=big.bin\\r\\n\\r\\n")
        tail = b"\\r\\n--b--\\r\\n"
        line = bytes(33 + n % 90 for n in range(76)) + b"\\r\\n"
        block = line * (CHUNK // len(line))
        yield head
        remaining = SIZE - len(head) - len(tail)
        n = 0
        while remaining > 0:
            # Each block starts with a different letter: a misplaced block shows.
            piece = bytes([65 + n % 26]) + block[1 : min(remaining, len(block))]
            n += 1
            remaining -= len(piece)
            yield piece
        yield tail

    def content(digest):
        for piece in pieces():
            digest.update(piece)
            yield piece

    async def main():
        store = await SQLiteStore.open(sys.argv[1])
        reset = reset_peak()
        baseline = peak()
        sent = hashlib.sha256()
        message_id = await add(store, content(sent))
        after_add = peak()
        stored = await store.get(message_id)
        received = hashlib.sha256()
        with await store.open_raw(message_id) as stream:
            while block := stream.read(1024 * 1024):
                received.update(block)
        after_read = peak()
        await store.close()
        print(json.dumps({
            "baseline": baseline, "after_add": after_add, "after_read": after_read,
            "size": stored.size, "attachments": stored.summary.attachments,
            "same": sent.digest() == received.digest(), "reset": reset,
        }))

    asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="measured with Linux's /proc/self")
def test_a_50_mb_message_needs_far_less_than_50_mb_of_memory(tmp_path: Path) -> None:
    result = json.loads(run_child(FIFTY_MEGABYTES, str(tmp_path), str(MESSAGE_SIZE)))
    add_growth = result["after_add"] - result["baseline"]
    read_growth = result["after_read"] - result["baseline"]
    print(
        f"\n50 MB message: peak RSS +{add_growth / 2**20:.1f} MiB to receive and store it, "
        f"+{read_growth / 2**20:.1f} MiB after streaming it back"
        + ("" if result["reset"] else " (peak not reset: growth may be hidden)")
    )
    assert result["size"] == MESSAGE_SIZE
    assert result["same"], "the bytes read back differ from the bytes written"
    assert result["attachments"] == ["big.bin"]
    assert add_growth < GROWTH_LIMIT
    assert read_growth < GROWTH_LIMIT
