"""The bytes received and not yet consumed.

Theory of operation: the engines ask for one CRLF-terminated line at a time.
The buffer remembers how far it has already searched, so a line that trickles
in one byte at a time is scanned once, not once per byte (as h11 does).
"""

from __future__ import annotations


class ReceiveBuffer:
    __slots__ = ("_data", "_searched")

    def __init__(self) -> None:
        self._data = bytearray()
        self._searched = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def data(self) -> bytearray:
        """The buffered bytes; readers may look, and consume with :meth:`take`."""
        return self._data

    def feed(self, data: bytes) -> None:
        self._data += data

    def line(self) -> bytes | None:
        """The next line without its CRLF, or None if no CRLF has arrived yet."""
        end = self._data.find(b"\r\n", self._searched)
        if end < 0:
            # The last byte may be the CR of a CRLF still on its way.
            self._searched = max(0, len(self._data) - 1)
            return None
        line = bytes(self._data[:end])
        del self._data[: end + 2]
        self._searched = 0
        return line

    def take(self, size: int) -> bytes:
        """Consume and return the first ``size`` bytes (fewer if fewer are here)."""
        chunk = bytes(self._data[:size])
        del self._data[:size]
        self._searched = 0
        return chunk

    def clear(self) -> bytes:
        """Consume everything; return what was there."""
        return self.take(len(self._data))
