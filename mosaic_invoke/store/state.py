"""state.json and its journal: the mission status, its session history and its past loops.

state.json is written in coord's layout (``layout.py``); any other valid file is read too, and
the next write puts it back in coord's layout. A session's start and end go to the journal
beside it (``journal.py``) once state.json is large; every reader replays the journal over it.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import display_path, write_private
from mosaic_invoke.store.journal import (
    JOURNAL_BOUND,
    JOURNAL_FILE,
    Identity,
    Journal,
    append,
    base_of,
    frame,
    identity,
    read_journal,
    remove,
    start,
)
from mosaic_invoke.store.layout import HEAD_KEYS, Parts, decode, own_layout
from mosaic_invoke.store.missionstate import Change
from mosaic_invoke.store.missionstate import State as State  # imported from here with the files' functions
from mosaic_invoke.store.statecache import cached, forget, store

STATE_FILE = "state.json"
NEXT_TASK_FILE = "next-task.json"
LOOP_FILE = "loop.json"
LOGS_DIR = "logs"
_ATTEMPTS = 20
"""Reads of a state.json replaced while it was read, before a reader gives up."""


def state_path(orchestrator: Path) -> Path:
    return orchestrator / STATE_FILE


def journal_path(orchestrator: Path) -> Path:
    return orchestrator / JOURNAL_FILE


def load_state(orchestrator: Path, mission_id: str, *, writing: bool = False) -> State:
    """The mission state: state.json with its journal replayed; a fresh one if there is none yet.

    A corrupt file is an error and is never overwritten; a command that would write it
    (``writing``) also keeps a copy beside it, so that a later hand edit cannot lose it.
    """
    known = _on_disk.get(orchestrator)
    if known is not None and known.state.mission_id == mission_id and known.current(orchestrator):
        return known.state
    for _ in range(_ATTEMPTS):
        read = _read(orchestrator, mission_id, writing)
        if read is not None:
            _on_disk[orchestrator] = read
            return read.state
    msg = f"{display_path(state_path(orchestrator))}: the state was replaced each time it was read; try again"
    raise CoordError(msg)


def save_state(orchestrator: Path, state: State) -> None:
    """Write ``state``: its new session records appended to the journal when the state on disk
    is the one it was read from and state.json is large, else state.json whole (the journal
    folded into it). Call under the state lock."""
    known = _on_disk.get(orchestrator)
    found = known.entry(state) if known is not None and known.current(orchestrator) else None
    if found is not None and not found[0]:
        return  # nothing changed
    if known is not None and found is not None and known.journal_size + len(found[0]) <= JOURNAL_BOUND:
        line, put = found
        path = journal_path(orchestrator)
        written = append(path, line) if known.journal_size else start(path, known.base, line)  # type: ignore[arg-type]
        _on_disk[orchestrator] = replace(
            known, state=state, journal=written, journal_size=written[3], journaled=known.journaled | put
        )
        _saved(state)
        return
    chunks = state.chunks()
    write_private(state_path(orchestrator), chunks)
    forget(orchestrator)
    remove(journal_path(orchestrator))  # after state.json: until then it extends the file it names
    size = sum(map(len, chunks))
    with contextlib.suppress(OSError):
        _on_disk[orchestrator] = _OnDisk(
            state=state,
            state_id=identity(os.stat(state_path(orchestrator))),
            base=(zlib.crc32(chunks[0][:-1]), size) if size >= JOURNAL_BOUND else None,
        )
    _saved(state)


@dataclass(frozen=True, kw_only=True)
class _OnDisk:
    """The state as this process last read or wrote it, and the files it was in: a process reads
    back what it wrote without reading it again, and a save knows what the files lack."""

    state: State
    state_id: Identity | None
    base: tuple[int, int] | None = None
    """What a journal names state.json by; None: state.json is not journaled (too small, not
    coord's layout, or a journal's last line was cut short: the next save folds it)."""
    journal: Identity | None = None
    """The file at the journal's path, whether or not it extends this state.json."""
    journal_size: int = 0
    """The journal's size when it extends this state.json, else 0."""
    journaled: frozenset[str] = frozenset()
    """The sessions whose records that journal holds; state.json holds every other one."""

    def current(self, orchestrator: Path) -> bool:
        """Whether the files are still as this process left them (no other process wrote)."""
        return (
            _identity(state_path(orchestrator)) == self.state_id
            and _identity(journal_path(orchestrator), follow=False) == self.journal
        )

    def entry(self, state: State) -> tuple[bytes, frozenset[str]] | None:
        """The journal line that takes the state on disk to ``state`` (b"" if nothing changed),
        and the sessions it puts; None if ``state`` was not made from it by putting sessions (or
        its status), if it changes a line state.json holds, or when state.json is not journaled."""
        disk = self.state
        head, disk_head = (state.mission_id, state.extra, state.loops), (disk.mission_id, disk.extra, disk.loops)
        if self.base is None or head != disk_head:
            return None
        records: list[dict[str, Any]] = []
        new: list[str] = []
        change: Change | None = state._change
        while change is not disk._change:
            if change is None or change.record is None:
                return None
            records.append(change.record)
            if change.new:
                new.append(change.record["session_id"])
            change = change.before
        # A change of a line state.json holds (a session that started before the last fold
        # and ends after it) is folded at once: replayed, it would copy the whole file in
        # every reader until the next fold.
        if any(record["session_id"] not in self.journaled and record["session_id"] not in new for record in records):
            return None
        if not records and state.status == disk.status:
            return b"", frozenset()
        entry: dict[str, Any] = {"sessions": records[::-1], "new": new[::-1], "summary": dict(state.summary)}
        if state.status != disk.status:
            entry["status"] = state.status
        return frame(entry), frozenset(record["session_id"] for record in records)


# By orchestrator folder.
_on_disk: dict[Path, _OnDisk] = {}


def _saved(state: State) -> None:
    state._change.before = None  # no later save walks past it


def _identity(path: Path, *, follow: bool = True) -> Identity | None:
    try:
        return identity(os.stat(path, follow_symlinks=follow))
    except OSError:
        return None


def _read(orchestrator: Path, mission_id: str, writing: bool) -> _OnDisk | None:
    """The state in state.json and its journal, read consistently; None if state.json was
    replaced while it was read (read again)."""
    path = state_path(orchestrator)
    try:
        file = open(path, "rb")  # noqa: SIM115  # kept open until the end: its inode is not reused
    except FileNotFoundError:
        fresh = State(mission_id=mission_id)
        return _OnDisk(state=fresh, state_id=None, journal=_identity(journal_path(orchestrator), follow=False))
    except OSError as exc:
        msg = f"{display_path(path)}: cannot read state: {exc.strerror}"
        raise CoordError(msg) from None
    with file:
        read_id = identity(os.fstat(file.fileno()))
        raw = file.read()
        state, own = _parse(orchestrator, raw, mission_id, writing)
        journal = read_journal(journal_path(orchestrator))
        base = base_of(raw) if own or journal is not None else None
        extending = journal if journal is not None and journal.base == base else None
        if extending is None and _identity(path) != read_id:
            return None  # replaced since it was opened: a journal read now may be another file's
    if extending is not None:
        state = _replayed(state, extending)
    journaled = own and len(raw) >= JOURNAL_BOUND and not (extending is not None and extending.torn)
    return _OnDisk(
        state=state,
        state_id=read_id,
        base=base if journaled else None,
        # No journal to replay (none, a link, a first line that names no state.json): the next save starts one over it.
        journal=_identity(journal_path(orchestrator), follow=False) if journal is None else journal.identity,
        journal_size=0 if extending is None else extending.size,
        journaled=frozenset(
            record["session_id"] for entry in (extending.entries if extending else ()) for record in entry["sessions"]
        ),
    )


def _parse(orchestrator: Path, raw: bytes, mission_id: str, writing: bool) -> tuple[State, bool]:
    """The state in state.json's bytes, and whether they are in coord's own layout."""
    path = state_path(orchestrator)
    source = display_path(path)
    own = own_layout(raw)
    if own is not None:
        return _state(own, mission_id, source), True
    # Another tool's file (or a hand edit): decoded whole once, then read from a copy in
    # coord's layout for as long as its bytes stay the same.
    copy = cached(orchestrator, raw, mission_id)
    kept = None if copy is None else own_layout(copy)
    if kept is not None:
        return _state(kept, mission_id, source), False
    decoded = _state(decode(raw, path, keep_copy=writing), mission_id, source)
    if not writing:  # a command that writes the state puts it in coord's layout anyway
        store(orchestrator, raw, mission_id, decoded.chunks)
    return decoded, False


def _replayed(state: State, journal: Journal) -> State:
    """``state`` with the journal's changes put, in order: each entry holds the totals after it."""
    if not journal.entries:
        return state
    changes = []
    for entry in journal.entries:
        new = set(entry["new"])
        changes += [(record, record["session_id"] in new) for record in entry["sessions"]]
    status = next((entry["status"] for entry in reversed(journal.entries) if "status" in entry), state.status)
    return replace(
        state,
        status=status,
        summary=MappingProxyType(journal.entries[-1]["summary"]),
        _records=state._records.replayed(changes),
    )


def _state(parts: Parts, mission_id: str, source: str) -> State:
    head = parts.head
    stored_id = head.get("mission_id", mission_id)
    return State(
        mission_id=stored_id if isinstance(stored_id, str) else mission_id,
        status=head.get("status", "pending"),
        loops=tuple(head.get("loops", ())),
        summary=MappingProxyType(dict(parts.summary)),
        extra=MappingProxyType({k: v for k, v in head.items() if k not in HEAD_KEYS}),
        source=source,
        _records=parts.records,
    )
