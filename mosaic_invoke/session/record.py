"""The one place a session ends: normal, crashed, interrupted, abandoned, or settled later.

The end (when the agent exited, how, what it reported) is written to state.json first; what
comes after it may fail (the claim kept to its own task, the gates, reopening a rejected
claim, the hook) and is recorded as the session's verdict, never left as a running session
with its lock behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mosaic_invoke.agents import Reader, reported_in_log
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.hooks import run_hook
from mosaic_invoke.session.verify import STOP_NOW, Findings, Start, Verifier, keep_to_own_claim, verify
from mosaic_invoke.session.watch import Watched
from mosaic_invoke.store.clock import format_duration, now_iso
from mosaic_invoke.store.locks import SessionLock, read_session_lock, remove_session_lock, state_lock
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import LOGS_DIR, State, load_state, save_state
from mosaic_invoke.tasks.tasksfile import TaskStatus, set_status
from mosaic_invoke.tasks.tasksfile import load as load_tasks

Report = Callable[[str], None]


@dataclass(frozen=True)
class End:
    """How a session's agent ended, taken when it exited."""

    reason: str
    exit_code: int | None
    ended_at: str = field(default_factory=now_iso)
    found: Mapping[str, Any] = field(default_factory=dict)
    """What the agent reported: telemetry, a usage limit."""
    stopped_by: str | None = None
    """``SIGINT``, ``SIGTERM``, ``SIGHUP`` or ``stop --now``: coord was asked to stop meanwhile."""


class RecordedError(CoordError):
    """Something after a session's end failed; the session is recorded all the same."""

    def __init__(self, session: Session, *problems: str) -> None:
        super().__init__(*problems)
        self.session = session


def end_of(session_id: str, watched: Watched, reader: Reader, report: Report) -> End:
    """How the watched agent ended, with what it reported (a usage limit, its cost)."""
    reason = ended_reason(watched)
    found: dict[str, Any] = dict(reader.telemetry())
    # In local time: the agents print the time a limit lifts as a time of day on this machine's clock.
    wall = None if watched.timed_out or watched.interrupted else reader.verdict(datetime.now().astimezone())
    if wall is not None and wall.kind == "transient":
        found["transient"] = True
        report(f"session {session_id} met a transient error, worth another try: {wall.message}")
    elif wall is not None and wall.kind == "unusable":
        found["unusable"] = wall.message
        report(f"session {session_id}: the agent cannot work here: {wall.message}")
    elif wall is not None:
        reason = "usage-limit"
        found["resume_at"] = wall.resume_at
        if wall.kind == "hard-wall" or wall.resume_at is None:
            found["limit"] = "hard"
        lifts = f"until {wall.resume_at}" if "limit" not in found else "that no wait lifts"
        report(f"session {session_id} hit a usage limit {lifts}: {wall.message}")
    if watched.timed_out:
        report(f"session {session_id} ran past its {watched.timed_out} timeout and was ended")
    stopped_by = watched.signalled or (STOP_NOW if watched.stopped else None)
    return End(reason, watched.exit_code, watched.ended_at or now_iso(), found, stopped_by)


def ended_reason(watched: Watched) -> str:
    if watched.timed_out:
        return "timeout"
    if watched.interrupted:
        return "interrupted"
    return "completed" if watched.exit_code == 0 else "failed"


def finish(
    mission: Mission,
    session_id: str,
    begun: Start,
    end: End,
    env: Mapping[str, str],
    report: Report,
    *,
    stop_now: Callable[[], bool] | None = None,
    verifier: Verifier = verify,
) -> Session:
    """Record the end, then keep the claim to the session's own task, verify it (``verifier``:
    a lane's supervisor lands the work instead), record the verdict (reopening a rejected
    claim) and run the hook.

    Raises `RecordedError` (carrying the recorded session) when a step after the end failed.
    """
    ended = record_end(mission, session_id, end)
    try:
        restored = _restore_others(mission, begun, report)
        gate_log = mission.orchestrator_path / LOGS_DIR / f"{session_id}.verify.log"
        findings = verifier(
            mission, begun, end.reason, gate_log, env, report, interrupted=end.stopped_by, stop_now=stop_now
        )
        if mission.review is not None:  # after the gates pass; a mission without a reviewer loads none (some 2 ms)
            from mosaic_invoke.session.reviewer import review_claim

            findings = review_claim(mission, ended, findings, env, report, stop_now=stop_now)
    except BaseException:
        with contextlib.suppress(Exception):  # none may hide the failure that needed it
            record_verdict(mission, session_id, Findings({"verdict": "none"}))
        raise
    judged = record_verdict(mission, session_id, findings, restored)
    _say(judged, report)
    run_hook(mission, "after_session", judged.to_dict(), env, report)
    return judged


def record_end(mission: Mission, session_id: str, end: End) -> Session:
    """Write how session ``session_id`` ended (its lock stays until its verdict is written)."""
    orchestrator = mission.orchestrator_path
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=True)
        session = _recorded(state, session_id)
        if not session.running:  # its end is recorded already
            return session
        ended = session.ended(end.reason, end.exit_code, ended_at=end.ended_at, **end.found)
        save_state(orchestrator, state.with_session(ended))
    return ended


def record_verdict(mission: Mission, session_id: str, findings: Findings, restored: list[str] | None = None) -> Session:
    """Write what verification found, reopen the task when it says so, remove the lock.

    A task that cannot be reopened is said in the record, which is written all the same; then
    a `RecordedError` says so.
    """
    orchestrator = mission.orchestrator_path
    fields = dict(findings.fields)
    if restored:
        fields["tasks_restored"] = restored
    problem = None
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=True)
        session = _recorded(state, session_id)
        if findings.reopen and session.task_id:
            try:
                set_status(mission.tasks_path, session.task_id, TaskStatus.IN_PROGRESS)
            except CoordError as error:
                problem = f"{session.task_id} cannot be reopened: {error}"
                if fields.get("rejected_because"):
                    fields["rejected_because"] += f"; {problem}"
        judged = session.with_fields(**fields)
        save_state(orchestrator, state.with_session(judged))
        _release(orchestrator, session_id)
    if problem is not None:
        raise RecordedError(judged, f"session {session_id} is recorded, but {problem}")
    return judged


def settle(mission: Mission, state: State, lock: SessionLock, report: Report, *, preview: bool = False) -> State:
    """A session whose lock outlived coord and agent: recorded as crashed, with what its agent
    reported in its log; an end recorded without a verdict (coord died during the gates) gets
    verdict ``none``, its claim reopened. Then its lock goes. Call under the state lock.

    ``preview``: the state as it would be, nothing written.
    """
    session = state.session(lock.session_id)
    if session is not None and session.running:
        session = session.ended("crashed", **reported_in_log(session.log_path, session.output))
        state = state.with_session(session)
        if not preview:
            report(f"session {lock.session_id} (pid {lock.pid}) recorded as crashed")
    elif session is not None and session.verdict is None:
        state = state.with_session(session.with_fields(verdict="none"))
        if not preview and mission.verify is not None and session.task_id:
            with contextlib.suppress(CoordError):
                if load_tasks(mission.tasks_path).status_of(session.task_id) is TaskStatus.DONE:
                    set_status(mission.tasks_path, session.task_id, TaskStatus.IN_PROGRESS)
                    report(f"{session.task_id} was claimed done but never checked; it is in-progress again")
    if not preview:
        save_state(mission.orchestrator_path, state)
        _release(mission.orchestrator_path, lock.session_id)
    return state


def abandon(mission: Mission, session_id: str, exit_code: int | None) -> None:
    """coord failed while it followed the agent (which it has ended): the session is crashed."""
    record_end(mission, session_id, End("crashed", exit_code))
    record_verdict(mission, session_id, Findings({"verdict": "none"}))


def note_agent_session(mission: Mission, session_id: str, report: Report, agent_session_id: str) -> None:
    """Record the agent's own session id as soon as it is known: a crash must not lose it.

    Never fatal: the session's end records the id too (the agent reported it).
    """
    orchestrator = mission.orchestrator_path
    try:
        with state_lock(orchestrator):
            state = load_state(orchestrator, mission.id, writing=True)
            session = state.session(session_id)
            if session is not None and session.running:
                save_state(orchestrator, state.with_session(replace(session, agent_session_id=agent_session_id)))
    except CoordError as error:
        report(f"warning: the agent's session id {agent_session_id} is not recorded yet: {error}")


def ended_line(session: Session) -> str:
    """``session sess-001 completed (exit 0, 3s)``."""
    return (
        f"session {session.session_id} {session.ended_reason} "
        f"(exit {session.exit_code}, {format_duration(session.duration_seconds)})"
    )


def _restore_others(mission: Mission, begun: Start, report: Report) -> list[str]:
    try:
        with state_lock(mission.orchestrator_path):
            restored = keep_to_own_claim(mission, begun)
    except CoordError as error:
        report(f"warning: rows of other tasks could not be checked: {error}")
        return []
    if restored:
        report(f"{', '.join(restored)} set back: a session claims only its own task ({begun.task_id})")
    return restored


def _say(session: Session, report: Report) -> None:
    verification = session.verification or {}
    if session.verdict == "rejected":
        report(f"{session.task_id} was marked done, but {session.rejected_because}; it is in-progress again")
    elif verification.get("interrupted"):
        report(f"{session.task_id} was marked done, but its check was interrupted; it is in-progress again")
    if session.resumed_agent_session and session.ended_reason == "failed":  # e.g. the agent lost that conversation
        said = f"failed continuing agent session {session.resumed_agent_session}"
        report(f"session {session.session_id} {said}; the next one starts a new conversation")


def _recorded(state: State, session_id: str) -> Session:
    session = state.session(session_id)
    if session is None:
        msg = f"session {session_id} is missing from the state; its end could not be recorded"
        raise CoordError(msg)
    return session


def _release(orchestrator: Any, session_id: str) -> None:
    lock, _ = read_session_lock(orchestrator)
    if lock is not None and lock.session_id == session_id:
        remove_session_lock(orchestrator)
