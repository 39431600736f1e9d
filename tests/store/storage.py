"""What the store tests share: running a scenario on an open store, sample values,
a clock to set arrival times, and running a script in a child process (for
crashes and memory measurements).

pytest-asyncio is not used: each test runs its scenario with ``asyncio.run``
through :func:`on_store`, which opens the store in ``tmp_path`` and always closes
it, so a failing assertion does not leave a writer thread behind.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from smtpx.store import Envelope, Origin, Recipient, SQLiteStore, Store

T = TypeVar("T")

ENVELOPE = Envelope(
    "alice@example.org",
    (
        Recipient("bob@example.net", (("NOTIFY", "SUCCESS,FAILURE"), ("ORCPT", "rfc822;bob@x"))),
        Recipient("carol@example.net"),
    ),
    (("SIZE", "123"), ("BODY", "8BITMIME")),
)
ORIGIN = Origin("192.0.2.1", 40123, "client.example.org", "TLSv1.3 TLS_AES_256_GCM_SHA384", "al")

SIMPLE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Hello\r\n"
    b"\r\n"
    b"Hi Bob.\r\n"
)


class Clock:
    """Stands in for ``datetime`` in smtpx.store._sqlite (monkeypatch it in): ``now()``
    gives the times queued in ``times``, so a test says when each message arrives."""

    times: ClassVar[list[datetime]] = []

    @classmethod
    def now(cls, tz: object = None) -> datetime:
        return cls.times.pop(0)

    @staticmethod
    def fromtimestamp(seconds: float, tz: object = None) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)


def on_store(data_dir: Path, scenario: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    """Open the store in ``data_dir``, run ``scenario`` on it, close it."""

    async def main() -> T:
        store = await SQLiteStore.open(data_dir)
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


async def add(
    store: Store,
    raw: bytes | Iterable[bytes],
    envelope: Envelope = ENVELOPE,
    origin: Origin = ORIGIN,
    *,
    relay_to: Sequence[str] = (),
) -> str:
    """Write ``raw`` (bytes, or chunks) into an Incoming and add it; the new id."""
    incoming = store.incoming()
    for chunk in [raw] if isinstance(raw, bytes) else raw:
        incoming.write(chunk)
    return await store.add(incoming, envelope, origin, relay_to=relay_to)


def headed(subject: str, *, to: str = "bob@example.net", sender: str = "a@example.org") -> bytes:
    """A small message with the given Subject, To and From."""
    return f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


def run_child(script: str, *args: str, timeout: float = 120) -> str:
    """Run ``script`` in a fresh interpreter (``sys.argv[1:]`` = args); its stdout.

    The child imports smtpx as the tests do; a failure shows its stderr.
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert result.returncode == 0, f"child failed ({result.returncode}):\n{result.stderr}"
    return result.stdout
