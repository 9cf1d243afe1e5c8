"""An agent's output cut into lines, each bounded: a line without end costs no more than its limit."""

from __future__ import annotations

from collections.abc import Iterator

LINE_LIMIT = 1 << 20
"""The bytes of one line a reader sees at most (1 MiB); the log keeps every byte."""


class Lines:
    """Bytes as they come (``feed``), cut at each newline; the first ``limit`` bytes of a line
    are kept and the rest only counted, so that time and memory stay linear in the output."""

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        self.limit = limit
        self._kept = bytearray()
        self._cut = 0
        """The bytes of the unfinished line past ``limit``."""

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """The lines ``chunk`` ends (without their newline), in order."""
        start = 0
        view = memoryview(chunk)
        while (end := chunk.find(b"\n", start)) >= 0:
            self._keep(view[start:end])
            yield self._take()
            start = end + 1
        self._keep(view[start:])

    def end(self) -> bytes | None:
        """The last line, unfinished (no newline after it), if there is one."""
        return self._take() if self._kept or self._cut else None

    def _keep(self, part: memoryview) -> None:
        room = self.limit - len(self._kept)
        if room > 0:
            self._kept += part[:room]
        self._cut += max(0, len(part) - max(room, 0))

    def _take(self) -> bytes:
        if self._cut:
            self._kept += f" … [{self._cut:,} bytes more]".encode()
        line = bytes(self._kept)
        self._kept.clear()
        self._cut = 0
        return line
