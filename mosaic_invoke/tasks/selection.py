"""Which milestone is current and which task runs next: derived from mission and tasks file."""

from __future__ import annotations

import difflib
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from mosaic_invoke.config.mission import Milestone, MilestoneStatus, Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import display_path
from mosaic_invoke.tasks.tasksfile import Row, Task, TasksFile, TaskStatus

_FINISHED = (TaskStatus.DONE, TaskStatus.CANCELLED)
_SHOWN = 5
"""How many waiting or stuck tasks a reason names before it counts the rest."""
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
    own = {status for (milestone_id, status), n in counts.items() if milestone_id == milestone.id and n}
    return _status(milestone, own)


def milestone_statuses(mission: Mission, counts: Counts) -> dict[str, MilestoneStatus]:
    """`milestone_status` of every milestone, by id in mission.yaml order: one pass over
    ``counts`` for all of them (a mission may list 200k)."""
    own: dict[str | None, set[TaskStatus]] = {}
    for (milestone_id, status), n in counts.items():
        if n:
            own.setdefault(milestone_id, set()).add(status)
    return {milestone.id: _status(milestone, own.get(milestone.id, set())) for milestone in mission.milestones}


def _status(milestone: Milestone, own: set[TaskStatus]) -> MilestoneStatus:
    if milestone.status is not None:
        return milestone.status
    if own and own <= set(_FINISHED):
        return MilestoneStatus.DONE
    if own - {TaskStatus.NOT_STARTED}:
        return MilestoneStatus.IN_PROGRESS
    return MilestoneStatus.PENDING


def current_milestone(mission: Mission, counts: Counts) -> Milestone | None:
    """The first in-progress milestone, else the first pending one, in mission.yaml order."""
    statuses = milestone_statuses(mission, counts)
    for wanted in (MilestoneStatus.IN_PROGRESS, MilestoneStatus.PENDING):
        for milestone in mission.milestones:
            if statuses[milestone.id] == wanted:
                return milestone
    return None


def check_milestones(mission: Mission, tasks: TasksFile) -> None:
    """Every task's milestone must be one that mission.yaml lists (when it lists any); and when
    it lists some, a task table must say which task is in which."""
    known = [milestone.id for milestone in mission.milestones]
    if known and not any("milestone" in table.header for table in tasks.tables):
        row = next((table.line_indices[0] for table in tasks.tables if table.line_indices), None)
        if row is not None:  # no task at all: none is in the wrong place
            msg = (
                f"{display_path(tasks.path)}:{row - 1}: no task table has a `milestone` column, while "
                f"{mission.config_path.name} lists milestones ({', '.join(known)}); add a `milestone` column "
                f"naming each task's milestone, or remove `milestones:` from {mission.config_path.name}"
            )
            raise CoordError(msg)
    counts = tasks.counts()
    unknown = {milestone for milestone, _ in counts if milestone is not None} - set(known)
    if not known or not unknown:
        return
    problems = []
    for value in unknown:
        first = next(tasks.rows(set(TaskStatus), value))
        line = tasks.line_of[first.id] + 1
        others = sum(n for (milestone, _), n in counts.items() if milestone == value) - 1
        where = f"task {first.id}" + (f" and {others} more" if others else "")
        problems.append(
            (
                line,
                f"{display_path(tasks.path)}:{line}: `milestone`: `{value}` is not a milestone in "
                f"{mission.config_path.name} ({where}); {_suggest(value, known)}",
            )
        )
    raise CoordError.from_problems(problem for _, problem in sorted(problems))


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


def open_dependencies(tasks: TasksFile, task: Task) -> list[str]:
    """The dependencies of ``task`` that are not done, each as ``T-003 (in-progress)``, in its order."""
    statuses = ((dependency, tasks.status_of(dependency)) for dependency in task.depends_on)
    return [f"{dependency} ({status})" for dependency, status in statuses if status is not TaskStatus.DONE]


def next_runnable(
    mission: Mission, tasks: TasksFile, *, milestone: Milestone | None = None, live_task: str | None = None
) -> Task | str:
    """The next task to run, or why there is none (see `_next_runnable`).

    Answered once per text of the tasks file: a loop asks three times per session (is the
    mission done, is any task runnable, which one next), and at 10k tasks each answer is
    some milliseconds.
    """
    answers = _answers.setdefault(tasks, {})
    key = (mission.milestones, milestone, live_task)
    if key not in answers:
        answers[key] = _next_runnable(mission, tasks, milestone, live_task)
    return answers[key]


# By parsed tasks file (the same object as long as the file's text is the same); forgotten with it.
_answers: weakref.WeakKeyDictionary[TasksFile, dict[tuple[object, ...], Task | str]] = weakref.WeakKeyDictionary()


def _next_runnable(
    mission: Mission, tasks: TasksFile, milestone: Milestone | None, live_task: str | None
) -> Task | str:
    """The next task to run, or why there is none.

    Searched: ``milestone`` alone when given; else the current milestone, then the other
    milestones that are not done in mission.yaml order, then the tasks in no milestone.
    In each, a task left in-progress comes first (with no live session, it was cut off),
    then the first not-started task whose dependencies are all done, by priority (lower
    first), then in file order. The task of the live session (``live_task``) is never next.
    """
    scopes = _scopes(mission, tasks, milestone)
    waiting: dict[str, list[str]] = {}
    live = None
    # Most answers are in the first scope: its rows alone, then the others' in one pass if need be.
    candidates = _open_rows(tasks, scopes[:1])
    grouped = len(scopes) == 1
    for scope in scopes:
        if not grouped:
            grouped = scope not in candidates
            if grouped:
                candidates = {**_open_rows(tasks, scopes), **candidates}
        rows = candidates.get(scope, [])
        for row in rows:
            if row.status is not TaskStatus.IN_PROGRESS:
                continue
            if row.id != live_task:
                return named_task(tasks, row.id)
            live = row.id
        not_started: Iterable[Row] = (row for row in rows if row.status is TaskStatus.NOT_STARTED)
        if tasks.has_priorities:
            not_started = sorted(not_started, key=attrgetter("rank"))  # stable: ties keep file order
        for row in not_started:
            if row.id == live_task:
                live = row.id
                continue
            pending = [d for d in row.dependencies if tasks.status_of(d) is not TaskStatus.DONE]
            if not pending:
                return named_task(tasks, row.id)
            waiting[row.id] = pending
    where = f"milestone {milestone.id} ({milestone.name})" if milestone else "the tasks file"
    return _why_none(tasks, milestone.id if milestone else None, where, waiting, live)


def runnable(mission: Mission, tasks: TasksFile, *, milestone: Milestone | None = None) -> Iterator[Task]:
    """Every task that could run now, in the order `next_runnable` would choose them (lanes take
    several): per scope, the tasks left in-progress, then the not-started ones whose
    dependencies are all done, by priority, then in file order."""
    scopes = _scopes(mission, tasks, milestone)
    candidates = _open_rows(tasks, scopes)
    for scope in scopes:
        rows = candidates.get(scope, [])
        for row in rows:
            if row.status is TaskStatus.IN_PROGRESS:
                yield named_task(tasks, row.id)
        not_started: Iterable[Row] = (row for row in rows if row.status is TaskStatus.NOT_STARTED)
        if tasks.has_priorities:
            not_started = sorted(not_started, key=attrgetter("rank"))  # as `next_runnable` takes them
        for row in not_started:
            if all(tasks.status_of(d) is TaskStatus.DONE for d in row.dependencies):
                yield named_task(tasks, row.id)


def _scopes(mission: Mission, tasks: TasksFile, milestone: Milestone | None) -> list[str | None]:
    """Where the next task is looked for, in order: ``milestone`` alone when given; else the
    current milestone, the other milestones not done, then the tasks in no milestone (``""``);
    None: all tasks, for a mission without milestones."""
    if milestone is not None:
        return [milestone.id]
    if not mission.milestones:
        return [None]
    counts = tasks.counts()
    current = current_milestone(mission, counts)
    statuses = milestone_statuses(mission, counts)
    first = [current] if current else []
    others = [m for m in mission.milestones if statuses[m.id] is not MilestoneStatus.DONE]
    return [*(m.id for m in first + [m for m in others if m is not current]), ""]


def _open_rows(tasks: TasksFile, scopes: list[str | None]) -> dict[str | None, list[Row]]:
    """The in-progress and not-started tasks of each scope (a milestone, ``""`` for none, None for
    all), in file order: chosen in one pass over the file, not one per scope."""
    wanted = {TaskStatus.IN_PROGRESS, TaskStatus.NOT_STARTED}
    if len(scopes) == 1:
        return {scopes[0]: list(tasks.rows(wanted, scopes[0]))}
    grouped: dict[str | None, list[Row]] = {}
    for row in tasks.rows(wanted):
        grouped.setdefault(row.milestone, []).append(row)
    return grouped


def _why_none(tasks: TasksFile, scope: str | None, where: str, waiting: dict[str, list[str]], live: str | None) -> str:
    """Why no task in ``scope`` can run: cycles, the tasks that wait and on what, the stuck ones."""
    stuck = list(tasks.rows({TaskStatus.BLOCKED, TaskStatus.FAILED}, scope))
    if not waiting and not stuck and live is None:
        if next(tasks.rows(set(TaskStatus), scope), None) is None:
            return f"no tasks in {where}"
        unfinished = next(tasks.rows(set(TaskStatus) - set(_FINISHED), scope), None)
        if unfinished is None:
            return f"every task in {where} is done or cancelled"
        return f"no open task in a milestone that is not done ({unfinished.id} is in {unfinished.milestone})"
    open_rows = tasks.rows(set(TaskStatus) - {TaskStatus.DONE})
    cycles = _cycles({row.id: row.dependencies for row in open_rows}, waiting)
    on_cycle = {task_id for cycle in cycles for task_id in cycle}
    reasons = [f"dependency cycle: {' -> '.join(cycle)}" for cycle in cycles]
    reasons += _first(
        f"{task_id} waits on " + ", ".join(f"{d} ({tasks.status_of(d)})" for d in pending)
        for task_id, pending in waiting.items()
        if task_id not in on_cycle
    )
    reasons += _first(f"{row.id} is {row.status}" for row in stuck)
    if live is not None:
        reasons.append(f"{live} is running (its session is live)")
    return f"no runnable task in {where}: " + "; ".join(reasons)


def _cycles(dependencies: dict[str, tuple[str, ...]], starts: Iterable[str], limit: int = 3) -> list[list[str]]:
    """Up to ``limit`` dependency cycles reached from ``starts``, each closed: ``[a, b, a]``.

    ``dependencies`` maps each open task to what it depends on; a walk goes through open tasks only.
    """
    state: dict[str, bool] = {}  # True while on the current path, False once finished
    cycles: list[list[str]] = []
    for start in starts:
        if start in state:
            continue
        path, branches = [start], [iter(dependencies.get(start, ()))]
        state[start] = True
        while branches:
            for dependency in branches[-1]:
                if dependency not in dependencies:
                    continue  # done (or not a task): no cycle through it
                if dependency not in state:
                    state[dependency] = True
                    path.append(dependency)
                    branches.append(iter(dependencies[dependency]))
                    break
                if state[dependency]:
                    cycles.append([*path[path.index(dependency) :], dependency])
                    if len(cycles) == limit:
                        return cycles
            else:
                state[path.pop()] = False
                branches.pop()
    return cycles


def _first(reasons: Iterable[str]) -> list[str]:
    """The first few of ``reasons``, and how many more there are."""
    shown = list(reasons)
    if len(shown) <= _SHOWN:
        return shown
    return [*shown[:_SHOWN], f"and {len(shown) - _SHOWN} more"]


def _suggest(value: str, known: list[str]) -> str:

    by_case = {milestone.lower(): milestone for milestone in known}
    close = [by_case[value.lower()]] if value.lower() in by_case else difflib.get_close_matches(value, known, n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return "use one of " + ", ".join(known)


def _unknown(kind: str, value: str, known: list[str], source: Path) -> str:

    close = difflib.get_close_matches(value, known, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown {kind} {value!r} in {display_path(source)}{hint}"
