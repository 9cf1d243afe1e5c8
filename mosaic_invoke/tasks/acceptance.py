"""A task's acceptance criteria: its `acceptance` cell, and `acceptance:` lines under a heading
that names it (``### T-003: Login form``), for criteria too long for a table cell."""

from __future__ import annotations

import re
from collections.abc import Iterator
from operator import itemgetter

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
    lines = tasks.lines
    # Headings are few: found by the first character of each line, in C (a line keeps its end,
    # so it is never empty); the file's text is looked at only when one names the task.
    first_chars = "".join(map(itemgetter(0), lines))
    maybe = sorted({*_found(first_chars, "#"), *_found(first_chars, " ")})
    titles = {index: heading.group(1) or "" for index in maybe if (heading := _HEADING.match(lines[index]))}
    if not any(_names(title, task_id) for title in titles.values()):
        return []
    text = "".join(lines)
    fences = fenced_blocks(text) if "```" in text or "~~~" in text else []
    fenced = {index for first, end in fences for index in range(first, end)}
    headings = [index for index in titles if index not in fenced]
    found: list[str] = []
    for at, index in enumerate(headings):
        if not _names(titles[index], task_id):
            continue
        end = headings[at + 1] if at + 1 < len(headings) else len(lines)
        for number in range(index + 1, end):
            criterion = None if number in fenced else _CRITERION.match(lines[number])
            if criterion is not None and criterion.group(1).strip():
                found.append(criterion.group(1).strip())
    return found


def _found(text: str, char: str) -> Iterator[int]:
    at = text.find(char)
    while at != -1:
        yield at
        at = text.find(char, at + 1)


def _names(heading: str, task_id: str) -> bool:
    """Whether a heading's first word is ``task_id`` (``T-003``, ``T-003:``, ```T-003```...)."""
    first = heading.split(maxsplit=1)[0] if heading.strip() else ""
    return first.strip(_AROUND_ID).rstrip(_AFTER_ID).strip(_AROUND_ID) == task_id
