"""state.json: the mission status and its session history."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any, overload

from ._clock import now_iso, seconds_between
from ._exceptions import CoordError
from ._files import collector_paused, display_path, write_json_atomic
from ._records import present_fields, schema, typed_fields

STATE_FILE = "state.json"
NEXT_TASK_FILE = "next-task.json"
LOGS_DIR = "logs"
STATE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Session:
    """One agent session, as state.json records it."""

    session_id: str
    runtime: str
    pid: int
    pid_started_at: int | None = None
    host: str | None = None
    started_at: str
    ended_at: str | None = None
    ended_reason: str | None = None
    exit_code: int | None = None
    duration_seconds: int | None = None
    milestone_id: str | None = None
    task_id: str | None = None
    log_path: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields written by a newer version: kept as they are."""

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def ended(self, reason: str, exit_code: int | None = None) -> Session:
        """This session ended now, for ``reason``, its duration counted from its start."""
        ended_at = now_iso()
        return replace(
            self,
            ended_at=ended_at,
            ended_reason=reason,
            exit_code=exit_code,
            duration_seconds=seconds_between(self.started_at, ended_at),
        )

    def to_dict(self) -> dict[str, Any]:
        data = present_fields(self)
        del data["extra"]
        return {**data, **self.extra}


_SESSION_FIELDS, _SESSION_REQUIRED = schema(Session)


@dataclass(frozen=True, kw_only=True)
class State:
    """The mission state. Session records stay as read (a mission holds thousands of them)
    and become `Session` values only when a command looks at one."""

    mission_id: str
    status: str = "pending"
    records: Sequence[Mapping[str, Any]] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: str = field(default=STATE_FILE, compare=False)
    """Where the state was read from, for error messages."""

    @property
    def sessions(self) -> list[Session]:
        return self.last(len(self.records))

    def last(self, count: int) -> list[Session]:
        """The last ``count`` sessions, oldest first."""
        if count <= 0:
            return []
        newest = self.records[-count:]
        return [self._session(offset) for offset in range(-len(newest), 0)]

    def session(self, session_id: str) -> Session | None:
        for offset, record in enumerate(reversed(self.records), 1):
            if record["session_id"] == session_id:
                return self._session(-offset)
        return None

    def _session(self, offset: int) -> Session:
        """The session ``offset`` records from the end (-1: the newest)."""
        fields = typed_fields(self.records[offset], _SESSION_FIELDS, _SESSION_REQUIRED)
        if isinstance(fields, str):
            index = len(self.records) + offset  # only on error: may read the whole file
            msg = f"{self.source}: sessions[{index}]: state is corrupt: {fields}; fix it by hand"
            msg += " (coord never overwrites it)"
            raise CoordError(msg)
        known, extra = fields
        return Session(**known, extra=MappingProxyType(extra))

    def next_session_id(self) -> str:
        numbers = [len(self.records)]
        for record in self.records:
            suffix = record["session_id"].removeprefix("sess-")
            if suffix.isdigit():
                numbers.append(int(suffix))
        return f"sess-{max(numbers) + 1:03d}"

    def with_session(self, session: Session) -> State:
        """This state with ``session`` replacing the record of the same id, or appended."""
        records = list(self.records)
        for index in range(len(records) - 1, -1, -1):
            if records[index]["session_id"] == session.session_id:
                records[index] = session.to_dict()
                break
        else:
            records.append(session.to_dict())
        return replace(self, records=tuple(records))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "mission_id": self.mission_id,
            "status": self.status,
            **self.extra,
            "sessions": list(self.records),
        }


def state_path(orchestrator: Path) -> Path:
    return orchestrator / STATE_FILE


def load_state(orchestrator: Path, mission_id: str, *, writing: bool = False) -> State:
    """The mission state; a fresh one if there is none yet.

    Commands that will write it (``writing``) decode and check the whole file at once: a
    corrupt file is an error, is never overwritten, and a copy is kept beside it so that a
    later hand edit cannot lose it. Read-only commands decode just the newest sessions when
    the file has the layout coord writes; the older ones only if they ask for them.
    """
    path = state_path(orchestrator)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return State(mission_id=mission_id)
    except OSError as exc:
        msg = f"{display_path(path)}: cannot read state: {exc.strerror}"
        raise CoordError(msg) from None
    if not writing:
        state = _newest_only(raw, mission_id, display_path(path), lambda: _decode(raw, path, mission_id).records)
        if state is not None:
            return state
    return _decode(raw, path, mission_id, keep_copy=writing)


def _decode(raw: bytes, path: Path, mission_id: str, *, keep_copy: bool = False) -> State:
    """The state in ``raw``, decoded whole; a CoordError if it is corrupt."""
    problem = None
    try:
        with collector_paused():
            data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{display_path(path)}:{line}" if line else display_path(path)
        problem = f"{where}: state is not valid JSON ({getattr(exc, 'msg', exc)})"
        data = None
    except RecursionError:
        problem = f"{display_path(path)}: state is not valid JSON (nested too deeply)"
        data = None
    if problem is None:
        state = _state_from(data, mission_id, display_path(path))
        if isinstance(state, State):
            return state
        problem = f"{display_path(path)}: state is corrupt: {state}"
    if keep_copy:
        stamp = now_iso().replace(":", "").replace(".", "-")
        copy = path.with_name(f"{STATE_FILE}.corrupt-{stamp}")
        try:
            shutil.copy2(path, copy)
            problem += f"; a copy is kept in {display_path(copy)}"
        except OSError as exc:
            problem += f"; no copy could be kept ({exc.strerror})"
    raise CoordError(f"{problem}; fix it by hand or move it away (coord never overwrites it)")


# What read-only commands decode up front: status shows five sessions, a prompt one.
NEWEST_DECODED = 8
# The layout `save_state` writes (indent 2, sessions last): each session record starts a
# line at indent 4, and no line inside the records starts at indent 2. JSON strings hold
# no raw newline, so a line's indent is structure, never text.
_SESSIONS_OPEN = b'\n  "sessions": ['
_SESSIONS_CLOSE = b"\n  ]\n}"
_RECORD_START = b"\n    {"
_RECORD_GAP = ",\n    "
_DECODER = json.JSONDecoder()


def _newest_only(raw: bytes, mission_id: str, source: str, load_all: Callable[[], Sequence[Any]]) -> State | None:
    """The state with its newest sessions decoded from the end of ``raw``, the rest on demand;
    None when ``raw`` lacks coord's layout or its newest records are not sound (decode it whole)."""
    try:
        found = _newest_records(raw, NEWEST_DECODED)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if found is None:
        return None
    head, records, complete = found
    state = _state_from({**head, "sessions": records}, mission_id, source)
    if not isinstance(state, State):
        return None
    return state if complete else replace(state, records=_NewestFirst(records, load_all))


def _newest_records(raw: bytes, count: int) -> tuple[dict[str, Any], list[Any], bool] | None:
    """The top-level fields, the newest ``count`` or more session records, and whether those
    are all of them; None unless ``raw`` has the layout `save_state` writes. Only the head
    and the end of ``raw`` are decoded."""
    opening = raw.find(_SESSIONS_OPEN)
    if opening < 0:
        return None
    bracket = opening + len(_SESSIONS_OPEN) - 1
    # Everything before the sessions list, closed: proves `sessions` is a top-level key.
    head = _DECODER.decode(raw[:bracket].decode("utf-8") + "[]}")
    if not isinstance(head, dict) or head.get("sessions") != []:
        return None
    end = len(raw)
    while end and raw[end - 1] in b" \t\r\n":
        end -= 1
    if raw.startswith(b"]", bracket + 1):  # no sessions yet
        return (head, [], True) if raw[bracket + 2 : end].strip() == b"}" else None
    close = end - len(_SESSIONS_CLOSE)
    if not raw.startswith(_RECORD_START, bracket + 1) or not raw.startswith(_SESSIONS_CLOSE, close):
        return None
    # The list is closed once, at the end: no later top-level key holds a list of its own.
    bracket_at = raw.find(b"]", bracket)
    while bracket_at < close + 3:
        if raw.startswith(b"\n  ", bracket_at - 3):
            return None
        bracket_at = raw.find(b"]", bracket_at + 1)
    first = close
    for _ in range(count):
        found = raw.rfind(_RECORD_START, bracket, first)
        if found < 0:
            break
        first = found
    # The records from `first` on: objects one after another, as `save_state` separates them.
    tail = raw[first + len(_RECORD_START) - 1 : close].decode("utf-8")
    records = []
    index = 0
    while True:
        record, index = _DECODER.raw_decode(tail, index)
        records.append(record)
        if index == len(tail):
            break
        if not tail.startswith(_RECORD_GAP, index):
            return None
        index += len(_RECORD_GAP)
    return head, records, first == bracket + 1


class _NewestFirst(Sequence[Mapping[str, Any]]):
    """Session records whose newest few are decoded; the whole list is decoded (and checked)
    the first time a command reaches past them: its length, an older record, iteration."""

    def __init__(self, newest: list[Mapping[str, Any]], load_all: Callable[[], Sequence[Any]]) -> None:
        self._newest = newest
        self._load_all = load_all

    @functools.cached_property
    def _all(self) -> Sequence[Mapping[str, Any]]:
        return self._load_all()

    def __len__(self) -> int:
        return len(self._all)

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        known = -len(self._newest)
        if isinstance(index, int) and known <= index < 0:
            return self._newest[index]
        if isinstance(index, slice) and index.stop is index.step is None and known <= (index.start or 0) < 0:
            return self._newest[index]
        return self._all[index]

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self._all)

    def __reversed__(self) -> Iterator[Mapping[str, Any]]:
        yield from reversed(self._newest)
        yield from islice(reversed(self._all), len(self._newest), None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def _state_from(data: Any, mission_id: str, source: str) -> State | str:
    if not isinstance(data, dict):
        return "expected a JSON object"
    records = data.get("sessions", [])
    if not isinstance(records, list):
        return "`sessions` must be a list"
    # Every record needs its identity; the other fields are checked when a record is used.
    if not _identities_valid(records):
        for index, item in enumerate(records):
            if not isinstance(item, dict):
                return f"sessions[{index}] must be an object"
            fields = typed_fields(item, _SESSION_FIELDS, _SESSION_REQUIRED)
            if isinstance(fields, str):
                return f"sessions[{index}]: {fields}"
    status = data.get("status", "pending")
    if not isinstance(status, str):
        return "`status` must be a string"
    stored_id = data.get("mission_id", mission_id)
    extra = {k: v for k, v in data.items() if k not in ("version", "mission_id", "status", "sessions")}
    return State(
        mission_id=stored_id if isinstance(stored_id, str) else mission_id,
        status=status,
        records=tuple(records),
        extra=MappingProxyType(extra),
        source=source,
    )


def _identities_valid(records: list[Any]) -> bool:
    """Whether every record is an object with the required fields, of the right types.

    Checked a field at a time (itemgetter, map, set: all in C): a mission has thousands.
    """
    try:
        columns = list(zip(*map(itemgetter(*_SESSION_REQUIRED), records), strict=True))
    except (TypeError, KeyError):
        return False
    expected = [_SESSION_FIELDS[key] for key in _SESSION_REQUIRED]
    # `type(...) is`, not isinstance: True is no pid.
    return all(set(map(type, column)) == {kind} for column, kind in zip(columns, expected, strict=False))


def save_state(orchestrator: Path, state: State) -> None:
    write_json_atomic(state_path(orchestrator), state.to_dict())
