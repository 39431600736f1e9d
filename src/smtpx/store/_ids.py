"""Message ids: short, unique, and sorted the way messages arrived.

Theory of operation: an id is 20 lowercase hex digits, 12 for the milliseconds
since the Unix epoch and 8 that start random, like a ULID in hex. Sorting ids as
strings sorts messages by arrival, so an id is a paging cursor, and the store's
row order (``seq``) is id order (``_schema.py``).

One writer makes every id of a store (``MessageIds.next``) and keeps them
strictly increasing: within one millisecond, or when the clock steps back, the
counter part goes up by one from the previous id instead of being drawn again.
So an id's time is never earlier than the time it was made from (the message's
received_at), at most later (after the clock stepped back): ``after:`` searches
rely on it (``_search.py``). The random start leaves the top bit clear, so a
millisecond has room for two billion ids before the counter carries into the
time part. At open, the store
seeds the generator with its newest id, so a clock set back across a restart
still cannot produce an id that sorts before existing ones.
"""

from __future__ import annotations

import re
import secrets

__all__ = ["ID_PATTERN", "MessageIds", "is_message_id"]

ID_PATTERN = re.compile(r"[0-9a-f]{20}")
_COUNTER_MAX = 0xFFFF_FFFF


def is_message_id(text: str) -> bool:
    """Whether ``text`` is written as a message id (20 lowercase hex digits)."""
    return ID_PATTERN.fullmatch(text) is not None


class MessageIds:
    """Strictly increasing, time-ordered message ids."""

    __slots__ = ("_counter", "_ms")

    def __init__(self, newest: str | None = None) -> None:
        self._ms = 0
        self._counter = 0
        if newest is not None and ID_PATTERN.fullmatch(newest):
            self._ms = int(newest[:12], 16)
            self._counter = int(newest[12:], 16)

    def next(self, now_ms: int) -> str:
        """The id of a message received at ``now_ms`` (ms since the epoch)."""
        if now_ms > self._ms:
            self._ms = now_ms
            self._counter = secrets.randbits(31)
        elif self._counter < _COUNTER_MAX:
            self._counter += 1
        else:
            self._ms += 1
            self._counter = secrets.randbits(31)
        return f"{self._ms:012x}{self._counter:08x}"
