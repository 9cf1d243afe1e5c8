"""The mission state as a value: its status, session records, totals and past loops."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.layout import CLOSE, OPEN
from mosaic_invoke.store.lines import RecordLines, dumps
from mosaic_invoke.store.records import typed_fields
from mosaic_invoke.store.session import EMPTY_SUMMARY, Session, summarise, with_record
from mosaic_invoke.store.statecheck import SESSION_FIELDS, SESSION_REQUIRED

STATE_VERSION = 1


class Change:
    """A session record put into a state, after the change before it: what a state holds that
    the file it was read from does not, and what a save appends to the journal."""

    __slots__ = ("before", "new", "record")

    def __init__(self, record: dict[str, Any] | None, new: bool, before: Change | None) -> None:
        self.record = record
        self.new = new
        """The record has an id the state did not hold."""
        self.before: Change | None = before
        """None once saved: no save needs what came before (and a long loop keeps none of it)."""


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
    source: str = field(default="state.json", compare=False)
    """Where the state was read from, for error messages."""
    _records: RecordLines = field(default_factory=RecordLines, compare=False, repr=False)
    _change: Change = field(default_factory=lambda: Change(None, False, None), compare=False, repr=False)
    """The last change made to this value (a root for one read or made whole)."""

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
        return replace(
            self,
            _records=self._records.put(record, new=old is None),
            summary=with_record(self.summary, old, record),
            _change=Change(record, old is None, self._change),
        )

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
        return [dumps(head)[:-1] + OPEN + b"\n", body, b"\n" if body else b"", CLOSE]

    def to_bytes(self) -> bytes:
        return b"".join(self.chunks())
