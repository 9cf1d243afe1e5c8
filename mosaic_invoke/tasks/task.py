"""One task: the statuses it can have, its row as a value, and the ids its dependencies name."""

from __future__ import annotations

import enum
import math
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
PRIORITY_WORDS = {"high": 1, "medium": 2, "low": 3}
DEFAULT_PRIORITY = PRIORITY_WORDS["medium"]
KNOWN_PRIORITIES = "high, medium, low or a number (lower runs first)"
Priority = int | float


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

    def cell(self, name: str) -> str:
        """The cell of column ``name`` (the first of that name); empty when there is no such column."""
        return self.cells[self.header.index(name)] if name in self.header else ""

    @property
    def priority(self) -> Priority:
        """Its rank: lower runs first; a task that gives none is medium."""
        rank = priority_of(self.cell("priority"))
        return DEFAULT_PRIORITY if rank is None else rank

    @property
    def paths(self) -> tuple[str, ...]:
        """The globs of the optional ``paths`` column: the files the task may touch (lanes keep
        tasks whose globs overlap apart)."""
        return split_ids(self.cell("paths"))


class Row(NamedTuple):
    """What choosing the next task needs of a row: cheaper than a `Task`."""

    id: str
    status: TaskStatus
    milestone: str
    """The cell as written; empty when the task has no milestone."""
    depends_on: str
    """The cell as written: comma-separated ids."""
    priority: str = ""
    """The cell as written (checked when the file was read)."""

    @property
    def dependencies(self) -> tuple[str, ...]:
        return split_ids(self.depends_on)

    @property
    def rank(self) -> Priority:
        rank = priority_of(self.priority)
        return DEFAULT_PRIORITY if rank is None else rank


def status_lookup(values: Sequence[str]) -> dict[str, TaskStatus]:
    """Each distinct status cell of a parsed (so valid) column, to its status."""
    return {value: cast(TaskStatus, status_named(value)) for value in set(values)}


def status_named(value: str) -> TaskStatus | None:
    """The status a cell names (exactly, else in another case)."""
    return STATUSES.get(value) or STATUSES.get(value.lower())


def priority_of(cell: str) -> Priority | None:
    """The rank a (stripped) priority cell gives: `high` 1, `medium` 2, `low` 3, a number as
    written, medium when empty; None when it is none of these."""
    if not cell:
        return DEFAULT_PRIORITY
    word = PRIORITY_WORDS.get(cell.lower())
    if word is not None:
        return word
    try:
        number = float(cell)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


def priority_name(rank: Priority) -> str:
    """``high`` for 1 and so on; other ranks as numbers."""
    words: dict[Priority, str] = {value: word for word, value in PRIORITY_WORDS.items()}
    return words.get(rank, str(rank))


def split_ids(cell: str) -> tuple[str, ...]:
    """The ids a (stripped) depends_on cell names, or the globs of a paths cell; most cells name one, or none."""
    if "," not in cell:
        return (cell,) if cell else ()
    return tuple(part.strip() for part in cell.split(",") if part.strip())
