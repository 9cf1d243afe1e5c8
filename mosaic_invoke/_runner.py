"""One session's lifecycle: settle the lock, plan, launch behind a gate, follow, verify, record."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

from . import _process, _verify
from ._agents import Reader, log_suffix, reported_in_log
from ._clock import now_iso
from ._exceptions import CoordError, SessionActive, command
from ._files import write_atomic, write_json_atomic
from ._hooks import run_hook
from ._locks import SessionLock, read_session_lock, remove_session_lock, state_lock, write_session_lock
from ._mission import Mission, load_mission
from ._output import Output
from ._plan import Plan, RunOptions, plan
from ._runtimes import agent_env
from ._selection import check_milestones, open_dependencies
from ._session import Session
from ._state import LOGS_DIR, NEXT_TASK_FILE, State, load_state, save_state
from ._tasksfile import TasksFile, TaskStatus, set_status
from ._tasksfile import load as load_tasks
from ._watch import Limits, Watched, watch

Report = Callable[[str], None]


class Outcome(NamedTuple):
    """What a run did: its plan, and its session (None in print-only mode)."""

    plan: Plan
    session: Session | None = None
    """As recorded at its end; still running when detached."""

    @property
    def exit_code(self) -> int:
        if self.session is None or self.session.exit_code is None:
            return 0
        return self.session.exit_code


@dataclass(frozen=True)
class Launched:
    """A session recorded and its agent started behind its gate (or under a supervisor)."""

    mission: Mission
    plan: Plan
    session: Session
    begun: _verify.Start
    env: dict[str, str]
    log_path: Path
    agent: _process.Gated | None
    """The agent, in the foreground; None when a supervisor owns it."""
    output: int | None
    """The read end of the agent's output pipe, in the foreground."""
    release: Callable[[], None]
    """Opens the gate: the agent starts working."""


def run(
    mission_file: Path, options: RunOptions, report: Report, *, resume: bool = False, display: IO[str] | None = None
) -> Outcome:
    """``coord.run`` (and, with ``resume``, ``coord.resume``); the agent's view goes to ``display``."""
    mission = load_mission(mission_file)
    started = begin(mission, options, report, resume=resume)
    if isinstance(started, Plan):
        return Outcome(plan=started)
    if started.agent is None:
        started.release()
        return Outcome(plan=started.plan, session=started.session)
    report(f"session {started.session.session_id} started: task {started.plan.task.id}, pid {started.session.pid}")
    return Outcome(plan=started.plan, session=follow(started, options, report, display))


def begin(
    mission: Mission, options: RunOptions, report: Report, *, resume: bool, loop_id: str | None = None
) -> Plan | Launched:
    """Under the state lock: settle the session lock, plan, and (unless print-only) launch.

    A session of loop ``loop_id`` is that loop's; any other refuses while a loop runs.
    """
    orchestrator = mission.orchestrator_path
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=not options.print_only)
        if not options.print_only:
            state = _settle_loop(mission, state, loop_id)
        state, cut_off, live_task = _settle_lock(mission, state, options, report, resume=resume)
        tasks = load_tasks(mission.tasks_path)
        check_milestones(mission, tasks)
        for warning in tasks.warnings:
            report(f"warning: {warning}")
        chosen = plan(mission, tasks, state, options, cut_off_task=cut_off, live_task=live_task)
        if options.task and (waiting := open_dependencies(tasks, chosen.task)):
            report(f"warning: task {chosen.task.id} depends on {', '.join(waiting)}, not done; running it as asked")
        write_json_atomic(orchestrator / NEXT_TASK_FILE, chosen.capsule)
        if options.print_only:
            return chosen
        return _launch(mission, state, tasks, chosen, options, loop_id)


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
        on_session_id=functools.partial(note_agent_session, launched.mission, launched.session.session_id),
    )
    with output:
        watched = watch(
            agent.process,
            pipe,
            output.line,
            Limits(session=options.session_timeout, idle=options.idle_timeout),
            stop_requested=stop_requested,
            started=launched.release,
        )
    os.close(pipe)
    if watched.signalled and on_signal is not None:
        on_signal()
    return finish(
        launched.mission, launched.session.session_id, launched.begun, watched, output.reader, launched.env, report
    )


def finish(
    mission: Mission,
    session_id: str,
    begun: _verify.Start,
    watched: Watched,
    reader: Reader,
    env: dict[str, str],
    report: Report,
) -> Session:
    """Verify what the session did, record its end with what the agent reported, run the hook."""
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
    findings = _verify.verify(mission, begun, reason, gate_log, env, report)
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
    return ended


def note_agent_session(mission: Mission, session_id: str, agent_session_id: str) -> None:
    """Record the agent's own session id as soon as it is known: a crash must not lose it."""
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
    mission: Mission, session_id: str, reason: str, exit_code: int, found: dict[str, Any], *, reopen: bool = False
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


def _settle_lock(
    mission: Mission, state: State, options: RunOptions, report: Report, *, resume: bool
) -> tuple[State, str | None, str | None]:
    """Refuse while a session lives; on resume, record a dead one as crashed and clear its lock.

    Returns the state, the task a crashed session was cut off on, and the task of a session
    still running (only a preview gets this far with one: it is never refused, says what it
    found and records nothing).
    """
    orchestrator = mission.orchestrator_path
    lock, warning = read_session_lock(orchestrator)
    if warning:
        report(f"warning: {warning}")
    if lock is None:
        return state, None, None
    verdict = lock.judge()
    if verdict == "live" or (verdict == "foreign" and not (resume and options.force)):
        if verdict == "live":
            msg = (
                f"session {lock.session_id} is still running (pid {lock.pid}, task {lock.task_id or '—'}); "
                "wait for it to end"
            )
        else:
            msg = (
                f"session {lock.session_id} was started on host {lock.host} (pid {lock.pid}); its liveness cannot "
                f"be checked from here: once you know it has ended, run `{command('resume')} --force`"
            )
        if options.print_only:
            report(f"note: {msg.split(';')[0]}; this is only a preview")
            return state, None, lock.task_id
        raise SessionActive(msg)
    if not resume:
        msg = (
            f"session {lock.session_id} (pid {lock.pid}) is no longer running but left its lock; "
            f"run `{command('resume')}` to record it as crashed and continue"
        )
        if options.print_only:
            report(f"note: {msg}")
            return state, None, None
        raise CoordError(msg)
    session = state.session(lock.session_id)
    if session is not None and session.running:  # what its agent reported, coord may not have recorded
        state = state.with_session(session.ended("crashed", **reported_in_log(session.log_path, session.output)))
        if options.print_only:  # a preview: the prompt as resume would write it, nothing recorded
            return state, lock.task_id, None
        save_state(orchestrator, state)
        report(f"session {lock.session_id} (pid {lock.pid}) recorded as crashed")
    if not options.print_only:
        remove_session_lock(orchestrator)
    return state, lock.task_id, None


def _settle_loop(mission: Mission, state: State, loop_id: str | None) -> State:
    """Record a loop whose process died as crashed; refuse to run beside a live loop."""
    from ._looprecord import read_loop, settle_crashed_loop

    orchestrator = mission.orchestrator_path
    settled = settle_crashed_loop(orchestrator, state)
    if settled is not state:
        save_state(orchestrator, settled)
    record, _ = read_loop(orchestrator)
    if loop_id is None and record is not None and record.running and record.judge() != "stale":
        msg = (
            f"loop {record.loop_id} is running (pid {record.pid} on {record.host}) and starts the sessions; "
            f"stop it with `{command('stop')}`, or wait for it to end"
        )
        raise SessionActive(msg)
    return settled


def ended_line(session: Session) -> str:
    """``session sess-001 completed (exit 0, 3s)``."""
    from ._clock import format_duration

    return (
        f"session {session.session_id} {session.ended_reason} "
        f"(exit {session.exit_code}, {format_duration(session.duration_seconds)})"
    )


def _launch(
    mission: Mission, state: State, tasks: TasksFile, chosen: Plan, options: RunOptions, loop_id: str | None
) -> Launched:
    """Mark the task, start the agent behind its gate, write the lock naming it, record the session.

    Any failure undoes all of it. The gate opens only once the lock and the record are
    written (`Launched.release`), so a coord killed in between leaves no agent at work.
    """
    orchestrator = mission.orchestrator_path
    session_id = chosen.session_id
    begun = _verify.start(mission, tasks, chosen.task.id)
    log_path = orchestrator / LOGS_DIR / f"{session_id}{log_suffix(chosen.runtime.output)}"
    env = agent_env(
        {
            **os.environ,
            "MOSAIC_MISSION_ID": mission.id,
            "MOSAIC_SESSION_ID": session_id,
            "MOSAIC_TASK_ID": chosen.task.id,
            **options.env,
        }
    )
    write_atomic(chosen.prompt_file, chosen.prompt.encode())
    before = chosen.task.status
    if before != TaskStatus.IN_PROGRESS:
        tasks.write_status(chosen.task.id, TaskStatus.IN_PROGRESS)
    agent: _process.Gated | None = None
    output: int | None = None
    supervisor = None
    try:
        if options.detach:
            from ._supervisor import start_supervised

            supervisor = start_supervised(mission, chosen, env, log_path, begun, options)
            pid, pid_started_at, owner = supervisor.pid, supervisor.pid_started_at, supervisor.owner
        else:
            output, write_end = os.pipe()
            try:
                with agent_stdin(chosen, unattended=options.unattended) as stdin:
                    # Not at a terminal, the agent leads a process group of its own: an end
                    # (timeout, stop, signal) reaches the tools it started too.
                    agent = _process.start_gated(
                        chosen.argv,
                        mission.root,
                        env,
                        stdin=stdin,
                        stdout=write_end,
                        stderr=write_end,
                        new_session=stdin is not None,
                    )
            finally:
                os.close(write_end)
            pid, pid_started_at, owner = agent.pid, _process.process_start_time(agent.pid), os.getpid()
        lock = SessionLock(
            session_id=session_id,
            runtime=chosen.runtime.name,
            pid=pid,
            pid_started_at=pid_started_at,
            started_at=now_iso(),
            project_path=str(mission.root),
            milestone_id=chosen.milestone.id if chosen.milestone else None,
            task_id=chosen.task.id,
            host=_process.hostname(),
            owner_pid=owner,
            owner_started_at=_process.process_start_time(owner),
        )
        write_session_lock(orchestrator, lock)
        session = Session(
            session_id=session_id,
            runtime=chosen.runtime.name,
            pid=pid,
            pid_started_at=pid_started_at,
            host=lock.host,
            started_at=lock.started_at,
            milestone_id=lock.milestone_id,
            task_id=chosen.task.id,
            log_path=str(log_path),
            output=chosen.runtime.output,
            loop_id=loop_id,
            agent_session_id=chosen.invocation.agent_session_id,
            resumed_agent_session=chosen.invocation.resumed,
        )
        save_state(orchestrator, replace(state.with_session(session), status="active"))
    except BaseException:
        if agent is not None:
            agent.cancel()
        if supervisor is not None:
            supervisor.cancel()
        if output is not None:
            os.close(output)
        if before != TaskStatus.IN_PROGRESS:
            set_status(mission.tasks_path, chosen.task.id, before)
        remove_session_lock(orchestrator)
        raise
    release = agent.go if agent is not None else supervisor.go  # type: ignore[union-attr]
    return Launched(mission, chosen, session, begun, env, log_path, agent, output, release)


@contextlib.contextmanager
def agent_stdin(chosen: Plan, *, unattended: bool) -> Iterator[int | None]:
    """The agent's standard input: the prompt file, /dev/null, or (at a terminal, for a
    command of the user's) coord's own."""
    if chosen.invocation.stdin == "prompt":
        with chosen.prompt_file.open("rb") as prompt:
            yield prompt.fileno()
    elif chosen.invocation.stdin == "null" or unattended:
        yield subprocess.DEVNULL
    else:
        yield None
