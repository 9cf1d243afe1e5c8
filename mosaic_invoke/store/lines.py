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

    The lines are a window (``start`` to ``end``) of a buffer (the file as read: a reader copies
    nothing), then the lines put since that the window did not hold (``tail``): a session's
    start appends one and its end replaces it, without copying the others. The checksum of
    the window is carried along (it is in the file's head) and continued over the tail.
    """

    __slots__ = ("_all", "_buf", "_crc", "_crcs", "_decoded", "_end", "_joined", "_start", "_tail")

    def __init__(
        self,
        body: bytes = b"",
        decoded: list[dict[str, Any]] | None = None,
        *,
        start: int = 0,
        end: int | None = None,
        crc: int | None = None,
        tail: tuple[bytes, ...] = (),
        crcs: tuple[int, ...] = (),
    ) -> None:
        self._buf = body
        self._start = start
        self._end = len(body) if end is None else end
        self._decoded = decoded
        self._crc = crc
        """The checksum of the window (of every line, for decoded records); None: not known yet."""
        self._tail = tail
        self._crcs = crcs
        """The checksum up to each line of the tail, for as many as are known."""
        self._all: list[dict[str, Any]] | None = None
        self._joined: bytes | None = None
        """The lines joined, once made (for the checksum and for the file)."""

    def crc(self) -> int:
        if self._decoded is not None or not self._tail:
            if self._crc is None:
                self._crc = zlib.crc32(self.body())
            return self._crc
        crcs = list(self._crcs)
        crc = crcs[-1] if crcs else self._window_crc()
        for index in range(len(crcs), len(self._tail)):
            if index or self._end > self._start:
                crc = zlib.crc32(SEPARATOR, crc)
            crc = zlib.crc32(self._tail[index], crc)
            crcs.append(crc)
        self._crcs = tuple(crcs)
        return crc

    def newest(self, count: int) -> list[dict[str, Any]]:
        if self._decoded is not None:
            return self._decoded[-count:] if count > 0 else []
        lines = list(self._tail[-count:]) if count > 0 else []
        end = self._end
        while end > self._start and len(lines) < count:
            found = self._buf.rfind(SEPARATOR, self._start, end)
            lines.insert(0, self._buf[found + len(SEPARATOR) if found >= 0 else self._start : end])
            end = found
        return [json.loads(line) for line in lines]

    def all(self) -> list[dict[str, Any]]:
        if self._decoded is not None:
            return self._decoded
        if self._end <= self._start and not self._tail:
            return []
        if self._all is None:  # decoded once: the report asks several times
            with collector_paused():
                self._all = json.loads(b"[" + self.body() + b"]")
        return self._all

    def find(self, session_id: str) -> dict[str, Any] | None:
        if self._decoded is not None:
            return next((r for r in reversed(self._decoded) if r.get("session_id") == session_id), None)
        index = self._in_tail(session_id)
        if index is not None:
            return json.loads(self._tail[index])  # type: ignore[no-any-return]
        span = self._span(session_id)
        return json.loads(self._buf[span[0] : span[1]]) if span else None

    def put(self, record: dict[str, Any], *, new: bool = False) -> RecordLines:
        """These records with ``record`` replacing the one of its id, or appended (at once when
        the caller knows that none has its id: ``new``)."""
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
        at = None if new else self._in_tail(record["session_id"])
        if at is not None:
            tail = (*self._tail[:at], line, *self._tail[at + 1 :])
            return self._with(self._buf, self._start, self._end, self._crc, tail, self._crcs[:at])
        span = None if new else self._span(record["session_id"])
        if span is None:
            return self._with(self._buf, self._start, self._end, self._crc, (*self._tail, line), self._crcs)
        # A line of the window: the window is copied with it replaced (a session that started
        # before state.json was last written whole, and ends now).
        window = b"".join([self._buf[self._start : span[0]], line, self._buf[span[1] : self._end]])
        return self._with(window, 0, len(window), None, self._tail, ())

    def replayed(self, changes: Iterable[tuple[dict[str, Any], bool]]) -> RecordLines:
        """These records with ``changes`` (a record, and whether it was new) put in order."""
        lines = self
        for record, new in changes:
            lines = lines.put(record, new=new and lines._in_tail(record["session_id"]) is None)
        return lines

    def body(self) -> bytes:
        if self._decoded is not None:
            if self._joined is None:
                with collector_paused():
                    self._joined = SEPARATOR.join(map(line_of, self._decoded))
            return self._joined
        if self._tail:
            if self._joined is None:
                window = memoryview(self._buf)[self._start : self._end]
                self._joined = b"".join([window, SEPARATOR, *_joined(self._tail)] if window else _joined(self._tail))
            return self._joined
        if self._start == 0 and self._end == len(self._buf):
            return self._buf
        return self._buf[self._start : self._end]

    def _with(
        self, buf: bytes, start: int, end: int, crc: int | None, tail: tuple[bytes, ...], crcs: tuple[int, ...]
    ) -> RecordLines:
        return RecordLines(buf, start=start, end=end, crc=crc, tail=tail, crcs=crcs)

    def _window_crc(self) -> int:
        if self._crc is None:
            self._crc = zlib.crc32(memoryview(self._buf)[self._start : self._end])
        return self._crc

    def _in_tail(self, session_id: str) -> int | None:
        """Where the line of ``session_id`` is in the tail, searched from the end."""
        prefix = _ID_KEY + dumps(session_id) + b","
        for index in range(len(self._tail) - 1, -1, -1):
            if self._tail[index].startswith(prefix):
                return index
        return None

    def _span(self, session_id: str) -> tuple[int, int] | None:
        """Where the line of ``session_id`` is in the window, searched from the end."""
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


def _joined(lines: tuple[bytes, ...]) -> list[bytes]:
    """``lines`` with the separator between them, as pieces."""
    pieces = [SEPARATOR] * (2 * len(lines) - 1)
    pieces[::2] = lines
    return pieces
