"""coord's session record lines: found from the end, replaced or appended, their checksum kept."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

from ._files import collector_paused

SEPARATOR = b",\n"
_ID_KEY = b'{"session_id":'


def dumps(value: Any) -> bytes:
    # Compact, so the C encoder does the work; JSON strings hold no raw newline.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def line_of(record: Mapping[str, Any]) -> bytes:
    # The id first: a record's line is found by its start.
    return dumps({"session_id": record["session_id"], **record})


class RecordLines:
    """Session records, oldest first: coord's record lines (``body``), or decoded objects.

    The checksum of the lines is carried along as they change: appending a line, or replacing
    the last one (a session's start and end), costs no pass over the others.
    """

    __slots__ = ("_body", "_crc", "_decoded", "_last", "_prefix_crc")

    def __init__(
        self,
        body: bytes = b"",
        decoded: list[dict[str, Any]] | None = None,
        *,
        crc: int | None = None,
        last: int | None = None,
        prefix_crc: int | None = None,
    ) -> None:
        self._body = body
        self._decoded = decoded
        self._crc = crc
        self._last = last
        """Where the last line starts in the body (None: not known yet)."""
        self._prefix_crc = prefix_crc
        """The checksum of the body before the last line."""

    def crc(self) -> int:
        if self._crc is None:
            self._crc = zlib.crc32(self.body())
        return self._crc

    def newest(self, count: int) -> list[dict[str, Any]]:
        if self._decoded is not None:
            return self._decoded[-count:] if count > 0 else []
        lines: list[bytes] = []
        end = len(self._body)
        while end > 0 and len(lines) < count:
            start = self._body.rfind(SEPARATOR, 0, end)
            lines.append(self._body[start + len(SEPARATOR) if start >= 0 else 0 : end])
            end = start
        return [json.loads(line) for line in reversed(lines)]

    def all(self) -> list[dict[str, Any]]:
        if self._decoded is not None:
            return self._decoded
        if not self._body:
            return []
        with collector_paused():
            records: list[dict[str, Any]] = json.loads(b"[" + self._body + b"]")
        return records

    def find(self, session_id: str) -> dict[str, Any] | None:
        if self._decoded is not None:
            return next((r for r in reversed(self._decoded) if r.get("session_id") == session_id), None)
        span = self._span(session_id)
        return json.loads(self._body[span[0] : span[1]]) if span else None

    def put(self, record: dict[str, Any]) -> RecordLines:
        """These records with ``record`` replacing the one of its id, or appended."""
        if self._decoded is not None:
            decoded = list(self._decoded)
            for index in range(len(decoded) - 1, -1, -1):
                if decoded[index].get("session_id") == record["session_id"]:
                    decoded[index] = record
                    break
            else:
                decoded.append(record)
            return RecordLines(decoded=decoded)
        line = line_of(record)
        span = self._span(record["session_id"])
        if span is None:
            if not self._body:
                return RecordLines(line, crc=zlib.crc32(line), last=0, prefix_crc=0)
            prefix_crc = zlib.crc32(SEPARATOR, self.crc())
            return RecordLines(
                self._body + SEPARATOR + line,
                crc=zlib.crc32(line, prefix_crc),
                last=len(self._body) + len(SEPARATOR),
                prefix_crc=prefix_crc,
            )
        start, end = span
        body = self._body[:start] + line + self._body[end:]
        if end != len(self._body):
            return RecordLines(body)
        known = self._prefix_crc if self._last == start else None
        prefix_crc = zlib.crc32(self._body[:start]) if known is None else known
        return RecordLines(body, crc=zlib.crc32(line, prefix_crc), last=start, prefix_crc=prefix_crc)

    def body(self) -> bytes:
        if self._decoded is None:
            return self._body
        return SEPARATOR.join(map(line_of, self._decoded))

    def _span(self, session_id: str) -> tuple[int, int] | None:
        """Where the line of ``session_id`` is in the body, searched from the end."""
        prefix = _ID_KEY + dumps(session_id) + b","
        end = len(self._body)
        while True:
            start = self._body.rfind(prefix, 0, end)
            if start < 0:
                return None
            if start == 0 or self._body.startswith(SEPARATOR, start - len(SEPARATOR)):
                stop = self._body.find(SEPARATOR, start)
                return start, stop if stop >= 0 else len(self._body)
            end = start
