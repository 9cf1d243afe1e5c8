from __future__ import annotations

from pathlib import Path

import pytest

from mosaic_invoke.config.mission import Milestone, MilestoneStatus, Mission
from mosaic_invoke.errors import CoordError
from mosaic_invoke.tasks.selection import (
    Progress,
    check_milestones,
    current_milestone,
    milestone_status,
    next_runnable,
    open_dependencies,
    runnable,
)
from mosaic_invoke.tasks.tasksfile import Task, TasksFile, TaskStatus, load, parse, set_status


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


M3 = Milestone(id="M3", name="Three")
FLAT = mission()
"""A mission without milestones: every task is searched."""


def test_next_runnable_waits_for_dependencies_in_file_order() -> None:
    file = tasks(("A", "done", "M1"), ("B", "not-started", "M1", "C"), ("C", "not-started", "M1", "A"))
    assert found(next_runnable(mission(M1), file)) == "C"


def test_a_cut_off_in_progress_task_comes_first() -> None:
    assert found(next_runnable(FLAT, tasks(("A", "not-started", "M1"), ("B", "in-progress", "M1")))) == "B"


def test_the_task_of_the_live_session_is_never_next() -> None:
    file = tasks(("A", "in-progress", "M1"), ("B", "not-started", "M1"), ("C", "not-started", "M1", "A"))
    assert found(next_runnable(mission(M1), file, live_task="A")) == "B"
    alone = tasks(("A", "in-progress", "M1"), ("C", "not-started", "M1", "A"))
    assert next_runnable(mission(M1), alone, live_task="A") == (
        "no runnable task in the tasks file: C waits on A (in-progress); A is running (its session is live)"
    )
    edited_back = tasks(("A", "not-started", "M1"), ("B", "not-started", "M1"))  # a human reset its status
    assert found(next_runnable(FLAT, edited_back, live_task="A")) == "B"


def test_an_answer_is_kept_for_the_text_asked_about_and_no_other(tmp_path: Path) -> None:
    """A loop asks three times per session of the same file: answered once. Any change to the
    file (a new text), to mission.yaml's milestones or to the question is a new answer."""
    path = tmp_path / "TASKS.md"
    path.write_text("| id | status | milestone |\n|---|---|---|\n| A | not-started | M1 |\n| B | not-started | M2 |\n")
    first = load(path)
    answer = next_runnable(mission(M1, M2), first)
    assert next_runnable(mission(M1, M2), load(path)) is answer  # the same text: the same answer
    assert found(next_runnable(mission(M1, M2), first, live_task="A")) == "B"
    assert found(next_runnable(mission(M2, M1), first)) == "B"  # M2 current: it comes first in mission.yaml
    done_m1 = Milestone(id="M1", name="One", status=MilestoneStatus.DONE)
    assert found(next_runnable(mission(done_m1, M2), first)) == "B"
    set_status(path, "A", TaskStatus.DONE)
    assert found(next_runnable(mission(M1, M2), load(path))) == "B"


def test_a_task_run_out_of_order_does_not_stall_the_earlier_milestone() -> None:
    """`run --task T-012` (M3) while M2 is pending makes M3 current; M2's work is still offered."""
    file = tasks(
        ("T-001", "done", "M1"),
        ("T-010", "not-started", "M2"),
        ("T-012", "done", "M3"),
        ("T-013", "not-started", "M3", "T-010"),
    )
    assert current_milestone(mission(M1, M2, M3), file.counts()) == M3
    assert found(next_runnable(mission(M1, M2, M3), file)) == "T-010"


def test_other_milestones_are_searched_in_mission_order_after_the_current_one() -> None:
    file = tasks(("A", "not-started", "M3"), ("B", "not-started", "M2"), ("C", "blocked", "M1"), ("D", "done", "M1"))
    assert current_milestone(mission(M1, M2, M3), file.counts()) == M1
    assert found(next_runnable(mission(M3, M1, M2), file)) == "A"
    assert found(next_runnable(mission(M1, M2, M3), file)) == "B"
    done = Milestone(id="M2", name="Two", status=MilestoneStatus.DONE)  # marked done: not searched
    assert found(next_runnable(mission(M1, done, M3), file)) == "A"


def test_tasks_in_no_milestone_come_last() -> None:
    file = tasks(("A", "not-started", ""), ("B", "not-started", "M2"))
    assert found(next_runnable(mission(M1, M2), file)) == "B"
    assert found(next_runnable(mission(M1, M2), tasks(("A", "not-started", ""), ("B", "done", "M2")))) == "A"


def test_a_named_milestone_restricts_the_search() -> None:
    file = tasks(("A", "not-started", "M2"), ("B", "not-started", ""))
    assert next_runnable(mission(M1, M2), file, milestone=M1) == "no tasks in milestone M1 (One)"
    assert found(next_runnable(mission(M1, M2), file, milestone=M2)) == "A"
    assert found(next_runnable(FLAT, file)) == "A"


def test_why_nothing_is_runnable() -> None:
    assert next_runnable(mission(M1), tasks(("A", "done", "M1"), ("B", "cancelled", "M1"))) == (
        "every task in the tasks file is done or cancelled"
    )
    assert next_runnable(mission(M1), tasks(("A", "done", "M1")), milestone=M1) == (
        "every task in milestone M1 (One) is done or cancelled"
    )
    assert next_runnable(FLAT, tasks(("A", "failed", "M1"), ("B", "not-started", "M1", "A"))) == (
        "no runnable task in the tasks file: B waits on A (failed); A is failed"
    )


def test_a_dependency_cycle_is_named_as_a_cycle() -> None:
    file = tasks(
        ("T-001", "done", "M1"),
        ("T-002", "not-started", "M1", "T-001, T-003"),
        ("T-003", "not-started", "M1", "T-002"),
        ("T-004", "not-started", "M2", "T-003"),
        ("T-005", "not-started", "M2", "T-005"),
    )
    assert next_runnable(mission(M1, M2), file) == (
        "no runnable task in the tasks file: dependency cycle: T-002 -> T-003 -> T-002; "
        "dependency cycle: T-005 -> T-005; T-004 waits on T-003 (not-started)"
    )


def test_a_long_list_of_waiting_tasks_is_cut_short() -> None:
    rows = [("A", "blocked", "M1")] + [(f"W-{n}", "not-started", "M1", "A") for n in range(8)]
    reason = next_runnable(FLAT, tasks(*rows))
    assert isinstance(reason, str)
    assert reason.endswith("W-4 waits on A (blocked); and 3 more; A is blocked")


def test_open_dependencies_names_those_not_done() -> None:
    file = tasks(("A", "done", ""), ("B", "blocked", ""), ("C", "in-progress", ""), ("D", "not-started", "", "B, A, C"))
    task = file.task("D")
    assert task is not None
    assert open_dependencies(file, task) == ["B (blocked)", "C (in-progress)"]


def test_a_milestone_mission_yaml_does_not_list_is_an_error_with_its_line() -> None:
    file = tasks(("A", "done", "M1"), ("B", "not-started", "m2"), ("C", "not-started", "M7"), ("D", "done", "m2"))
    with pytest.raises(CoordError) as info:
        check_milestones(mission(M1, M2, M3), file)
    assert info.value.problems == (
        "TASKS.md:4: `milestone`: `m2` is not a milestone in mission.yaml (task B and 1 more); did you mean `M2`?",
        "TASKS.md:5: `milestone`: `M7` is not a milestone in mission.yaml (task C); use one of M1, M2, M3",
    )
    check_milestones(FLAT, file)  # a mission without milestones names none: nothing to check
    check_milestones(mission(M1, M2), tasks(("A", "done", "M1"), ("B", "done", "")))


def ranked(*rows: tuple[str, str, str, str, str]) -> TasksFile:
    """A tasks file from (id, status, milestone, depends_on, priority) rows."""
    lines = ["| id | status | milestone | depends_on | priority |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return parse(Path("TASKS.md"), "\n".join(lines) + "\n")


def test_priority_orders_runnable_tasks_before_file_order() -> None:
    file = ranked(
        ("A", "not-started", "M1", "", "low"),
        ("B", "not-started", "M1", "", ""),
        ("C", "not-started", "M1", "", "high"),
        ("D", "not-started", "M1", "", "1"),
    )
    assert found(next_runnable(mission(M1), file)) == "C"  # high is 1, as D: ties keep file order
    assert (
        found(
            next_runnable(
                mission(M1), ranked(("A", "not-started", "M1", "", "low"), ("B", "not-started", "M1", "", ""))
            )
        )
        == "B"
    )
    assert (
        found(
            next_runnable(
                mission(M1), ranked(("A", "not-started", "M1", "", "5"), ("B", "not-started", "M1", "", "0.5"))
            )
        )
        == "B"
    )


def test_priority_stays_within_the_milestone_order_and_the_dependencies() -> None:
    file = ranked(
        ("A", "not-started", "M1", "", "low"),
        ("B", "not-started", "M2", "", "high"),
        ("C", "not-started", "M1", "D", "high"),
        ("D", "not-started", "M1", "", "low"),
    )
    assert found(next_runnable(mission(M1, M2), file)) == "A"  # M1 first; C waits on D
    assert found(next_runnable(mission(M1, M2), file, live_task="A")) == "D"
    cut_off = ranked(("A", "not-started", "M1", "", "high"), ("E", "in-progress", "M1", "", "low"))
    assert found(next_runnable(mission(M1), cut_off)) == "E"  # a task cut off comes first, whatever its rank


def test_runnable_lists_every_task_that_could_run_in_the_order_next_runnable_takes_them() -> None:
    file = tasks(
        ("A", "done", "M1"),
        ("B", "not-started", "M2"),
        ("C", "not-started", "M1", "A"),
        ("D", "not-started", "M1", "C"),
        ("E", "in-progress", "M1"),
        ("F", "not-started", ""),
    )
    plan = mission(M1, M2)
    found = [task.id for task in runnable(plan, file)]
    assert found == ["E", "C", "B", "F"]
    first = next_runnable(plan, file)
    assert isinstance(first, Task)
    assert first.id == found[0]
    assert [task.id for task in runnable(plan, file, milestone=M2)] == ["B"]


def test_a_task_names_its_paths_globs_from_the_optional_paths_column() -> None:
    file = parse(
        Path("TASKS.md"),
        "| id | status | paths |\n|---|---|---|\n| A | not-started | src/a/*.py, docs/a.md |\n| B | done | |\n",
    )
    assert [task.paths for task in file.tasks] == [("src/a/*.py", "docs/a.md"), ()]
    assert tasks(("A", "done", "")).tasks[0].paths == ()
