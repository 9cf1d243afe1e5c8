"""A task's acceptance criteria: its `acceptance` cell, and `acceptance:` lines under a heading
that names it (``### T-003: Login form``), for criteria too long for a table cell."""

from __future__ import annotations

import re

from mosaic_invoke.tasks.markdown import fenced_blocks
from mosaic_invoke.tasks.task import Task
from mosaic_invoke.tasks.tasksfile import TasksFile

_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]+(.*?))?[ \t#]*\r?\n?$")
_CRITERION = re.compile(r"[ \t]*(?:[-*+][ \t]+)?acceptance[ \t]*:(.*)", re.IGNORECASE | re.DOTALL)
_AROUND_ID = "*_`[]"
_AFTER_ID = ":.,;—–-"


def criteria(tasks: TasksFile, task: Task) -> tuple[str, ...]:
    """What ``task`` must do to be accepted, in file order: its cell, then its heading's lines."""
    found = [task.cell("acceptance")] if task.cell("acceptance") else []
    return (*found, *_under_heading(tasks, task.id))


def _under_heading(tasks: TasksFile, task_id: str) -> list[str]:
    """The ``acceptance:`` lines between a heading whose first word is ``task_id`` and the next
    heading, outside fenced code blocks (an example there is not a criterion)."""
    text = "".join(tasks.lines)
    if "acceptance" not in text.lower():  # most files have none: one scan in C
        return []
    fenced = {index for first, end in fenced_blocks(text) for index in range(first, end)}
    found: list[str] = []
    inside = False
    for index, line in enumerate(tasks.lines):
        if index in fenced:
            continue
        heading = _HEADING.match(line) if line.lstrip(" ").startswith("#") else None
        if heading is not None:
            inside = _names(heading.group(1) or "", task_id)
            continue
        criterion = _CRITERION.match(line) if inside else None
        if criterion is not None and criterion.group(1).strip():
            found.append(criterion.group(1).strip())
    return found


def _names(heading: str, task_id: str) -> bool:
    """Whether a heading's first word is ``task_id`` (``T-003``, ``T-003:``, ```T-003```...)."""
    first = heading.split(maxsplit=1)[0] if heading.strip() else ""
    return first.strip(_AROUND_ID).rstrip(_AFTER_ID).strip(_AROUND_ID) == task_id
