"""state.json: the mission status, its session history and its past loops.

coord writes one JSON document in a layout that is cheap to write and to read from the
end: a first line with every top-level field but ``sessions`` (with ``sessions_crc32``, the
checksum of the record lines), then one compact session record per line, then ``]}``.
A file whose checksum and layout match is coord's own: its records are found by line,
decoded only when asked for, and rewritten without decoding the others. Any other file
(another tool's, or one edited by hand) is decoded and checked whole; the next write puts
it back in coord's layout.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import collector_paused, display_path, write_private
from mosaic_invoke.store.lines import RecordLines, dumps
from mosaic_invoke.store.records import decode_json, typed_fields
from mosaic_invoke.store.session import EMPTY_SUMMARY, Session, summarise, with_record
from mosaic_invoke.store.statecache import cached, forget, store
from mosaic_invoke.store.statecheck import SESSION_FIELDS, SESSION_REQUIRED, check_decoded, summary_sound

STATE_FILE = "state.json"
NEXT_TASK_FILE = "next-task.json"
LOOP_FILE = "loop.json"
LOGS_DIR = "logs"
STATE_VERSION = 1

_HEAD_KEYS = ("version", "mission_id", "status", "loops", "summary", "summary_crc32", "sessions_crc32", "sessions")
_OPEN = b',"sessions":['
_CLOSE = b"]}\n"


@dataclass(frozen=True, kw_only=True)
class State:
    """The mission state. Records become `Session` values only when a command looks at one."""

    mission_id: str
    status: str = "pending"
    loops: tuple[Mapping[str, Any], ...] = ()
    summary: Mapping[str, Any] = field(default_factory=lambda: dict(EMPTY_SUMMARY))
    """Totals over every session (count, next number, cost, tokens), kept as records change."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Top-level fields coord does not know: kept as they are."""
    source: str = field(default=STATE_FILE, compare=False)
    """Where the state was read from, for error messages."""
    _records: RecordLines = field(default_factory=RecordLines, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        mission_id: str,
        records: Sequence[Mapping[str, Any]] = (),
        *,
        status: str = "pending",
        loops: Sequence[Mapping[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> State:
        """A state holding ``records`` (session records as stored), its summary computed."""
        decoded = [dict(record) for record in records]
        return cls(
            mission_id=mission_id,
            status=status,
            loops=tuple(loops),
            summary=summarise(decoded),
            extra=extra or {},
            _records=RecordLines(decoded=decoded),
        )

    @property
    def count(self) -> int:
        return int(self.summary["sessions"])

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every session record as stored, oldest first (decodes them all)."""
        return self._records.all()

    @property
    def sessions(self) -> list[Session]:
        return [self._session(record, index) for index, record in enumerate(self.records)]

    def last(self, count: int) -> list[Session]:
        """The last ``count`` sessions, oldest first."""
        newest = self._records.newest(count)
        return [self._session(record, self.count - len(newest) + i) for i, record in enumerate(newest)]

    def session(self, session_id: str) -> Session | None:
        record = self._records.find(session_id)
        return None if record is None else self._session(record, None)

    def _session(self, record: Any, index: int | None) -> Session:
        fields = typed_fields(record, SESSION_FIELDS, SESSION_REQUIRED) if isinstance(record, dict) else None
        if not isinstance(fields, tuple):
            where = f"sessions[{index}]" if index is not None else "a session"
            problem = fields or "must be an object"
            msg = f"{self.source}: {where}: state is corrupt: {problem}; fix it by hand (coord never overwrites it)"
            raise CoordError(msg)
        known, extra = fields
        return Session(**known, extra=MappingProxyType(extra))

    def next_session_id(self) -> str:
        return f"sess-{int(self.summary['next_session']):03d}"

    def with_session(self, session: Session) -> State:
        """This state with ``session`` replacing the record of the same id, or appended."""
        record = session.to_dict()
        old = self._records.find(session.session_id)
        return replace(self, _records=self._records.put(record), summary=with_record(self.summary, old, record))

    def with_loop(self, loop: Mapping[str, Any]) -> State:
        """This state with the loop summary ``loop`` replacing the one of its id, or appended."""
        others = tuple(item for item in self.loops if item.get("loop_id") != loop.get("loop_id"))
        return replace(self, loops=(*others, dict(loop)))

    def chunks(self) -> list[bytes]:
        """The file, in pieces (the record lines are not copied once more to join them)."""
        body = self._records.body()
        head = {
            "version": STATE_VERSION,
            "mission_id": self.mission_id,
            "status": self.status,
            **self.extra,
            "loops": list(self.loops),
            "summary": dict(self.summary),
            "summary_crc32": zlib.crc32(dumps(dict(self.summary))),
            "sessions_crc32": self._records.crc(),
        }
        return [dumps(head)[:-1] + _OPEN + b"\n", body, b"\n" if body else b"", _CLOSE]

    def to_bytes(self) -> bytes:
        return b"".join(self.chunks())


def state_path(orchestrator: Path) -> Path:
    return orchestrator / STATE_FILE


def load_state(orchestrator: Path, mission_id: str, *, writing: bool = False) -> State:
    """The mission state; a fresh one if there is none yet.

    A corrupt file is an error and is never overwritten; a command that would write it
    (``writing``) also keeps a copy beside it, so that a later hand edit cannot lose it.
    """
    path = state_path(orchestrator)
    if path in _written:
        try:
            identity = _identity(path)
        except OSError:
            identity = None
        known, state = _written[path]
        if identity == known and state.mission_id == mission_id:
            return state
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return State(mission_id=mission_id)
    except OSError as exc:
        msg = f"{display_path(path)}: cannot read state: {exc.strerror}"
        raise CoordError(msg) from None
    source = display_path(path)
    own = _own_layout(raw, mission_id, source)
    if own is not None:
        return own
    # Another tool's file (or a hand edit): decoded whole once, then read from a copy in
    # coord's layout for as long as its bytes stay the same.
    copy = cached(orchestrator, raw, mission_id)
    kept = None if copy is None else _own_layout(copy, mission_id, source)
    if kept is not None:
        return kept
    decoded = _decode(raw, path, mission_id, keep_copy=writing)
    if not writing:  # a command that writes the state puts it in coord's layout anyway
        store(orchestrator, raw, mission_id, decoded.chunks)
    return decoded


def save_state(orchestrator: Path, state: State) -> None:
    path = state_path(orchestrator)
    write_private(path, state.chunks())
    forget(orchestrator)
    with contextlib.suppress(OSError):
        _written[path] = (_identity(path), state)


# What this process last wrote, by path: a loop, or a run recording its end, reads back its
# own state without decoding it, as long as no other process has replaced the file since.
_written: dict[Path, tuple[tuple[int, int, int, int], State]] = {}


def _identity(path: Path) -> tuple[int, int, int, int]:
    # Every write replaces the file: a new inode, a new change time.
    info = os.stat(path)
    return info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size


def _own_layout(raw: bytes, mission_id: str, source: str) -> State | None:
    """The state in ``raw`` if it is exactly what coord writes (checksum included), else None."""
    newline = raw.find(b"\n")
    if newline < 0 or not raw.endswith(_CLOSE) or not raw.startswith(_OPEN, newline - len(_OPEN)):
        return None
    start, end = newline + 1, len(raw) - len(_CLOSE)
    if end > start:  # the last record line ends with a newline
        if raw[end - 1] != ord("\n"):
            return None
        end -= 1
    elif end < start:
        return None
    try:
        head = json.loads(raw[: newline - len(_OPEN)] + b"}")
    except (ValueError, RecursionError):  # a number too long to convert too: read whole, it is named
        return None
    # The checksum over the record lines where they lie in the file: nothing is copied.
    if not isinstance(head, dict) or head.get("sessions_crc32") != zlib.crc32(memoryview(raw)[start:end]):
        return None
    summary, loops = head.get("summary"), head.get("loops", [])
    if not (summary_sound(summary) and isinstance(loops, list) and isinstance(head.get("status", ""), str)):
        return None  # a hand edit of the head line's types: read whole
    lines = RecordLines(raw, start=start, end=end, crc=head["sessions_crc32"])
    if head.get("summary_crc32") != zlib.crc32(dumps(summary)):
        # A summary edited by hand (a `next_session` that would reuse an id) is made anew from the records.
        with collector_paused():
            summary = summarise(lines.all())
    return _state(head, mission_id, source, lines, cast(dict[str, Any], summary))


def _decode(raw: bytes, path: Path, mission_id: str, *, keep_copy: bool) -> State:
    """The state in ``raw``, decoded and checked whole; a CoordError if it is corrupt."""
    problem = None
    try:
        with collector_paused():
            data = decode_json(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{display_path(path)}:{line}" if line else display_path(path)
        problem = f"{where}: state is not valid JSON ({getattr(exc, 'msg', exc)})"
    except RecursionError:
        problem = f"{display_path(path)}: state is not valid JSON (nested too deeply)"
    if problem is None:
        with collector_paused():
            checked = check_decoded(data)
        if not isinstance(checked, str):
            records = checked
            with collector_paused():
                summary = summarise(records)
            return _state(data, mission_id, display_path(path), RecordLines(decoded=records), summary)
        problem = f"{display_path(path)}: state is corrupt: {checked}"
    if keep_copy:  # once per corruption: the copy is named by its content
        copy = path.with_name(f"{STATE_FILE}.corrupt-{zlib.crc32(raw):08x}")
        try:
            if not (copy.is_file() and not copy.is_symlink() and copy.read_bytes() == raw):
                write_private(copy, raw)
            problem += f"; a copy is kept in {display_path(copy)}"
        except (OSError, CoordError) as exc:
            problem += f"; no copy could be kept ({getattr(exc, 'strerror', None) or exc})"
    raise CoordError(f"{problem}; fix it by hand or move it away (coord never overwrites it)")


def _state(
    head: dict[str, Any], mission_id: str, source: str, records: RecordLines, summary: Mapping[str, Any]
) -> State:
    stored_id = head.get("mission_id", mission_id)
    return State(
        mission_id=stored_id if isinstance(stored_id, str) else mission_id,
        status=head.get("status", "pending"),
        loops=tuple(head.get("loops", ())),
        summary=MappingProxyType(dict(summary)),
        extra=MappingProxyType({k: v for k, v in head.items() if k not in _HEAD_KEYS}),
        source=source,
        _records=records,
    )
