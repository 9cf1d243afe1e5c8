"""``coord.logs``: any session's saved output, shown as the live view showed it (or raw)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from mosaic_invoke.agents import show_log
from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.errors import CoordError, command
from mosaic_invoke.store.clock import format_duration
from mosaic_invoke.store.files import display_path
from mosaic_invoke.store.locks import read_session_lock
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import load_state


def show_session_log(
    mission_file: Path,
    session_id: str | None,
    *,
    follow: bool,
    raw: bool,
    write: Callable[[str], None],
    report: Callable[[str], None],
) -> Session:
    """Write the log of ``session_id`` (default: the running session, else the newest one);
    ``report`` says so when that shows nothing, rather than leaving the user to wonder."""
    mission = load_mission(mission_file)
    orchestrator = mission.orchestrator_path
    state = load_state(orchestrator, mission.id)
    newest = state.last(5)
    if not newest:
        msg = "no session has run yet: there is no log to show"
        raise CoordError(msg)
    if session_id is None:
        lock, _ = read_session_lock(orchestrator)
        session = (state.session(lock.session_id) if lock is not None else None) or newest[-1]
    else:
        found = state.session(session_id)
        if found is None:
            known = ", ".join(s.session_id for s in reversed(newest))
            msg = f"unknown session {session_id!r}; the newest are {known}"
            raise CoordError(msg)
        session = found
    if session.log_path is None:
        msg = f"session {session.session_id} kept no log (it ran before coord kept one for every session)"
        raise CoordError(msg)
    path = Path(session.log_path)
    if not path.is_file():
        msg = f"{display_path(path)}: the log of session {session.session_id} is gone"
        raise CoordError(msg)
    shown = size = 0

    def counted(line: str) -> None:
        nonlocal shown
        shown += 1
        write(line)

    show_log(
        path,
        session.output or "text",
        raw=raw,
        follow=follow,
        still_running=lambda: _running(orchestrator, session.session_id),
        write=counted,
    )
    if not shown:
        with contextlib.suppress(OSError):  # a log deleted meanwhile reads as empty
            size = path.stat().st_size
        if not size:
            report(f"session {session.session_id} printed nothing (its log, {display_path(path)}, is empty)")
        else:
            report(f"nothing in the log of session {session.session_id} has a line in this view; --raw shows it all")
    if follow:  # how it ended, as `run` would have said it in the foreground, with the verdict
        session = load_state(orchestrator, mission.id).session(session.session_id) or session
        report(_how_it_ended(session))
    return session


def _how_it_ended(session: Session) -> str:
    """``session sess-001 completed (exit 0, 3s), accepted``; or that it ended unrecorded."""
    if session.running:  # its lock is gone or stale, its end not recorded: the process died
        return (
            f"session {session.session_id} is no longer running but its end is not recorded; "
            f"`{command('resume')}` records it as crashed"
        )
    how = (
        f"session {session.session_id} {session.ended_reason} "
        f"(exit {session.exit_code}, {format_duration(session.duration_seconds)})"
    )
    if session.verdict:
        how += f", {session.verdict}"
    if session.rejected_because:
        how += f": {session.rejected_because}"
    return how


def _running(orchestrator: Path, session_id: str) -> bool:
    lock, _ = read_session_lock(orchestrator)
    return lock is not None and lock.session_id == session_id and lock.judge() == "live"
