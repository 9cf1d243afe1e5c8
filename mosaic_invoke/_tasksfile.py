"""The markdown tasks file: parse every task table, and rewrite one status cell.

Missions reach 100k tasks, so a well-formed table is parsed a column at a time: one
``str.split("|")`` over the whole table, then slices, all in C. Tables that need more care
(escaped pipes, rows with the wrong number of cells) take a row-by-row path that names
each problem's line.
"""

from __future__ import annotations

import bisect
import enum
import functools
import os
import re
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from itertools import compress, filterfalse, repeat
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple, cast

from ._exceptions import CoordError
from ._files import collector_paused, display_path, read_text, write_atomic


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


class Task(NamedTuple):
    """One row of a task table. Immutable; a NamedTuple because 100k of them build
    several times faster than frozen dataclasses."""

    id: str
    status: TaskStatus
    milestone: str | None
    description: str
    depends_on: tuple[str, ...]
    line: int
    cells: tuple[str, ...]
    header: tuple[str, ...]

    @property
    def columns(self) -> dict[str, str]:
        """Every cell of the row, keyed by its lower-case header."""
        return dict(zip(self.header, self.cells, strict=True))


class Row(NamedTuple):
    """What choosing the next task needs of a row: cheaper than a `Task`."""

    id: str
    status: TaskStatus
    milestone: str
    """The cell as written; empty when the task has no milestone."""
    depends_on: str
    """The cell as written: comma-separated ids."""

    @property
    def dependencies(self) -> tuple[str, ...]:
        return _split_ids(self.depends_on)


class _Table(NamedTuple):
    header: tuple[str, ...]
    columns: list[Sequence[str]]
    """The stripped cells, one sequence per header column."""
    line_indices: Sequence[int]
    """Index in the file of each row's line."""

    def column(self, name: str) -> Sequence[str] | None:
        return self.columns[self.header.index(name)] if name in self.header else None

    @property
    def ids(self) -> Sequence[str]:
        return self.columns[self.header.index("id")]

    @property
    def statuses(self) -> Sequence[str]:
        return self.columns[self.header.index("status")]

    def row_at(self, index: int) -> int:
        """The row whose line is ``index`` in the file."""
        return bisect.bisect_left(self.line_indices, index)


class TasksFile:
    """A parsed tasks file: its text, its task tables, and where each task's row is."""

    def __init__(
        self,
        path: Path,
        lines: list[str],
        tables: list[_Table],
        line_of: dict[str, int],
        stat: tuple[int, int] | None = None,
    ) -> None:
        self.path = path
        self.lines = lines
        self.tables = tables
        self.line_of = line_of
        self._stat = stat
        """The file's (mtime, size) taken before it was read: a later change means re-read."""
        self._tasks: list[Task] | None = None

    @property
    def tasks(self) -> list[Task]:
        """All tasks, in file order (built on first use)."""
        if self._tasks is None:
            with collector_paused():
                self._tasks = [task for table in self.tables for task in _tasks_of(table)]
        return self._tasks

    def counts(self) -> Counter[tuple[str | None, TaskStatus]]:
        """How many tasks have each (milestone, status), counted a column at a time."""
        counts: Counter[tuple[str | None, TaskStatus]] = Counter()
        for table, status_of in zip(self.tables, self._status_lookups, strict=True):
            statuses = table.statuses
            milestones = table.column("milestone") or repeat("", len(statuses))
            for (milestone, value), count in Counter(zip(milestones, statuses, strict=True)).items():
                counts[milestone or None, status_of[value]] += count
        return counts

    @functools.cached_property
    def _status_lookups(self) -> list[dict[str, TaskStatus]]:
        """Each table's distinct status cells, to their statuses: made once, used by every count."""
        return [_status_lookup(table.statuses) for table in self.tables]

    def rows(self, statuses: Collection[TaskStatus], milestone: str | None = None) -> Iterator[Row]:
        """The id, status, milestone and dependencies of each task with one of ``statuses`` (and in
        ``milestone`` when given), in file order. Rows are chosen a column at a time and only
        the chosen ones are built: a large file has few that matter."""
        for table, status_of in zip(self.tables, self._status_lookups, strict=True):
            ids, values = table.ids, table.statuses
            wanted = {value for value, status in status_of.items() if status in statuses}
            milestones = table.column("milestone")
            depends_on = table.column("depends_on")
            if milestone is None:
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
                )

    def status_of(self, task_id: str) -> TaskStatus | None:
        index = self.line_of.get(task_id)
        if index is None:
            return None
        table = self._table_at(index)
        return _known_status(table.statuses[table.row_at(index)])

    def task(self, task_id: str) -> Task | None:
        index = self.line_of.get(task_id)
        if index is None:
            return None
        table = self._table_at(index)
        row = table.row_at(index)
        return _tasks_of(table, row, row + 1)[0]

    def _table_at(self, index: int) -> _Table:
        starts = [table.line_indices[0] for table in self.tables]
        return self.tables[bisect.bisect_right(starts, index) - 1]

    def with_status(self, task_id: str, status: TaskStatus) -> str:
        """The file's text with the status cell of ``task_id`` rewritten, every other byte kept."""
        index = self.line_of.get(task_id)
        if index is None:
            msg = f"{display_path(self.path)}: no task {task_id}"
            raise CoordError(msg)
        line = self.lines[index]
        start, end = _cells(line)[self._table_at(index).header.index("status")]
        lines = list(self.lines)
        lines[index] = line[:start] + _fit(line[start:end], status.value) + line[end:]
        return "".join(lines)

    def write_status(self, task_id: str, status: TaskStatus) -> None:
        """Rewrite the status cell of ``task_id`` on disk, re-reading first if the file changed."""
        try:
            unchanged = self._stat is not None and _stat(self.path) == self._stat
        except OSError:
            unchanged = False
        source = self if unchanged else load(self.path)
        write_atomic(self.path, source.with_status(task_id, status).encode("utf-8"))


def load(path: Path) -> TasksFile:
    try:
        stat: tuple[int, int] | None = _stat(path)
    except OSError:
        stat = None  # read_text says why
    return parse(path, read_text(path, "tasks file"), stat)


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
    with collector_paused():
        return _parse(path, text, stat)


def _parse(path: Path, text: str, stat: tuple[int, int] | None) -> TasksFile:
    label = display_path(path)
    lines = text.splitlines(keepends=True)
    first_chars = "".join(map(itemgetter(0), lines))  # a line is never empty: it keeps its end
    problems: list[str] = []
    tables: list[_Table] = []
    line_of: dict[str, int] = {}
    index, count = 0, len(lines)
    while index < count:
        if not _is_row(lines[index]) or index + 1 >= count or not _is_separator(lines[index + 1]):
            index += 1
            continue
        header = tuple(lines[index][start:end].strip().lower() for start, end in _cells(lines[index]))
        start = end = index + 2
        while True:
            # Most rows start with their pipe: found in C, the indented ones one at a time.
            other = _NOT_PIPE.search(first_chars, end)
            end = other.start() if other else count
            if end >= count or not _is_row(lines[end]):
                break
            end += 1
        index = end
        if start == end or "id" not in header or "status" not in header:
            continue
        table = _fast_table(header, lines, start, end) or _slow_table(label, header, lines, start, end, problems)
        if table is not None:
            _index_table(label, table, line_of, problems)
            tables.append(table)
    _check(label, tables, line_of, problems)
    if problems:
        raise CoordError.from_problems(problems)
    return TasksFile(path, lines, tables, line_of, stat)


def _fast_table(header: tuple[str, ...], lines: list[str], start: int, end: int) -> _Table | None:
    """Parse a well-formed table a column at a time, or None if it needs the row-by-row path."""
    block = "".join(lines[start:end])
    if "\\" in block:
        return None
    parts = block.split("|")
    width, rows = len(header), end - start
    stride = width + 1
    if len(parts) != 1 + rows * stride or parts[0].strip():
        return None
    # What stands between one row's last pipe and the next row's first: white space with
    # exactly one line break. Anything else (a cell too many or too few) misaligns the stride.
    separators = Counter(parts[stride::stride])
    if any(sep.strip() for sep in separators):
        return None
    if sum(sep.count("\n") * n for sep, n in separators.items()) != block.count("\n"):
        return None
    without_break = sum(n for sep, n in separators.items() if "\n" not in sep)
    if without_break > 1 or (without_break == 1 and "\n" in parts[-1]):
        return None  # only the last row, at the end of the file, may lack its line break
    columns: list[Sequence[str]] = [list(map(str.strip, parts[1 + column :: stride])) for column in range(width)]
    if "" in columns[header.index("id")]:
        return None  # blank rows and rows without an id: the row-by-row path says which
    return _Table(header, columns, range(start, end))


def _slow_table(
    label: str, header: tuple[str, ...], lines: list[str], start: int, end: int, problems: list[str]
) -> _Table | None:
    rows: list[tuple[str, ...]] = []
    line_indices: list[int] = []
    for index in range(start, end):
        line = lines[index]
        cells = tuple(line[a:b].strip() for a, b in _cells(line))
        if not any(cells):
            continue
        if len(cells) != len(header):
            problems.append(
                f"{label}:{index + 1}: row has {len(cells)} cells but the table header has {len(header)}; "
                "add or remove `|` so they match"
            )
            continue
        if not cells[header.index("id")]:
            problems.append(f"{label}:{index + 1}: row has no task id")
            continue
        rows.append(cells)
        line_indices.append(index)
    if not rows:
        return None
    return _Table(header, [list(column) for column in zip(*rows, strict=True)], line_indices)


def _index_table(label: str, table: _Table, line_of: dict[str, int], problems: list[str]) -> None:
    """Record where each id stands; report duplicates and unknown statuses with their lines."""
    ids, statuses = table.ids, table.statuses
    added = dict(zip(ids, table.line_indices, strict=True))
    if len(added) == len(ids) and (not line_of or line_of.keys().isdisjoint(added)):
        line_of.update(added)
    else:
        for task_id, index in zip(ids, table.line_indices, strict=True):
            first = line_of.setdefault(task_id, index)
            if first != index:
                problems.append(f"{label}:{index + 1}: duplicate task id {task_id} (also on line {first + 1})")
    unknown = {value for value in set(statuses) if _status(value) is None}
    if not unknown:
        return
    for task_id, value, index in zip(ids, statuses, table.line_indices, strict=True):
        if value in unknown:
            problems.append(
                f"{label}:{index + 1}: task {task_id} has unknown status {value!r}; use one of {_KNOWN_STATUSES}"
            )


def _check(label: str, tables: list[_Table], line_of: dict[str, int], problems: list[str]) -> None:
    """Dependencies must name known tasks."""
    for table in tables:
        depends = table.column("depends_on")
        if depends is None:
            continue
        # Most cells name one known id: a scan in C, in file order, leaves the few worth a look.
        suspects = set(filterfalse(line_of.__contains__, depends))
        suspects.discard("")
        unknown = {cell for cell in suspects if any(d not in line_of for d in _split_ids(cell))}
        if not unknown:
            continue
        for task_id, cell, index in zip(table.ids, depends, table.line_indices, strict=True):
            if cell in unknown:
                for dependency in _split_ids(cell):
                    if dependency not in line_of:
                        problems.append(f"{label}:{index + 1}: task {task_id} depends on unknown task {dependency!r}")


def _tasks_of(table: _Table, first: int = 0, last: int | None = None) -> list[Task]:
    """The tasks of rows ``first`` to ``last``, built a column at a time."""
    header = table.header

    def column(name: str) -> Sequence[str]:
        values = table.column(name)
        return values[first:last] if values is not None else list(repeat("", len(table.line_indices[first:last])))

    statuses = column("status")
    status_of = _status_lookup(statuses)
    return list(
        map(
            Task._make,
            zip(
                column("id"),
                map(status_of.__getitem__, statuses),
                [value or None for value in column("milestone")],
                column("description"),
                list(map(_split_ids, column("depends_on"))),
                [index + 1 for index in table.line_indices[first:last]],
                zip(*(values[first:last] for values in table.columns), strict=True),
                repeat(header),
                strict=False,  # repeat() is endless; the other columns have one entry per row
            ),
        )
    )


def _status_lookup(values: Sequence[str]) -> dict[str, TaskStatus]:
    """Each distinct status cell of a parsed (so valid) column, to its status."""
    return {value: _known_status(value) for value in set(values)}


def _known_status(value: str) -> TaskStatus:
    """The status of a cell the parser accepted (exact, else case-insensitive)."""
    return _STATUSES.get(value) or _STATUSES[value.lower()]


def _status(value: str) -> TaskStatus | None:
    return _STATUSES.get(value) or _STATUSES.get(value.lower())


def _split_ids(cell: str) -> tuple[str, ...]:
    """The ids a (stripped) depends_on cell names; most cells name one, or none."""
    if "," not in cell:
        return (cell,) if cell else ()
    return tuple(part.strip() for part in cell.split(",") if part.strip())


def _stat(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_mtime_ns, info.st_size


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


_NOT_PIPE = re.compile(r"[^|]")


def _is_row(line: str) -> bool:
    return line.lstrip().startswith("|")


def _is_separator(line: str) -> bool:
    spans = _cells(line)
    return bool(spans) and all(_is_rule(line[start:end].strip()) for start, end in spans)


def _is_rule(cell: str) -> bool:
    """A separator cell: dashes, with a colon at either end for alignment (``:---:``)."""
    core = cell.removeprefix(":").removesuffix(":")
    return bool(core) and not core.strip("-")


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
