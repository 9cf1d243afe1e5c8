from __future__ import annotations

from pathlib import Path

import pytest

from mosaic_invoke._mission import Milestone, MilestoneStatus, Mission
from mosaic_invoke._selection import Progress, current_milestone, milestone_status, next_runnable
from mosaic_invoke._tasksfile import Task, TasksFile, parse


def tasks(*rows: tuple[str, str, str] | tuple[str, str, str, str]) -> TasksFile:
    """A tasks file from (id, status, milestone[, depends_on]) rows."""
    lines = ["| id | status | milestone | depends_on |", "|---|---|---|---|"]
    lines += [f"| {row[0]} | {row[1]} | {row[2]} | {row[3] if len(row) > 3 else ''} |" for row in rows]
    return parse(Path("TASKS.md"), "\n".join(lines) + "\n")


def mission(*milestones: Milestone) -> Mission:
    return Mission(
        root=Path("/p"), config_path=Path("/p/.mosaic/mission.yaml"), id="m", name="M", milestones=milestones
    )


M1 = Milestone(id="M1", name="One")
M2 = Milestone(id="M2", name="Two")


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([], MilestoneStatus.PENDING, id="no-tasks"),
        pytest.param(["not-started", "not-started"], MilestoneStatus.PENDING, id="pending"),
        pytest.param(["done", "not-started"], MilestoneStatus.IN_PROGRESS, id="started"),
        pytest.param(["blocked"], MilestoneStatus.IN_PROGRESS, id="blocked"),
        pytest.param(["done", "cancelled"], MilestoneStatus.DONE, id="done"),
    ],
)
def test_milestone_status_is_derived_from_its_tasks(statuses: list[str], expected: MilestoneStatus) -> None:
    rows = [(f"T-{n}", status, "M1") for n, status in enumerate(statuses)] + [("X", "done", "M2")]
    assert milestone_status(M1, tasks(*rows).counts()) is expected


def test_an_explicit_milestone_status_wins() -> None:
    pinned = Milestone(id="M1", name="One", status=MilestoneStatus.PENDING)
    assert milestone_status(pinned, tasks(("T", "done", "M1")).counts()) is MilestoneStatus.PENDING


def test_current_milestone_is_the_first_in_progress_else_the_first_pending() -> None:
    m3 = Milestone(id="M3", name="Three")
    assert current_milestone(mission(M1, M2), tasks(("A", "done", "M1"), ("B", "not-started", "M2")).counts()) == M2
    counts = tasks(("A", "done", "M1"), ("B", "not-started", "M2"), ("C", "in-progress", "M3")).counts()
    assert current_milestone(mission(M1, M2, m3), counts) == m3
    assert current_milestone(mission(M1), tasks(("A", "done", "M1")).counts()) is None


def test_progress_counts_cancelled_tasks_in_the_total_and_floors_the_percent() -> None:
    progress = Progress.of(tasks(("A", "done", "M1"), ("B", "cancelled", "M1"), ("C", "Done", "")).counts())
    assert (progress.done, progress.total, progress.pct) == (2, 3, 66)


def found(result: Task | str) -> str:
    assert isinstance(result, Task), result
    return result.id


def test_next_runnable_waits_for_dependencies_in_file_order() -> None:
    file = tasks(("A", "done", "M1"), ("B", "not-started", "M1", "C"), ("C", "not-started", "M1", "A"))
    assert found(next_runnable(file, M1)) == "C"


def test_a_cut_off_in_progress_task_comes_first() -> None:
    assert found(next_runnable(tasks(("A", "not-started", "M1"), ("B", "in-progress", "M1")), M1)) == "B"


def test_only_the_milestone_is_searched() -> None:
    file = tasks(("A", "not-started", "M2"), ("B", "not-started", ""))
    assert next_runnable(file, M1) == "no tasks in milestone M1 (One)"
    assert found(next_runnable(file, None)) == "A"


def test_why_nothing_is_runnable() -> None:
    assert next_runnable(tasks(("A", "done", "M1"), ("B", "cancelled", "M1")), M1) == (
        "every task in milestone M1 (One) is done or cancelled"
    )
    assert next_runnable(tasks(("A", "failed", "M1"), ("B", "not-started", "M1", "A")), None) == (
        "no runnable task in the tasks file: B waits on A (failed); A is failed"
    )
