"""Which milestone is current and which task runs next: derived from mission and tasks file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

from ._exceptions import CoordError
from ._mission import Milestone, MilestoneStatus, Mission
from ._tasksfile import Task, TasksFile, TaskStatus

_FINISHED = (TaskStatus.DONE, TaskStatus.CANCELLED)
Counts = Counter[tuple[str | None, TaskStatus]]
"""How many tasks have each (milestone, status): `TasksFile.counts`."""


class Progress(NamedTuple):
    done: int
    total: int

    @property
    def pct(self) -> int:
        return self.done * 100 // self.total if self.total else 0

    @classmethod
    def of(cls, counts: Counts) -> Progress:
        done = sum(n for (_, status), n in counts.items() if status is TaskStatus.DONE)
        return cls(done=done, total=sum(counts.values()))


def milestone_status(milestone: Milestone, counts: Counts) -> MilestoneStatus:
    """The status written in mission.yaml, else derived from the milestone's tasks."""
    if milestone.status is not None:
        return milestone.status
    own = {status for (milestone_id, status), n in counts.items() if milestone_id == milestone.id and n}
    if own and own <= set(_FINISHED):
        return MilestoneStatus.DONE
    if own - {TaskStatus.NOT_STARTED}:
        return MilestoneStatus.IN_PROGRESS
    return MilestoneStatus.PENDING


def current_milestone(mission: Mission, counts: Counts) -> Milestone | None:
    """The first in-progress milestone, else the first pending one, in mission.yaml order."""
    statuses = [(milestone, milestone_status(milestone, counts)) for milestone in mission.milestones]
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


def named_task(tasks: TasksFile, task_id: str) -> Task:
    """The task ``task_id``, if it can run: not unknown, not done, not cancelled."""
    task = tasks.task(task_id)
    if task is None:
        raise CoordError(_unknown("task", task_id, list(tasks.line_of), tasks.path))
    if task.status in _FINISHED:
        msg = f"task {task_id} is {task.status} and cannot be run; set it to not-started to run it again"
        raise CoordError(msg)
    return task


def next_runnable(tasks: TasksFile, milestone: Milestone | None) -> Task | str:
    """The next task to run in ``milestone`` (all tasks when None), or why there is none.

    A task left in-progress comes first: with no live session, it was cut off. Otherwise
    the first not-started task whose dependencies are all done, in file order.
    """
    scope = milestone.id if milestone else None
    for row in tasks.rows({TaskStatus.IN_PROGRESS}, scope):
        return named_task(tasks, row.id)
    waiting = []
    for row in tasks.rows({TaskStatus.NOT_STARTED}, scope):
        pending = [(dep, tasks.status_of(dep)) for dep in row.dependencies]
        pending = [(dep, status) for dep, status in pending if status is not TaskStatus.DONE]
        if not pending:
            return named_task(tasks, row.id)
        waiting.append(f"{row.id} waits on " + ", ".join(f"{dep} ({status})" for dep, status in pending))
    where = f"milestone {milestone.id} ({milestone.name})" if milestone else "the tasks file"
    if next(tasks.rows(set(TaskStatus), scope), None) is None:
        return f"no tasks in {where}"
    stuck = [f"{row.id} is {row.status}" for row in tasks.rows({TaskStatus.BLOCKED, TaskStatus.FAILED}, scope)]
    if not waiting and not stuck:
        return f"every task in {where} is done or cancelled"
    return f"no runnable task in {where}: " + "; ".join([*waiting, *stuck])


def _unknown(kind: str, value: str, known: list[str], source: Path) -> str:
    import difflib

    close = difflib.get_close_matches(value, known, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown {kind} {value!r} in {source.name}{hint}"
