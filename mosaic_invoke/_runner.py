"""run and resume: the session lifecycle, composed from config, tasks, prompt, launch and state."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from . import _process, _runtimes
from ._clock import now_iso
from ._exceptions import CoordError, SessionActive, command
from ._files import write_json_atomic
from ._git import current_branch
from ._locks import SessionLock, read_session_lock, remove_session_lock, state_lock, write_session_lock
from ._mission import Milestone, Mission, load_mission
from ._prompt import build_context, capsule, find_template, render
from ._selection import Progress, current_milestone, named_milestone, named_task, next_runnable
from ._session import Session
from ._state import (
    LOGS_DIR,
    NEXT_TASK_FILE,
    State,
    load_state,
    save_state,
)
from ._tasksfile import Task, TasksFile, TaskStatus, set_status
from ._tasksfile import load as load_tasks

Report = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What ``coord.run`` and ``coord.resume`` were asked, flags and config already merged."""

    task: str | None = None
    runtime: str | None = None
    milestone: str | None = None
    print_only: bool = False
    command: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    template: str | None = None
    configured_template: str | None = None
    runtimes: Mapping[str, _runtimes.RuntimeSpec] = field(default_factory=dict)
    force: bool = False
    detach: bool = False


class Plan(NamedTuple):
    """A rendered launch: what print-only shows, and what a run starts."""

    task: Task
    milestone: Milestone | None
    runtime: _runtimes.Runtime
    prompt: str
    argv: list[str]
    capsule: dict[str, Any]


class Outcome(NamedTuple):
    """What a run did: its plan, and the session it started (None in print-only mode)."""

    plan: Plan
    session: Session | None = None
    """The session as recorded at its end (None in print-only mode)."""

    @property
    def exit_code(self) -> int:
        if self.session is None or self.session.exit_code is None:
            return 0
        return self.session.exit_code


def run(mission_file: Path, options: RunOptions, report: Report, *, resume: bool = False) -> Outcome:
    """``coord.run`` (and, with ``resume``, ``coord.resume``) for the mission in ``mission_file``."""
    mission = load_mission(mission_file)
    orchestrator = mission.orchestrator_path
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission.id, writing=not options.print_only)
        state, crashed_task = _settle_lock(mission, state, options, report, resume=resume)
        tasks_file = load_tasks(mission.tasks_path)
        plan = _plan(mission, tasks_file, state, options, crashed_task)
        write_json_atomic(orchestrator / NEXT_TASK_FILE, plan.capsule)
        if options.print_only:
            return Outcome(plan=plan)
        process, session = _launch_session(mission, state, tasks_file, plan, options)
    if process is None:
        return Outcome(plan=plan, session=session)
    report(f"session {session.session_id} started: task {plan.task.id}, pid {session.pid}")
    exit_code, interrupted = _process.wait(process)
    ended = record_end(orchestrator, mission.id, session.session_id, exit_code, interrupted)
    return Outcome(plan=plan, session=ended)


def _settle_lock(
    mission: Mission, state: State, options: RunOptions, report: Report, *, resume: bool
) -> tuple[State, str | None]:
    """Refuse while a session lives; on resume, record a dead one as crashed and clear its lock."""
    orchestrator = mission.orchestrator_path
    lock, warning = read_session_lock(orchestrator)
    if warning:
        report(warning)
    if lock is None:
        return state, None
    verdict = lock.judge()
    if verdict == "live":
        msg = (
            f"session {lock.session_id} is still running (pid {lock.pid}, task {lock.task_id or '—'}); "
            "wait for it to end"
        )
        raise SessionActive(msg)
    if verdict == "foreign" and not (resume and options.force):
        msg = (
            f"session {lock.session_id} was started on host {lock.host} (pid {lock.pid}); its liveness cannot be "
            f"checked from here: once you know it has ended, run `{command('resume')} --force`"
        )
        raise SessionActive(msg)
    if not resume:
        msg = (
            f"session {lock.session_id} (pid {lock.pid}) is no longer running but left its lock; "
            f"run `{command('resume')}` to record it as crashed and continue"
        )
        raise CoordError(msg)
    session = state.session(lock.session_id)
    if session is not None and session.running:
        state = state.with_session(session.ended("crashed"))
        if options.print_only:  # a preview: the prompt as resume would write it, nothing recorded
            return state, lock.task_id
        save_state(orchestrator, state)
        report(f"session {lock.session_id} (pid {lock.pid}) recorded as crashed")
    if not options.print_only:
        remove_session_lock(orchestrator)
    return state, lock.task_id


def _plan(mission: Mission, tasks: TasksFile, state: State, options: RunOptions, crashed_task: str | None) -> Plan:
    chosen_milestone = named_milestone(mission, options.milestone) if options.milestone else None
    counts = tasks.counts()
    current = current_milestone(mission, counts)
    if options.task:
        task = named_task(tasks, options.task)
    elif crashed_task and tasks.status_of(crashed_task) is TaskStatus.IN_PROGRESS:
        task = named_task(tasks, crashed_task)
    else:
        found = next_runnable(tasks, chosen_milestone or current)
        if isinstance(found, str):
            raise CoordError(f"{found}; pass --task to choose one")
        task = found
    milestone = chosen_milestone or mission.milestone(task.milestone) or current
    runtime = _runtimes.resolve_runtime(
        options.runtime or mission.runtime or _runtimes.DEFAULT_RUNTIME,
        {**mission.runtimes, **options.runtimes},
        options.command,
    )
    progress = Progress.of(counts)
    branch = current_branch(mission.root)
    context = build_context(
        mission=mission,
        task=task,
        runtime=runtime,
        progress=progress,
        milestone=milestone,
        previous_session=next(iter(state.last(1)), None),
        branch=branch,
    )
    prompt = render(find_template(mission, options.template, options.configured_template), context)
    return Plan(
        task=task,
        milestone=milestone,
        runtime=runtime,
        prompt=prompt,
        argv=runtime.argv(prompt),
        capsule=capsule(
            generated_at=now_iso(),
            mission=mission,
            task=task,
            runtime=runtime,
            progress=progress,
            milestone=milestone,
            branch=branch,
        ),
    )


def _launch_session(
    mission: Mission, state: State, tasks_file: TasksFile, plan: Plan, options: RunOptions
) -> tuple[subprocess.Popen[bytes] | None, Session]:
    """Mark the task, take the session lock and start the agent; undo all of it if it cannot start.

    Returns the agent's process to wait for, or None when a supervisor waits for it (detached).
    """
    orchestrator = mission.orchestrator_path
    session_id = state.next_session_id()
    started_at = now_iso()
    lock = SessionLock(
        session_id=session_id,
        runtime=plan.runtime.name,
        pid=0,
        started_at=started_at,
        project_path=str(mission.root),
        milestone_id=plan.milestone.id if plan.milestone else None,
        task_id=plan.task.id,
        host=_process.hostname(),
        owner_pid=os.getpid(),
        owner_started_at=_process.process_start_time(os.getpid()),
    )
    before = plan.task.status
    if before != TaskStatus.IN_PROGRESS:
        tasks_file.write_status(plan.task.id, TaskStatus.IN_PROGRESS)
    write_session_lock(orchestrator, lock)
    env = {
        **os.environ,
        "MOSAIC_MISSION_ID": mission.id,
        "MOSAIC_SESSION_ID": session_id,
        "MOSAIC_TASK_ID": plan.task.id,
        **options.env,
    }
    log_path = orchestrator / LOGS_DIR / f"{session_id}.log" if options.detach else None
    try:
        if log_path is None:
            process = _process.start(plan.argv, mission.root, env)
            pid = process.pid
            pid_started_at = _process.process_start_time(pid)
        else:
            process = None
            pid, pid_started_at, supervisor = _process.start_detached(
                plan.argv, mission.root, env, log_path, orchestrator, mission.id, session_id
            )
            lock = replace(lock, owner_pid=supervisor, owner_started_at=_process.process_start_time(supervisor))
    except CoordError:
        if before != TaskStatus.IN_PROGRESS:
            set_status(mission.tasks_path, plan.task.id, before)
        remove_session_lock(orchestrator)
        raise
    write_session_lock(orchestrator, replace(lock, pid=pid, pid_started_at=pid_started_at))
    session = Session(
        session_id=session_id,
        runtime=plan.runtime.name,
        pid=pid,
        pid_started_at=pid_started_at,
        host=lock.host,
        started_at=started_at,
        milestone_id=lock.milestone_id,
        task_id=plan.task.id,
        log_path=str(log_path) if log_path else None,
    )
    save_state(orchestrator, replace(state.with_session(session), status="active"))
    return process, session


def record_end(orchestrator: Path, mission_id: str, session_id: str, exit_code: int, interrupted: bool) -> Session:
    """Record how session ``session_id`` ended and remove its lock."""
    with state_lock(orchestrator):
        state = load_state(orchestrator, mission_id, writing=True)
        session = state.session(session_id)
        if session is None:
            msg = f"session {session_id} is missing from the state; its end could not be recorded"
            raise CoordError(msg)
        ended = session.ended(_process.ended_reason(exit_code, interrupted), exit_code)
        save_state(orchestrator, state.with_session(ended))
        lock, _ = read_session_lock(orchestrator)
        if lock is not None and lock.session_id == session_id:
            remove_session_lock(orchestrator)
    return ended
