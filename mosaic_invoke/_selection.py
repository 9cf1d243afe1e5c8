"""Which milestone is current and which task runs next: derived from mission and tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._config import Milestone, MilestoneStatus, Mission
from ._exceptions import CoordError
from ._tasksfile import Task, TaskStatus

_FINISHED = (TaskStatus.DONE, TaskStatus.CANCELLED)


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress:
    done: int
    total: int

    @property
    def pct(self) -> int:
        return self.done * 100 // self.total if self.total else 0

    @classmethod
    def of(cls, tasks: list[Task]) -> Progress:
        return cls(done=sum(task.status == "done" for task in tasks), total=len(tasks))


def milestone_status(milestone: Milestone, tasks: Sequence[Task]) -> MilestoneStatus:
    """The status written in mission.yaml, else derived from the milestone's tasks."""
    if milestone.status is not None:
        return milestone.status
    own = [task for task in tasks if task.milestone == milestone.id]
    if own and all(task.status in _FINISHED for task in own):
        return MilestoneStatus.DONE
    if any(task.status != TaskStatus.NOT_STARTED for task in own):
        return MilestoneStatus.IN_PROGRESS
    return MilestoneStatus.PENDING


def current_milestone(mission: Mission, tasks: Sequence[Task]) -> Milestone | None:
    """The first in-progress milestone, else the first pending one, in mission.yaml order."""
    statuses = [(milestone, milestone_status(milestone, tasks)) for milestone in mission.milestones]
    for wanted in (MilestoneStatus.IN_PROGRESS, MilestoneStatus.PENDING):
        for milestone, status in statuses:
            if status == wanted:
                return milestone
    return None


def named_milestone(mission: Mission, milestone_id: str) -> Milestone:
    milestone = mission.milestone(milestone_id)
    if milestone is None:
        known = [m.id for m in mission.milestones]
        raise CoordError(_unknown("milestone", milestone_id, known, mission.config_path))
    return milestone


def named_task(tasks: Sequence[Task], task_id: str, tasks_path: Path) -> Task:
    """The task ``task_id``, if it can run: not unknown, not done, not cancelled."""
    task = next((task for task in tasks if task.id == task_id), None)
    if task is None:
        raise CoordError(_unknown("task", task_id, [t.id for t in tasks], tasks_path))
    if task.status in _FINISHED:
        msg = f"task {task_id} is {task.status} and cannot be run; set it to not-started to run it again"
        raise CoordError(msg)
    return task


def next_runnable(tasks: Sequence[Task], milestone: Milestone | None) -> Task | str:
    """The next task to run in ``milestone`` (all tasks when None), or why there is none.

    A task left in-progress comes first: with no live session, it was cut off. Otherwise
    the first not-started task whose dependencies are all done, in file order.
    """
    scope = [task for task in tasks if milestone is None or task.milestone == milestone.id]
    for task in scope:
        if task.status == TaskStatus.IN_PROGRESS:
            return task
    status_of = {task.id: task.status for task in tasks}
    waiting = []
    for task in scope:
        if task.status != TaskStatus.NOT_STARTED:
            continue
        pending = [dep for dep in task.depends_on if status_of.get(dep) != TaskStatus.DONE]
        if not pending:
            return task
        waiting.append(f"{task.id} waits on " + ", ".join(f"{dep} ({status_of.get(dep)})" for dep in pending))
    where = f"milestone {milestone.id} ({milestone.name})" if milestone else "the tasks file"
    if not scope:
        return f"no tasks in {where}"
    stuck = [f"{task.id} is {task.status}" for task in scope if task.status in (TaskStatus.BLOCKED, TaskStatus.FAILED)]
    if not waiting and not stuck:
        return f"every task in {where} is done or cancelled"
    return f"no runnable task in {where}: " + "; ".join([*waiting, *stuck])


def _unknown(kind: str, value: str, known: list[str], source: Path) -> str:
    import difflib

    close = difflib.get_close_matches(value, known, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown {kind} {value!r} in {source.name}{hint}"
