"""After a session starts: follow its agent to the end, verify what it did, record the end."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from mosaic_invoke.agents import Reader
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError
from mosaic_invoke.session.hooks import run_hook
from mosaic_invoke.session.output import Output
from mosaic_invoke.session.plan import Plan
from mosaic_invoke.session.process import Gated, exit_status, signal_agent
from mosaic_invoke.session.verify import Start, Verifier, verify
from mosaic_invoke.session.watch import Limits, Watched, watch
from mosaic_invoke.store.locks import read_session_lock, remove_session_lock, state_lock
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import LOGS_DIR, load_state, save_state
from mosaic_invoke.tasks.tasksfile import TaskStatus, set_status

Report = Callable[[str], None]


@dataclass(frozen=True)
class Launched:
    """A session recorded and its agent started behind its gate (or under a supervisor)."""

    mission: Mission
    plan: Plan
    session: Session
    begun: Start
    env: dict[str, str]
    log_path: Path
    agent: Gated | None
    """The agent, in the foreground; None when a supervisor owns it."""
    output: int | None
    """The read end of the agent's output pipe, in the foreground."""
    release: Callable[[], None]
    """Opens the gate: the agent starts working."""


def follow(
    launched: Launched,
    options: RunOptions,
    report: Report,
    display: IO[str] | None,
    stop_requested: Callable[[], bool] | None = None,
    on_signal: Callable[[], None] | None = None,
) -> Session:
    """Open the gate, follow the agent to its end, then verify and record the session.

    ``on_signal`` is called when coord itself was sent SIGINT, SIGTERM or SIGHUP meanwhile
    (the watcher's handlers hide it from the caller's): a loop then stops.
    """
    agent, pipe = launched.agent, launched.output
    if agent is None or pipe is None:
        msg = f"session {launched.session.session_id} is followed by its supervisor, not here"
        raise CoordError(msg)
    output = Output(
        launched.log_path,
        launched.plan.runtime.output,
        display,
        known_session_id=launched.session.agent_session_id,
        on_session_id=functools.partial(note_agent_session, launched.mission, launched.session.session_id, report),
    )
    limits = Limits(session=options.session_timeout, idle=options.idle_timeout)
    with output, abandoning(launched.mission, launched.session.session_id, agent.process, limits):
        watched = watch(
            agent.process, pipe, output.line, limits, stop_requested=stop_requested, started=launched.release
        )
    os.close(pipe)
    if output.log_error is not None:
        report(f"warning: {output.log_error}")
    if watched.signalled and on_signal is not None:
        on_signal()
    return finish(
        launched.mission,
        launched.session.session_id,
        launched.begun,
        watched,
        output.reader,
        launched.env,
        report,
        on_signal=on_signal,
    )


@contextlib.contextmanager
def abandoning(mission: Mission, session_id: str, process: subprocess.Popen[bytes], limits: Limits) -> Iterator[None]:
    """Should coord itself fail while it follows the agent, it ends the agent and records the
    session as crashed: no agent is left running unrecorded."""
    try:
        yield
    except BaseException:
        signal_agent(process, signal.SIGTERM)
        try:
            process.wait(timeout=limits.kill_grace)
        except subprocess.TimeoutExpired:
            signal_agent(process, signal.SIGKILL)
            process.wait()
        with contextlib.suppress(Exception):
            record_end(mission, session_id, "crashed", exit_status(process.returncode), {})
        raise


def finish(
    mission: Mission,
    session_id: str,
    begun: Start,
    watched: Watched,
    reader: Reader,
    env: dict[str, str],
    report: Report,
    *,
    on_signal: Callable[[], None] | None = None,
    verifier: Verifier | None = None,
) -> Session:
    """Verify what the session did, record its end with what the agent reported, run the hook.

    ``on_signal`` is called when coord was sent SIGINT, SIGTERM or SIGHUP while the gates ran.
    ``verifier``: `verify` unless a lane's supervisor lands the work instead.
    """
    reason = ended_reason(watched)
    found: dict[str, Any] = dict(reader.telemetry())
    # In local time: the agents print the time a limit lifts as a time of day on this machine's clock.
    wall = None if watched.timed_out or watched.interrupted else reader.verdict(datetime.now().astimezone())
    if wall is not None and wall.kind == "transient":
        found["transient"] = True
        report(f"session {session_id} met a transient error, worth another try: {wall.message}")
    elif wall is not None:
        reason = "usage-limit"
        found["resume_at"] = wall.resume_at
        if wall.kind == "hard-wall" or wall.resume_at is None:
            found["limit"] = "hard"
        lifts = f"until {wall.resume_at}" if "limit" not in found else "that no wait lifts"
        report(f"session {session_id} hit a usage limit {lifts}: {wall.message}")
    gate_log = mission.orchestrator_path / LOGS_DIR / f"{session_id}.verify.log"
    findings = (verifier or verify)(mission, begun, reason, gate_log, env, report)
    if watched.timed_out:
        report(f"session {session_id} ran past its {watched.timed_out} timeout and was ended")
    found.update(findings.fields)
    ended = record_end(mission, session_id, reason, watched.exit_code, found, reopen=findings.reopen)
    if ended.verdict == "rejected":
        report(f"{ended.task_id} was marked done, but {ended.rejected_because}; it is in-progress again")
    if ended.resumed_agent_session and reason == "failed":  # e.g. the agent lost that conversation
        said = f"failed continuing agent session {ended.resumed_agent_session}"
        report(f"session {session_id} {said}; the next one starts a new conversation")
    run_hook(mission, "after_session", ended.to_dict(), env, report)
    if findings.signalled and on_signal is not None:
        on_signal()
    return ended


def note_agent_session(mission: Mission, session_id: str, report: Report, agent_session_id: str) -> None:
    """Record the agent's own session id as soon as it is known: a crash must not lose it.

    Never fatal: the session's end records the id too (the agent reported it).
    """
    try:
        _note_agent_session(mission, session_id, agent_session_id)
    except CoordError as error:
        report(f"warning: the agent's session id {agent_session_id} is not recorded yet: {error}")


def _note_agent_session(mission: Mission, session_id: str, agent_session_id: str) -> None:
    orchestrator = mission.orchestrator_path
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=True)
        session = state.session(session_id)
        if session is not None and session.running:
            save_state(orchestrator, state.with_session(replace(session, agent_session_id=agent_session_id)))


def ended_reason(watched: Watched) -> str:
    if watched.timed_out:
        return "timeout"
    if watched.interrupted:
        return "interrupted"
    return "completed" if watched.exit_code == 0 else "failed"


def record_end(
    mission: Mission,
    session_id: str,
    reason: str,
    exit_code: int | None,
    found: dict[str, Any],
    *,
    reopen: bool = False,
) -> Session:
    """Record how session ``session_id`` ended, reopen a rejected task, remove the lock."""
    orchestrator = mission.orchestrator_path
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=True)
        session = state.session(session_id)
        if session is None:
            msg = f"session {session_id} is missing from the state; its end could not be recorded"
            raise CoordError(msg)
        if reopen and session.task_id:
            set_status(mission.tasks_path, session.task_id, TaskStatus.IN_PROGRESS)
        ended = session.ended(reason, exit_code, **found)
        save_state(orchestrator, state.with_session(ended))
        lock, _ = read_session_lock(orchestrator)
        if lock is not None and lock.session_id == session_id:
            remove_session_lock(orchestrator)
    return ended


def ended_line(session: Session) -> str:
    """``session sess-001 completed (exit 0, 3s)``."""
    from mosaic_invoke.store.clock import format_duration

    return (
        f"session {session.session_id} {session.ended_reason} "
        f"(exit {session.exit_code}, {format_duration(session.duration_seconds)})"
    )
