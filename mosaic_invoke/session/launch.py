"""Starting a planned session: mark its task, start the agent behind its gate, write the lock
naming it, record the session; undo all of it on any failure."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from mosaic_invoke.agents import log_suffix
from mosaic_invoke.agents.runtimes import agent_env
from mosaic_invoke.config.mission import Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.session.plan import Plan
from mosaic_invoke.session.process import Gated, start_gated
from mosaic_invoke.session.supervised import start_supervised
from mosaic_invoke.session.verify import Start
from mosaic_invoke.session.verify import start as verify_start
from mosaic_invoke.store.clock import now_iso
from mosaic_invoke.store.files import write_private
from mosaic_invoke.store.liveness import hostname, process_start_time
from mosaic_invoke.store.locks import SessionLock, remove_session_lock, write_session_lock
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import LOGS_DIR, State, save_state
from mosaic_invoke.tasks.tasksfile import TasksFile, TaskStatus, set_status


@dataclass(frozen=True)
class Seat:
    """The lane of a loop a session runs in (SPEC 15): its number, its worktree, and the module
    of the supervisor that follows its agent, records its end and lands its work."""

    lane: int
    worktree: Path
    supervisor: str
    spare: subprocess.Popen[bytes] | None = None
    """A supervisor of that module started beforehand, to take the session at once."""


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


def launch(
    mission: Mission,
    state: State,
    tasks: TasksFile,
    chosen: Plan,
    options: RunOptions,
    loop_id: str | None,
    seat: Seat | None = None,
) -> Launched:
    """Mark the task, start the agent behind its gate, write the lock naming it, record the session.

    Any failure undoes all of it. The gate opens only once the lock and the record are
    written (`Launched.release`), so a coord killed in between leaves no agent at work. A
    session in a lane (``seat``; ``mission`` as seen from its worktree) is always supervised and
    writes no session lock: its record names its lane and the supervisor that owns it.
    """
    orchestrator = mission.orchestrator_path
    session_id = chosen.session_id
    begun = verify_start(mission, tasks, chosen.task.id)
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
    write_private(chosen.prompt_file, chosen.prompt.encode(), durable=False)  # a copy for people, as the logs
    before = chosen.task.status
    if before != TaskStatus.IN_PROGRESS:
        tasks.write_status(chosen.task.id, TaskStatus.IN_PROGRESS)
    agent: Gated | None = None
    output: int | None = None
    supervisor = None
    try:
        if options.detach or seat is not None:
            module, spare = (seat.supervisor, seat.spare) if seat is not None else (None, None)
            supervisor = start_supervised(mission, chosen, env, log_path, begun, options, module=module, spare=spare)
            pid, pid_started_at, owner = supervisor.pid, supervisor.pid_started_at, supervisor.owner
        else:
            output, write_end = os.pipe()
            try:
                with agent_stdin(chosen, unattended=options.unattended) as stdin:
                    # Not at a terminal, the agent leads a process group of its own: an end
                    # (timeout, stop, signal) reaches the tools it started too.
                    agent = start_gated(
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
            pid, pid_started_at, owner = agent.pid, process_start_time(agent.pid), os.getpid()
        lock = SessionLock(
            session_id=session_id,
            runtime=chosen.runtime.name,
            pid=pid,
            pid_started_at=pid_started_at,
            started_at=now_iso(),
            project_path=str(mission.root),
            milestone_id=chosen.milestone.id if chosen.milestone else None,
            task_id=chosen.task.id,
            host=hostname(),
            owner_pid=owner,
            owner_started_at=process_start_time(owner),
        )
        if seat is None:
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
            lane=seat.lane if seat else None,
            worktree=str(seat.worktree) if seat else None,
            owner_pid=owner if seat else None,
            owner_started_at=lock.owner_started_at if seat else None,
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
