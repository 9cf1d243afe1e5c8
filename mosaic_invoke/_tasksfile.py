"""The markdown tasks file: parse every task table, and rewrite one status cell."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ._exceptions import CoordError
from ._files import display_path, read_text, write_atomic


class TaskStatus(str, enum.Enum):
    NOT_STARTED = "not-started"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


_STATUSES = {status.value: status for status in TaskStatus}
_KNOWN_STATUSES = ", ".join(_STATUSES)
_SEPARATOR_CELL = re.compile(r"\s*:?-+:?\s*")


@dataclass(frozen=True, kw_only=True, slots=True)
class Task:
    id: str
    status: TaskStatus
    milestone: str | None
    description: str
    depends_on: tuple[str, ...]
    columns: Mapping[str, str]
    """Every cell of the row, keyed by its lower-case header."""
    line: int


@dataclass(frozen=True, slots=True)
class _Row:
    task: Task
    index: int
    """Index of the row's line in the file."""
    status_span: tuple[int, int]
    """Where the status cell's text (between its pipes) stands in that line."""


@dataclass(frozen=True, slots=True)
class TasksFile:
    path: Path
    lines: list[str]
    rows: dict[str, _Row]

    @property
    def tasks(self) -> list[Task]:
        return [row.task for row in self.rows.values()]


def read_tasks(path: Path) -> list[Task]:
    """All tasks of the file at ``path``, in file order."""
    return parse(path, read_text(path, "tasks file")).tasks


def parse(path: Path, text: str) -> TasksFile:
    """Parse ``text`` (read from ``path``), reporting every problem at once."""
    label = display_path(path)
    lines = text.splitlines(keepends=True)
    problems: list[str] = []
    rows: dict[str, _Row] = {}
    index, count = 0, len(lines)
    while index < count:
        if not _is_row(lines[index]) or index + 1 >= count or not _is_separator(lines[index + 1]):
            index += 1
            continue
        header = [lines[index][start:end].strip().lower() for start, end in _cells(lines[index])]
        index += 2
        is_task_table = "id" in header and "status" in header
        while index < count and _is_row(lines[index]):
            if is_task_table:
                _parse_row(label, lines[index], index, header, rows, problems)
            index += 1
    for row in rows.values():
        for dependency in row.task.depends_on:
            if dependency not in rows:
                problems.append(f"{label}:{row.task.line}: task {row.task.id} depends on unknown task {dependency!r}")
    if problems:
        raise CoordError.from_problems(problems)
    return TasksFile(path, lines, rows)


def _parse_row(
    label: str, line: str, index: int, header: list[str], rows: dict[str, _Row], problems: list[str]
) -> None:
    number = index + 1
    spans = _cells(line)
    cells = [line[start:end].strip() for start, end in spans]
    if len(cells) != len(header):
        if not any(cells):
            return
        problems.append(
            f"{label}:{number}: row has {len(cells)} cells but the table header has {len(header)}; "
            "add or remove `|` so they match"
        )
        return
    columns = dict(zip(header, cells, strict=True))
    task_id = columns["id"]
    if not task_id:
        if any(cells):
            problems.append(f"{label}:{number}: row has no task id")
        return
    status = _STATUSES.get(columns["status"].lower())
    if status is None:
        problems.append(
            f"{label}:{number}: task {task_id} has unknown status {columns['status']!r}; use one of {_KNOWN_STATUSES}"
        )
        return
    if task_id in rows:
        first = rows[task_id].task.line
        problems.append(f"{label}:{number}: duplicate task id {task_id} (also on line {first})")
        return
    depends = columns.get("depends_on", "")
    task = Task(
        id=task_id,
        status=status,
        milestone=columns.get("milestone") or None,
        description=columns.get("description", ""),
        depends_on=tuple(part.strip() for part in depends.split(",") if part.strip()),
        columns=MappingProxyType(columns),
        line=number,
    )
    rows[task_id] = _Row(task, index, spans[header.index("status")])


def set_status(path: Path, task_id: str, status: TaskStatus) -> TaskStatus:
    """Rewrite the status cell of ``task_id`` only; returns the status it had before."""
    tasks_file = parse(path, read_text(path, "tasks file"))
    row = tasks_file.rows.get(task_id)
    if row is None:
        msg = f"{display_path(path)}: no task {task_id}"
        raise CoordError(msg)
    line = tasks_file.lines[row.index]
    start, end = row.status_span
    lines = list(tasks_file.lines)
    lines[row.index] = line[:start] + _fit(line[start:end], status.value) + line[end:]
    write_atomic(path, "".join(lines).encode("utf-8"))
    return row.task.status


def _fit(cell: str, value: str) -> str:
    """``value`` in place of the cell's text, keeping its padding (and so the column width)."""
    text = cell.strip()
    if not text:
        return f" {value} " if cell else value
    lead = cell[: len(cell) - len(cell.lstrip())]
    trail = cell[len(cell.rstrip()) :]
    # Keep the cell's width where the new value fits, so aligned tables stay aligned.
    width = max(len(cell) - len(lead) - len(value), 1 if trail else 0)
    return lead + value + " " * width


def _is_row(line: str) -> bool:
    return line.lstrip().startswith("|")


def _is_separator(line: str) -> bool:
    spans = _cells(line)
    return bool(spans) and all(_SEPARATOR_CELL.fullmatch(line[start:end]) for start, end in spans)


def _cells(line: str) -> list[tuple[int, int]]:
    """Spans of the cells of a table row, between its unescaped pipes."""
    content_end = len(line.rstrip("\r\n"))
    start = line.index("|") + 1
    if "\\" in line:
        pipes = [i for i in range(start, content_end) if line[i] == "|" and line[i - 1] != "\\"]
    else:
        pipes = []
        position = line.find("|", start, content_end)
        while position != -1:
            pipes.append(position)
            position = line.find("|", position + 1, content_end)
    spans = []
    for pipe in pipes:
        spans.append((start, pipe))
        start = pipe + 1
    if line[start:content_end].strip():
        spans.append((start, content_end))
    return spans
