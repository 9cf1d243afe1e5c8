"""One task: the statuses it can have, its row as a value, and the ids its dependencies name."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import NamedTuple, cast


class TaskStatus(str, enum.Enum):
    NOT_STARTED = "not-started"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


STATUSES = {status.value: status for status in TaskStatus}
KNOWN_STATUSES = ", ".join(STATUSES)


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

    @property
    def paths(self) -> tuple[str, ...]:
        """The globs of the optional ``paths`` column: the files the task may touch (lanes keep
        tasks whose globs overlap apart)."""
        if "paths" not in self.header:
            return ()
        return split_ids(self.cells[self.header.index("paths")])


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
        return split_ids(self.depends_on)


def status_lookup(values: Sequence[str]) -> dict[str, TaskStatus]:
    """Each distinct status cell of a parsed (so valid) column, to its status."""
    return {value: cast(TaskStatus, status_named(value)) for value in set(values)}


def status_named(value: str) -> TaskStatus | None:
    """The status a cell names (exactly, else in another case)."""
    return STATUSES.get(value) or STATUSES.get(value.lower())


def split_ids(cell: str) -> tuple[str, ...]:
    """The ids a (stripped) depends_on cell names, or the globs of a paths cell; most cells name one, or none."""
    if "," not in cell:
        return (cell,) if cell else ()
    return tuple(part.strip() for part in cell.split(",") if part.strip())
