from __future__ import annotations

from pathlib import Path

from mosaic_invoke.tasks.acceptance import criteria
from mosaic_invoke.tasks.tasksfile import parse

TABLE = """\
# Tasks

| id | status | acceptance |
|---|---|---|
| T-001 | done | |
| T-002 | not-started | `make test` passes |
| T-003 | not-started | |
"""


def criteria_of(text: str, task_id: str) -> tuple[str, ...]:
    tasks = parse(Path("TASKS.md"), text)
    task = tasks.task(task_id)
    assert task is not None
    return criteria(tasks, task)


def test_the_acceptance_cell_is_a_criterion_and_an_empty_one_is_none() -> None:
    assert criteria_of(TABLE, "T-002") == ("`make test` passes",)
    assert criteria_of(TABLE, "T-003") == ()


def test_acceptance_lines_under_a_heading_naming_the_task_follow_its_cell() -> None:
    text = TABLE + (
        "\n## T-002: Login form\n\nSome prose about acceptance in general.\n"
        "acceptance: an empty password is refused\n"
        "- Acceptance: errors show under the field\n"
        "acceptance:   \n"
        "```\nacceptance: an example, not a criterion\n```\n"
        "### Notes\nacceptance: under another heading: not T-002's\n"
        "## **T-003**\n* acceptance: the parser reads CRLF\n"
        "## T-0020\nacceptance: another task whose id starts the same\n"
        "~~~\n## T-003\nacceptance: a heading in an example names no task\n~~~\n"
    )
    assert criteria_of(text, "T-002") == (
        "`make test` passes",
        "an empty password is refused",
        "errors show under the field",
    )
    assert criteria_of(text, "T-003") == ("the parser reads CRLF",)
    assert criteria_of(text, "T-001") == ()


def test_a_file_without_the_word_has_no_criteria() -> None:
    assert criteria_of("| id | status |\n|---|---|\n| A | done |\n\n## A\n- must work\n", "A") == ()
