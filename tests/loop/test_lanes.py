"""Lanes (SPEC 15): a worktree per task on its own branch, on real git repositories; which tasks run at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lanekit import TASKS, branches, commit_file, git, git_identity, make_repo, worktrees

from mosaic_invoke.errors import CoordError
from mosaic_invoke.loop.lanes import (
    branch_tasks,
    choose,
    close_lane,
    globs_overlap,
    lane_of,
    open_lane,
    overlap,
    stale_lanes,
)
from mosaic_invoke.tasks.tasksfile import TaskStatus, set_status


@pytest.fixture(autouse=True)
def _identity(monkeypatch: pytest.MonkeyPatch) -> None:
    git_identity(monkeypatch)


def test_a_lane_is_a_worktree_under_lanes_on_its_own_branch_from_the_mission_branch(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    head = git(mission.root, "rev-parse", "main")
    lane = open_lane(mission, "T-1", "main")
    assert lane.worktree == mission.orchestrator_path / "lanes" / "T-1"
    assert lane.branch == "coord/demo/T-1"
    assert git(lane.worktree, "rev-parse", "HEAD") == head
    assert git(lane.worktree, "branch", "--show-current") == "coord/demo/T-1"
    assert str(lane.worktree) in worktrees(mission.root)
    assert git(mission.root, "branch", "--show-current") == "main"  # the main checkout stays where it was
    assert git(mission.root, "status", "--porcelain") == ""


def test_closing_a_landed_lane_removes_worktree_and_branch_a_rejected_one_keeps_the_branch(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    landed, rejected = open_lane(mission, "T-1", "main"), open_lane(mission, "T-2", "main")
    work = commit_file(rejected.worktree, "src/two/a.py", "x = 1\n")
    close_lane(mission, landed, delete_branch=True)
    close_lane(mission, rejected, delete_branch=False)
    assert worktrees(mission.root) == [str(mission.root)]
    assert not landed.worktree.exists()
    assert not rejected.worktree.exists()
    assert branches(mission.root) == ["coord/demo/T-2", "main"]
    again = open_lane(mission, "T-2", "main")  # the next attempt goes on from the kept work
    assert git(again.worktree, "rev-parse", "HEAD") == work


def test_a_lane_left_by_a_killed_loop_is_replaced_and_found_stale(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    registered = open_lane(mission, "T-1", "main")
    (registered.worktree / "half-done.txt").write_text("uncommitted\n")
    unregistered = lane_of(mission, "T-2")
    unregistered.worktree.mkdir(parents=True)  # a copy git never finished
    (unregistered.worktree / "junk").write_text("x")
    assert [lane.task_id for lane in stale_lanes(mission, live=["T-1"])] == ["T-2"]
    assert [lane.task_id for lane in stale_lanes(mission)] == ["T-1", "T-2"]
    reopened = open_lane(mission, "T-1", "main")
    assert not (reopened.worktree / "half-done.txt").exists()
    for lane in stale_lanes(mission):
        close_lane(mission, lane, delete_branch=True)
    assert stale_lanes(mission) == []
    assert worktrees(mission.root) == [str(mission.root)]
    assert list((mission.orchestrator_path / "lanes").iterdir()) == []


def test_a_locked_worktree_is_removed_even_with_its_folder_gone(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    lane = open_lane(mission, "T-1", "main")
    git(mission.root, "worktree", "lock", str(lane.worktree))  # as `git worktree add` leaves one when killed
    shutil.rmtree(lane.worktree)
    assert [found.task_id for found in stale_lanes(mission)] == ["T-1"]
    again = open_lane(mission, "T-1", "main")
    assert git(again.worktree, "branch", "--show-current") == "coord/demo/T-1"
    git(mission.root, "worktree", "lock", str(lane.worktree))
    close_lane(mission, lane, delete_branch=True)
    assert worktrees(mission.root) == [str(mission.root)]
    assert not lane.worktree.exists()


def test_the_project_inside_a_lane_is_where_it_is_in_the_repository(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo", project="app")
    lane = open_lane(mission, "T-1", "main")
    assert lane.project == lane.worktree / "app"
    assert (lane.project / "docs" / "TASKS.md").read_text() == TASKS


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param("src/one", "src/one/x.py", True, id="folder-and-file-in-it"),
        pytest.param("src/one/*.py", "src/one", True, id="glob-in-folder"),
        pytest.param("src/one", "src/two", False, id="sibling-folders"),
        pytest.param("src/a.py", "src/ab.py", False, id="name-prefix-is-not-path-prefix"),
        pytest.param("src/a*", "src/ab.py", True, id="wildcard-mid-name"),
        pytest.param("**/*.py", "docs/x.md", True, id="leading-wildcard-overlaps-all"),
        pytest.param("./src/one/", "src/one", True, id="dot-and-slash-ignored"),
        pytest.param("src/[ab].py", "lib/a.py", False, id="bracket-in-other-folder"),
    ],
)
def test_globs_overlap_when_one_fixed_part_is_a_path_prefix_of_the_other(a: str, b: str, expected: bool) -> None:
    assert overlap(a, b) is expected
    assert overlap(b, a) is expected


def test_a_task_without_paths_overlaps_nothing() -> None:
    assert not globs_overlap((), ("src",))
    assert not globs_overlap(("src",), ())


def test_choosing_takes_up_to_the_free_lanes_never_overlapping_paths_never_a_running_task(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    tasks = branch_tasks(mission, "main")
    # T-3 waits on T-1; T-4's src/one/*.py overlaps T-1's src/one.
    assert [task.id for task in choose(mission, tasks, {}, 4)] == ["T-1", "T-2"]
    assert [task.id for task in choose(mission, tasks, {}, 1)] == ["T-1"]
    assert [task.id for task in choose(mission, tasks, {"T-1": ("src/one",)}, 4)] == ["T-2"]
    assert [task.id for task in choose(mission, tasks, {"T-2": ("src/two",)}, 4)] == ["T-1"]
    assert [task.id for task in choose(mission, tasks, {}, 4, skip=["T-1"])] == ["T-2", "T-4"]


def test_dependencies_count_as_done_only_once_done_on_the_mission_branch(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    set_status(mission.tasks_path, "T-1", TaskStatus.DONE)  # in the main checkout only, not committed
    on_branch = branch_tasks(mission, "main")
    assert "T-3" not in [task.id for task in choose(mission, on_branch, {}, 4)]
    git(mission.root, "commit", "-qam", "T-1 done")
    assert [task.id for task in choose(mission, branch_tasks(mission, "main"), {}, 4)] == ["T-2", "T-3", "T-4"]


def test_tasks_without_paths_run_beside_any_other(tmp_path: Path) -> None:
    tasks = "| id | status |\n|----|----|\n" + "".join(f"| T-{n} | not-started |\n" for n in range(1, 6))
    mission = make_repo(tmp_path / "repo", tasks)
    chosen = choose(mission, branch_tasks(mission, "main"), {"T-1": ()}, 3)
    assert [task.id for task in chosen] == ["T-2", "T-3", "T-4"]


def test_a_tasks_file_not_committed_on_the_branch_is_refused_plainly(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    git(mission.root, "rm", "-q", "--cached", "docs/TASKS.md")
    git(mission.root, "commit", "-qm", "untrack")
    with pytest.raises(CoordError, match=r"TASKS\.md: not on branch `main`; .*commit it there"):
        branch_tasks(mission, "main")


def test_a_lane_cannot_start_from_a_branch_that_does_not_exist(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    with pytest.raises(CoordError, match="no branch `trunk` to start task T-1's lane from"):
        open_lane(mission, "T-1", "trunk")
