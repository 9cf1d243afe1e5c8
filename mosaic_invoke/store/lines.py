"""coord's session record lines: found from the end, replaced or appended, their checksum kept."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from mosaic_invoke.store.files import collector_paused

SEPARATOR = b",\n"
_ID_KEY = b'{"session_id":'


# Compact, so the C encoder does the work; one encoder for every call (json.dumps makes one each).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ENCODE_ASCII = json.JSONEncoder(separators=(",", ":")).encode


def dumps(value: Any) -> bytes:
    # JSON strings hold no raw newline. A lone surrogate (read from a `"\ud800"` escape) has
    # no UTF-8: such a value keeps its escapes.
    text = _ENCODE(value)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _ENCODE_ASCII(value).encode()


def line_of(record: Mapping[str, Any]) -> bytes:
    # The id first: a record's line is found by its start.
    if next(iter(record), None) != "session_id":
        record = {"session_id": record["session_id"], **record}
    return dumps(record)


class RecordLines:
    """Session records, oldest first: coord's record lines, or decoded objects.

    The lines are a window (``start`` to ``end``) of a buffer: of the file as read, so that a
    reader copies nothing. The checksum of the lines is carried along as they change:
    appending a line, or replacing the last one (a session's start and end), costs no pass
    over the others.
    """

    __slots__ = ("_all", "_buf", "_crc", "_decoded", "_end", "_joined", "_last", "_prefix_crc", "_start")

    def __init__(
        self,
        body: bytes = b"",
        decoded: list[dict[str, Any]] | None = None,
        *,
        start: int = 0,
        end: int | None = None,
        crc: int | None = None,
        last: int | None = None,
        prefix_crc: int | None = None,
    ) -> None:
        self._buf = body
        self._start = start
        self._end = len(body) if end is None else end
        self._decoded = decoded
        self._crc = crc
        self._last = last
        """Where the last line starts in the body (None: not known yet)."""
        self._prefix_crc = prefix_crc
        """The checksum of the body before the last line."""
        self._all: list[dict[str, Any]] | None = None
        self._joined: bytes | None = None
        """The decoded records as lines, once made (for the checksum and for the file)."""

    def crc(self) -> int:
        if self._crc is None:
            self._crc = zlib.crc32(self.body())
        return self._crc

    def newest(self, count: int) -> list[dict[str, Any]]:
        if self._decoded is not None:
            return self._decoded[-count:] if count > 0 else []
        lines: list[bytes] = []
        end = self._end
        while end > self._start and len(lines) < count:
            found = self._buf.rfind(SEPARATOR, self._start, end)
            lines.append(self._buf[found + len(SEPARATOR) if found >= 0 else self._start : end])
            end = found
        return [json.loads(line) for line in reversed(lines)]

    def all(self) -> list[dict[str, Any]]:
        if self._decoded is not None:
            return self._decoded
        if self._end <= self._start:
            return []
        if self._all is None:  # decoded once: the report asks several times
            with collector_paused():
                self._all = json.loads(b"[" + self.body() + b"]")
        return self._all

    def find(self, session_id: str) -> dict[str, Any] | None:
        if self._decoded is not None:
            return next((r for r in reversed(self._decoded) if r.get("session_id") == session_id), None)
        span = self._span(session_id)
        return json.loads(self._buf[span[0] : span[1]]) if span else None

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
        body = self.body()
        span = self._span(record["session_id"])
        if span is None:
            if not body:
                return RecordLines(line, crc=zlib.crc32(line), last=0, prefix_crc=0)
            prefix_crc = zlib.crc32(SEPARATOR, self.crc())
            return RecordLines(
                body + SEPARATOR + line,
                crc=zlib.crc32(line, prefix_crc),
                last=len(body) + len(SEPARATOR),
                prefix_crc=prefix_crc,
            )
        start, end = span[0] - self._start, span[1] - self._start
        replaced = body[:start] + line + body[end:]
        if end != len(body):
            return RecordLines(replaced)
        known = self._prefix_crc if self._last == start else None
        prefix_crc = zlib.crc32(body[:start]) if known is None else known
        return RecordLines(replaced, crc=zlib.crc32(line, prefix_crc), last=start, prefix_crc=prefix_crc)

    def replayed(self, changes: Iterable[tuple[dict[str, Any], bool]]) -> RecordLines:
        """These records with ``changes`` (a record, and whether it was new) put in order: the
        lines are joined once, and the checksum of the ones kept is carried, not computed again."""
        if self._decoded is not None:
            result = self
            for record, _ in changes:
                result = result.put(record)
            return result
        appended: dict[str, dict[str, Any]] = {}
        in_place: dict[str, dict[str, Any]] = {}
        for record, new in changes:
            key = record["session_id"]
            if key in appended or (new and key not in in_place):
                appended[key] = record
            else:
                in_place[key] = record
        pieces: list[bytes | memoryview] = []
        at = self._start
        found = []
        for key, record in in_place.items():
            span = self._span(key)
            if span is None:  # not in the file after all: kept, at the end
                appended[key] = record
            else:
                found.append((span, line_of(record)))
        for (start, end), line in sorted(found):
            pieces += [memoryview(self._buf)[at:start], line]
            at = end
        pieces.append(memoryview(self._buf)[at : self._end])
        added = [line_of(record) for record in appended.values()]
        if not added:
            return RecordLines(b"".join(pieces)) if found else self
        tail = SEPARATOR.join(added)
        kept = sum(map(len, pieces))
        # The checksum of the lines kept is known unless one of them changed.
        crc = self.crc() if not found else 0
        for piece in pieces if found else ():
            crc = zlib.crc32(piece, crc)
        if kept:
            crc = zlib.crc32(SEPARATOR, crc)
        body = b"".join([*pieces, SEPARATOR, tail] if kept else [tail])
        before_last = len(tail) - len(added[-1])
        prefix_crc = zlib.crc32(memoryview(tail)[:before_last], crc)
        return RecordLines(
            body, crc=zlib.crc32(added[-1], prefix_crc), last=len(body) - len(added[-1]), prefix_crc=prefix_crc
        )

    def body(self) -> bytes:
        if self._decoded is not None:
            if self._joined is None:
                with collector_paused():
                    self._joined = SEPARATOR.join(map(line_of, self._decoded))
            return self._joined
        if self._start == 0 and self._end == len(self._buf):
            return self._buf
        return self._buf[self._start : self._end]

    def _span(self, session_id: str) -> tuple[int, int] | None:
        """Where the line of ``session_id`` is in the buffer, searched from the end."""
        prefix = _ID_KEY + dumps(session_id) + b","
        end = self._end
        while True:
            start = self._buf.rfind(prefix, self._start, end)
            if start < 0:
                return None
            if start == self._start or self._buf.startswith(SEPARATOR, start - len(SEPARATOR)):
                stop = self._buf.find(SEPARATOR, start, self._end)
                return start, stop if stop >= 0 else self._end
            end = start
