"""Tasks as data: the task tables of the tasks file, statuses, queries, and rewriting one status cell.

Missions reach 100k tasks: queries work a column at a time and build only the rows they return.
"""

from __future__ import annotations

import bisect
import functools
import os
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from itertools import compress, filterfalse, repeat
from pathlib import Path
from typing import cast

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.files import collector_paused, display_path, read_text, write_atomic
from mosaic_invoke.tasks.markdown import Table, read_tables, replace_cell, split_lines
from mosaic_invoke.tasks.task import (
    DEFAULT_PRIORITY,
    KNOWN_PRIORITIES,
    KNOWN_STATUSES,
    Row,
    Task,
    TaskStatus,
    priority_of,
    split_ids,
    status_lookup,
    status_named,
)

__all__ = ["Row", "Task", "TaskStatus", "TasksFile", "load", "parse", "read_tasks", "set_status"]


@dataclass(eq=False)
class TasksFile:
    """A parsed tasks file: its text, its task tables, and where each task's row is."""

    path: Path
    lines: list[str]
    tables: list[Table]
    line_of: dict[str, int]
    stat: tuple[int, int] | None = None
    """The file's (mtime, size) taken before it was read: a later change means re-read."""
    warnings: tuple[str, ...] = ()
    """Tables that look meant to hold tasks but are not task tables, one line each."""

    @functools.cached_property
    def tasks(self) -> list[Task]:
        """All tasks, in file order (built on first use)."""
        with collector_paused():
            return [task for table in self.tables for task in _tasks_of(table)]

    def counts(self) -> Counter[tuple[str | None, TaskStatus]]:
        """How many tasks have each (milestone, status)."""
        return Counter(self._counts)

    @functools.cached_property
    def _counts(self) -> Counter[tuple[str | None, TaskStatus]]:
        """Counted once, a column at a time."""
        counts: Counter[tuple[str | None, TaskStatus]] = Counter()
        for table, status_of in zip(self.tables, self._status_lookups, strict=True):
            statuses = table.cells("status")
            milestones = table.column("milestone") or repeat("", len(statuses))
            for (milestone, value), count in Counter(zip(milestones, statuses, strict=True)).items():
                counts[milestone or None, status_of[value]] += count
        return counts

    @functools.cached_property
    def _status_lookups(self) -> list[dict[str, TaskStatus]]:
        """Each table's distinct status cells, to their statuses: made once, used by every query."""
        return [status_lookup(table.cells("status")) for table in self.tables]

    def rows(self, statuses: Collection[TaskStatus], milestone: str | None = None) -> Iterator[Row]:
        """The id, status, milestone and dependencies of each task with one of ``statuses`` (and in
        ``milestone`` when given; ``""`` for tasks in none), in file order. Rows are chosen a
        column at a time and only the chosen ones are built: a large file has few that matter."""
        for table, status_of in zip(self.tables, self._status_lookups, strict=True):
            ids, values = table.cells("id"), table.cells("status")
            wanted = {value for value, status in status_of.items() if status in statuses}
            milestones = table.column("milestone")
            depends_on = table.column("depends_on")
            priorities = table.column("priority")
            if milestone is None or (milestones is None and milestone == ""):
                chosen = map(wanted.__contains__, values)
            elif milestones is None:
                continue  # no milestone column: none of its tasks is in one
            else:
                pairs = {(milestone, value) for value in wanted}
                chosen = map(pairs.__contains__, zip(milestones, values, strict=True))
            for index in compress(range(len(values)), chosen):
                yield Row(
                    ids[index],
                    status_of[values[index]],
                    milestones[index] if milestones else "",
                    depends_on[index] if depends_on else "",
                    priorities[index] if priorities else "",
                )

    @functools.cached_property
    def has_priorities(self) -> bool:
        """Whether any task is ranked other than medium (else file order alone decides)."""
        for table in self.tables:
            ranks = {priority_of(cell) for cell in set(table.column("priority") or ())}
            if ranks - {DEFAULT_PRIORITY}:
                return True
        return False

    def ids(self, status: TaskStatus) -> set[str]:
        """The ids of the tasks with ``status``, chosen a column at a time."""
        found: set[str] = set()
        for table, status_of in zip(self.tables, self._status_lookups, strict=True):
            wanted = {value for value, known in status_of.items() if known is status}
            found.update(compress(table.cells("id"), map(wanted.__contains__, table.cells("status"))))
        return found

    def statuses(self) -> dict[str, TaskStatus]:
        """Every task's status, by id, a column at a time."""
        found: dict[str, TaskStatus] = {}
        for table, status_of in zip(self.tables, self._status_lookups, strict=True):
            found.update(zip(table.cells("id"), map(status_of.__getitem__, table.cells("status")), strict=True))
        return found

    def status_values(self) -> Mapping[str, str]:
        """Every task's status value (``done``, ...), by id: as `statuses`, in strings, and with
        no lookup per task (a session compares them all at its start and its end, twice)."""
        return self._status_values

    @functools.cached_property
    def _status_values(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for table, status_of in zip(self.tables, self._status_lookups, strict=True):
            value_of = {cell: status.value for cell, status in status_of.items()}
            found.update(zip(table.cells("id"), map(value_of.__getitem__, table.cells("status")), strict=True))
        return found

    def status_of(self, task_id: str) -> TaskStatus | None:
        found = self._locate(task_id)
        return None if found is None else status_named(found[0].cells("status")[found[1]])

    def task(self, task_id: str) -> Task | None:
        found = self._locate(task_id)
        return None if found is None else _tasks_of(found[0], found[1], found[1] + 1)[0]

    def with_status(self, task_id: str, status: TaskStatus) -> str:
        """The file's text with the status cell of ``task_id`` rewritten, every other byte kept."""
        return self.with_statuses({task_id: status})

    def with_statuses(self, changes: Mapping[str, TaskStatus]) -> str:
        """The file's text with the status cell of each task in ``changes`` rewritten, every other byte kept."""
        lines = list(self.lines)
        for task_id, status in changes.items():
            found = self._locate(task_id)
            if found is None:
                msg = f"{display_path(self.path)}: no task {task_id}"
                raise CoordError(msg)
            table, row = found
            index = table.line_indices[row]
            lines[index] = replace_cell(lines[index], table.header.index("status"), status.value)
        return "".join(lines)

    def write_status(self, task_id: str, status: TaskStatus) -> None:
        """Rewrite the status cell of ``task_id`` on disk, re-reading first if the file changed."""
        self.write_statuses({task_id: status})

    def write_statuses(self, changes: Mapping[str, TaskStatus]) -> None:
        """Rewrite the status cells of ``changes`` on disk in one write, re-reading first if the file changed."""
        try:
            unchanged = self.stat is not None and _stat(self.path) == self.stat
        except OSError:
            unchanged = False
        source = self if unchanged else load(self.path)
        write_atomic(self.path, source.with_statuses(changes).encode("utf-8"))

    def _locate(self, task_id: str) -> tuple[Table, int] | None:
        """The table holding ``task_id``, and its row there."""
        index = self.line_of.get(task_id)
        if index is None:
            return None
        starts = [table.line_indices[0] for table in self.tables]
        table = self.tables[bisect.bisect_right(starts, index) - 1]
        return table, table.row_at(index)


def load(path: Path) -> TasksFile:
    """The tasks file at ``path``; parsed again only when its text changed since this process
    last parsed it (a loop reads it several times per session)."""
    try:
        stat: tuple[int, int] | None = _stat(path)
    except OSError:
        stat = None  # read_text says why
    text = read_text(path, "tasks file", where_set="point mission.yaml's `tasks_file` at a markdown file")
    known = _parsed.get(path)
    if known is not None and known[0] == text:
        known[1].stat = stat
        return known[1]
    tasks = parse(path, text, stat)
    _parsed[path] = (text, tasks)
    return tasks


_parsed: dict[Path, tuple[str, TasksFile]] = {}


def read_tasks(path: Path) -> list[Task]:
    """All tasks of the file at ``path``, in file order."""
    return load(path).tasks


def set_status(path: Path, task_id: str, status: TaskStatus) -> TaskStatus:
    """Rewrite the status cell of ``task_id`` only; returns the status it had before."""
    tasks_file = load(path)
    text = tasks_file.with_status(task_id, status)  # says so when there is no such task
    write_atomic(path, text.encode("utf-8"))
    return cast(TaskStatus, tasks_file.status_of(task_id))


def parse(path: Path, text: str, stat: tuple[int, int] | None = None) -> TasksFile:
    """Parse ``text`` (read from ``path``), reporting every problem at once."""
    label = display_path(path)
    lines = split_lines(text)
    problems: list[str] = []
    with collector_paused():
        found, without_status = read_tables(label, text, lines, "id", "status", problems)
        if not found:
            needs = "a task table is a markdown table whose header has an `id` and a `status` column"
            problems.extend(without_status or [f"{label}: no task table; {needs}, e.g. `| id | status |`"])
        tables = [table for table in found if table.line_indices]
        line_of: dict[str, int] = {}
        for table in tables:
            _index_table(label, table, line_of, problems)
        # A row reported for its number of cells is not reported again by a task that depends on it.
        _check(label, tables, line_of, {cell for table in found for row in table.skipped for cell in row}, problems)
    if problems:
        raise CoordError.from_problems(problems)
    return TasksFile(path, lines, tables, line_of, stat, tuple(without_status))


def _index_table(label: str, table: Table, line_of: dict[str, int], problems: list[str]) -> None:
    """Record where each id stands; report duplicates and unknown statuses with their lines."""
    ids, statuses = table.cells("id"), table.cells("status")
    added = dict(zip(ids, table.line_indices, strict=True))
    if len(added) == len(ids) and (not line_of or line_of.keys().isdisjoint(added)):
        line_of.update(added)
    else:
        for task_id, index in zip(ids, table.line_indices, strict=True):
            first = line_of.setdefault(task_id, index)
            if first != index:
                problems.append(f"{label}:{index + 1}: duplicate task id {task_id} (also on line {first + 1})")
    unknown = {value for value in set(statuses) if status_named(value) is None}
    if not unknown:
        return
    for task_id, value, index in zip(ids, statuses, table.line_indices, strict=True):
        if value in unknown:
            problems.append(
                f"{label}:{index + 1}: task {task_id} has unknown status {value!r}; use one of {KNOWN_STATUSES}"
            )


def _check(label: str, tables: list[Table], line_of: dict[str, int], reported: set[str], problems: list[str]) -> None:
    """Dependencies must name known tasks (or ``reported`` cells); priorities must read."""
    known: Collection[str] = line_of.keys() | reported if reported else line_of
    for table in tables:
        priorities = table.column("priority") or ()
        wrong = {cell for cell in set(priorities) if priority_of(cell) is None}
        if wrong:
            problems.extend(
                f"{label}:{index + 1}: task {task_id} has unknown priority {cell!r}; use {KNOWN_PRIORITIES}"
                for task_id, cell, index in zip(table.cells("id"), priorities, table.line_indices, strict=True)
                if cell in wrong
            )
        depends = table.column("depends_on") or ()
        # Most cells name one known id: a scan in C, in file order, leaves the few worth a look.
        suspects = set(filterfalse(known.__contains__, depends)) - {""}
        suspects = {cell for cell in suspects if not all(map(known.__contains__, split_ids(cell)))}
        if suspects:
            for task_id, cell, index in zip(table.cells("id"), depends, table.line_indices, strict=True):
                if cell in suspects:
                    problems.extend(
                        f"{label}:{index + 1}: task {task_id} depends on unknown task {dependency!r}"
                        for dependency in split_ids(cell)
                        if dependency not in known
                    )


def _tasks_of(table: Table, first: int = 0, last: int | None = None) -> list[Task]:
    """The tasks of rows ``first`` to ``last``, built a column at a time."""
    columns = [values[first:last] for values in table.columns]
    named = dict(zip(reversed(table.header), reversed(columns), strict=True))  # the first column of a name wins
    blank = [""] * len(table.line_indices[first:last])
    status_of = status_lookup(named["status"])
    return list(
        map(
            Task._make,
            zip(
                named["id"],
                map(status_of.__getitem__, named["status"]),
                [value or None for value in named.get("milestone", blank)],
                named.get("description", blank),
                list(map(split_ids, named.get("depends_on", blank))),
                [index + 1 for index in table.line_indices[first:last]],
                zip(*columns, strict=True),
                repeat(table.header),
                strict=False,  # repeat() is endless; the other columns have one entry per row
            ),
        )
    )


def _stat(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_mtime_ns, info.st_size
