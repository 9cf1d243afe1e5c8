"""One session's lifecycle: settle the lock, plan, launch behind a gate, follow, verify, record."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, NamedTuple

from . import _process, _verify
from ._agents import log_suffix, reported_in_log
from ._clock import now_iso
from ._ending import Launched, follow
from ._exceptions import CoordError, SessionActive, command
from ._files import write_atomic, write_json_atomic
from ._locks import SessionLock, read_session_lock, remove_session_lock, state_lock, write_session_lock
from ._mission import Mission, load_mission
from ._plan import Plan, RunOptions, plan
from ._runtimes import agent_env
from ._selection import check_milestones, open_dependencies
from ._session import Session
from ._state import LOGS_DIR, NEXT_TASK_FILE, State, load_state, save_state
from ._tasksfile import TasksFile, TaskStatus, set_status
from ._tasksfile import load as load_tasks

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
        # Every step undone that can be; none may hide the failure that needed them.
        with contextlib.suppress(Exception):
            if agent is not None:
                agent.cancel()
        with contextlib.suppress(Exception):
            if supervisor is not None:
                supervisor.cancel()
        with contextlib.suppress(OSError):
            if output is not None:
                os.close(output)
        with contextlib.suppress(Exception):
            if before != TaskStatus.IN_PROGRESS:
                set_status(mission.tasks_path, chosen.task.id, before)
        with contextlib.suppress(Exception):
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
