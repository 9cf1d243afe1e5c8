from __future__ import annotations

from pathlib import Path

import pytest

from mosaic_invoke._config import Milestone, MilestoneStatus, Mission
from mosaic_invoke._selection import current_milestone, milestone_status, next_runnable
from mosaic_invoke._tasksfile import Task, TaskStatus


def make(task_id: str, status: str, milestone: str | None = "M1", depends: tuple[str, ...] = ()) -> Task:
    return Task(
        id=task_id,
        status=TaskStatus(status),
        milestone=milestone,
        description="",
        depends_on=depends,
        line=1,
        cells=(),
        header=(),
    )


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
    tasks = [make(f"T-{n}", s) for n, s in enumerate(statuses)] + [make("X", "done", "M2")]
    assert milestone_status(M1, tasks) is expected


def test_an_explicit_milestone_status_wins() -> None:
    pinned = Milestone(id="M1", name="One", status=MilestoneStatus.PENDING)
    assert milestone_status(pinned, [make("T", "done")]) is MilestoneStatus.PENDING


def test_current_milestone_is_the_first_in_progress_else_the_first_pending() -> None:
    tasks = [make("A", "done", "M1"), make("B", "not-started", "M2")]
    assert current_milestone(mission(M1, M2), tasks) == M2
    tasks.append(make("C", "in-progress", "M3"))
    m3 = Milestone(id="M3", name="Three")
    assert current_milestone(mission(M1, M2, m3), tasks) == m3
    assert current_milestone(mission(M1), [make("A", "done")]) is None


def test_next_runnable_waits_for_dependencies_in_file_order() -> None:
    tasks = [make("A", "done"), make("B", "not-started", depends=("C",)), make("C", "not-started", depends=("A",))]
    found = next_runnable(tasks, M1)
    assert isinstance(found, Task)
    assert found.id == "C"


def test_a_cut_off_in_progress_task_comes_first() -> None:
    tasks = [make("A", "not-started"), make("B", "in-progress")]
    found = next_runnable(tasks, M1)
    assert isinstance(found, Task)
    assert found.id == "B"


def test_only_the_milestone_is_searched() -> None:
    tasks = [make("A", "not-started", "M2"), make("B", "not-started", None)]
    assert next_runnable(tasks, M1) == "no tasks in milestone M1 (One)"
    found = next_runnable(tasks, None)
    assert isinstance(found, Task)
    assert found.id == "A"


def test_why_nothing_is_runnable() -> None:
    assert next_runnable([make("A", "done"), make("B", "cancelled")], M1) == (
        "every task in milestone M1 (One) is done or cancelled"
    )
    assert next_runnable([make("A", "failed"), make("B", "not-started", depends=("A",))], None) == (
        "no runnable task in the tasks file: B waits on A (failed); A is failed"
    )
