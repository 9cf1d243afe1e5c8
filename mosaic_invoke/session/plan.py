"""What a session will do: its task, milestone, runtime, prompt and capsule, before anything starts."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, NamedTuple

from mosaic_invoke.agents import log_suffix
from mosaic_invoke.agents.runtimes import DEFAULT_RUNTIME, OUTPUTS, Invocation, Runtime, resolve_runtime
from mosaic_invoke.config.mission import Milestone, Mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.errors import CoordError, NoRunnableTask
from mosaic_invoke.session.git import current_branch
from mosaic_invoke.session.prompt import build_context, capsule, find_template, render
from mosaic_invoke.store.clock import now_iso
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import LOGS_DIR, State
from mosaic_invoke.tasks.acceptance import criteria
from mosaic_invoke.tasks.selection import Progress, current_milestone, named_milestone, named_task, next_runnable
from mosaic_invoke.tasks.tasksfile import Task, TasksFile, TaskStatus

RESUMABLE = ("crashed", "interrupted", "timeout", "usage-limit")
"""How a session ends when its agent's conversation is worth continuing."""


class Plan(NamedTuple):
    """A rendered launch: what print-only shows, and what a run starts."""

    session_id: str
    task: Task
    milestone: Milestone | None
    runtime: Runtime
    prompt: str
    invocation: Invocation
    prompt_file: Path
    capsule: dict[str, Any]

    @property
    def argv(self) -> list[str]:
        return list(self.invocation.argv)


def plan(
    mission: Mission,
    tasks: TasksFile,
    state: State,
    options: RunOptions,
    *,
    cut_off_task: str | None = None,
    live_task: str | None = None,
    in_lane: bool = False,
) -> Plan:
    """Choose the task and milestone, resolve the runtime, render the prompt and the capsule.

    ``in_lane``: the session runs beside others (SPEC 15); its previous session is its task's.
    """
    chosen_milestone = named_milestone(mission, options.milestone) if options.milestone else None
    counts = tasks.counts()
    current = current_milestone(mission, counts)
    if options.task:
        task = named_task(tasks, options.task)
    elif cut_off_task and tasks.status_of(cut_off_task) is TaskStatus.IN_PROGRESS:
        task = named_task(tasks, cut_off_task)
    else:
        found = next_runnable(mission, tasks, milestone=chosen_milestone, live_task=live_task)
        if isinstance(found, str):
            raise NoRunnableTask(f"{found}; pass --task to choose one")
        task = found
    milestone = chosen_milestone or mission.milestone(task.milestone) or current
    runtime = resolve(mission, options)
    progress = Progress.of(counts)
    branch = current_branch(mission.root)
    acceptance = criteria(tasks, task)
    previous = lane_previous(state, task.id) if in_lane else previous_session(state)
    previous_status = tasks.status_of(previous.task_id) if previous and previous.task_id else None
    context = build_context(
        mission=mission,
        task=task,
        runtime=runtime,
        progress=progress,
        milestone=milestone,
        previous_session=previous,
        branch=branch,
        acceptance=acceptance,
        previous_task_status=previous_status.value if previous_status else None,
    )
    prompt = render(find_template(mission, options.template, options.configured_template), context)
    session_id = unused_session_id(state, mission.orchestrator_path / LOGS_DIR)
    prompt_file = mission.orchestrator_path / LOGS_DIR / f"{session_id}.prompt.md"
    continued = None if options.fresh else resumable(previous, task.id, runtime)
    invocation = runtime.invocation(
        prompt, session_uuid=new_uuid(), agent_session_id=continued, prompt_file=prompt_file
    )
    return Plan(
        session_id=session_id,
        task=task,
        milestone=milestone,
        runtime=runtime,
        prompt=prompt,
        invocation=invocation,
        prompt_file=prompt_file,
        capsule=capsule(
            generated_at=now_iso(),
            mission=mission,
            task=task,
            runtime=runtime,
            progress=progress,
            milestone=milestone,
            branch=branch,
            acceptance=acceptance,
        ),
    )


def unused_session_id(state: State, logs: Path) -> str:
    """The state's next session id, past any whose log in ``logs`` holds output already: a
    state.json that lost sessions (its journal deleted, an older copy put back) never makes
    coord reuse an id and write into that session's log. (A launch killed before its record was
    written leaves a prompt and no output: its id is taken again, so ids stay consecutive.)"""
    number = int(state.summary["next_session"])
    suffixes = {log_suffix(output) for output in OUTPUTS}
    while any(_holds_output(logs / f"sess-{number:03d}{suffix}") for suffix in suffixes):
        number += 1
    return f"sess-{number:03d}"


def _holds_output(path: Path) -> bool:
    """Whether ``path`` is a log coord wrote output to: a file of its own, not empty, not a link
    planted in its place."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size > 0


def resolve(mission: Mission, options: RunOptions) -> Runtime:
    """The runtime a session launches. A launch command given for the run (``--command``,
    config ``coord.command``) names its session by its program, unless ``--runtime`` names it."""
    named = options.runtime or (Path(options.command[0]).name if options.command else None)
    if named is None and (problem := mission.runtime_problem()):
        raise CoordError(problem)
    return resolve_runtime(
        named or mission.runtime or DEFAULT_RUNTIME,
        mission.runtimes,  # the config's among them (`Mission.with_runtimes`, where it is loaded)
        options.command,
        permissions=mission.permissions,
    )


def previous_session(state: State) -> Session | None:
    return next(iter(state.last(1)), None)


def lane_previous(state: State, task_id: str) -> Session | None:
    """A lane's previous session: its task's last one, else the mission's last ended one."""
    ended = None
    for session in reversed(state.sessions):
        if session.task_id == task_id:
            return session
        if ended is None and not session.running:
            ended = session
    return ended


def resumable(previous: Session | None, task_id: str, runtime: Runtime) -> str | None:
    """The agent session to continue: the previous session's, when it was cut off on this task
    with this runtime, and the runtime can resume (SPEC section 13)."""
    if previous is None or previous.task_id != task_id or previous.runtime != runtime.name:
        return None
    if previous.ended_reason not in RESUMABLE or not runtime.can_resume:
        return None
    return previous.agent_session_id


def new_uuid() -> str:
    """A random (version 4) UUID, as ``uuid.uuid4()`` makes it, without importing ``uuid``
    (and ``platform`` with it) on every launch."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
