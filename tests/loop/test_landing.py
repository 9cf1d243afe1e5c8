"""The merge queue (SPEC 15): landing lanes on the mission's branch, in real git repositories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lanekit import branches, commit_file, git, git_identity, make_repo

from mosaic_invoke.config.mission import Mission
from mosaic_invoke.loop.landing import Gates, Landed, Rejected, land
from mosaic_invoke.loop.lanes import Lane, open_lane
from mosaic_invoke.session.verify import GateRun, run_gates
from mosaic_invoke.store.loopfile import landing_now
from mosaic_invoke.tasks.tasksfile import TaskStatus, parse, set_status


@pytest.fixture(autouse=True)
def _identity(monkeypatch: pytest.MonkeyPatch) -> None:
    git_identity(monkeypatch)


def recording_gates(mission: Mission, record: Path, command: str = "true") -> Gates:
    """Gates that write the commit they ran on to ``record``, then run ``command``."""

    def gates(project: Path) -> GateRun:
        log = mission.orchestrator_path / "logs" / "gates.log"
        script = f"git rev-parse HEAD >> {record}; {command}"
        return run_gates(mission, script, 60, log, dict(os.environ), cwd=project)

    return gates


def claim(lane: Lane, task_id: str) -> None:
    """What an agent does in its lane: mark its task done in the lane's copy of the tasks file."""
    set_status(lane.project / "docs" / "TASKS.md", task_id, TaskStatus.DONE)


def tasks_on(mission: Mission, revision: str) -> str:
    return git(mission.root, "show", f"{revision}:docs/TASKS.md") + "\n"


def linear(mission: Mission) -> bool:
    return git(mission.root, "rev-list", "--merges", "main") == ""


def test_a_lane_lands_as_the_commit_the_gates_passed_on_with_only_its_status_cell_changed(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    before = tasks_on(mission, "main")
    lane = open_lane(mission, "T-1", "main")
    commit_file(lane.worktree, "src/one/a.py", "a = 1\n")
    claim(lane, "T-1")
    ran = tmp_path / "gated"
    landed = land(mission, lane, "main", "sess-001", recording_gates(mission, ran))
    assert isinstance(landed, Landed)
    assert git(mission.root, "rev-parse", "main") == landed.commit
    assert ran.read_text().split() == [landed.commit]
    assert landed.rebases == 1
    assert landed.gates is not None
    assert landed.gates.passed
    expected = parse(mission.tasks_path, before).with_status("T-1", TaskStatus.DONE)
    assert tasks_on(mission, "main") == expected
    assert git(mission.root, "log", "--format=%s", "-1", "main") == "T-1: done (session sess-001)"
    assert linear(mission)
    # The main checkout was clean and on main: its files follow the branch.
    assert landed.checkout is None
    assert (mission.root / "src" / "one" / "a.py").read_text() == "a = 1\n"
    assert mission.tasks_path.read_text() == expected
    assert git(mission.root, "status", "--porcelain") == ""


def test_what_the_agent_left_uncommitted_lands_too(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    lane = open_lane(mission, "T-1", "main")
    (lane.worktree / "src" / "one").mkdir(parents=True)
    (lane.worktree / "src" / "one" / "b.py").write_text("b = 2\n")
    claim(lane, "T-1")
    assert isinstance(land(mission, lane, "main", "sess-001", recording_gates(mission, tmp_path / "g")), Landed)
    assert git(mission.root, "show", "main:src/one/b.py") == "b = 2"
    subjects = git(mission.root, "log", "--format=%s", "main").splitlines()
    assert subjects[:2] == ["T-1: done (session sess-001)", "T-1: what session sess-001 left uncommitted"]


def test_neighbouring_rows_never_conflict_rows_an_agent_edited_do_not_travel(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    before = tasks_on(mission, "main")
    first, second = open_lane(mission, "T-1", "main"), open_lane(mission, "T-2", "main")
    for lane, task_id, name in ((first, "T-1", "src/one/a.py"), (second, "T-2", "src/two/a.py")):
        (lane.worktree / name).parent.mkdir(parents=True)
        (lane.worktree / name).write_text(f"{task_id}\n")
        claim(lane, task_id)
        set_status(lane.project / "docs" / "TASKS.md", "T-4", TaskStatus.BLOCKED)  # a row not its own
        git(lane.worktree, "add", "-A")
        git(lane.worktree, "commit", "-qm", f"{task_id} work, tasks file edited too")
    gated = tmp_path / "gated"
    one = land(mission, first, "main", "sess-001", recording_gates(mission, gated))
    two = land(mission, second, "main", "sess-002", recording_gates(mission, gated))
    assert isinstance(one, Landed)
    assert isinstance(two, Landed)
    assert git(mission.root, "rev-parse", "main") == two.commit
    parsed = parse(mission.tasks_path, before)
    expected = parse(mission.tasks_path, parsed.with_status("T-1", TaskStatus.DONE)).with_status("T-2", TaskStatus.DONE)
    assert tasks_on(mission, "main") == expected  # T-4 stayed not-started
    assert gated.read_text().split() == [one.commit, two.commit]
    assert linear(mission)
    assert git(mission.root, "show", "main:src/one/a.py") == "T-1"


def test_a_conflict_rejects_the_claim_naming_the_files_and_keeps_the_lane_branch(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    first, second = open_lane(mission, "T-1", "main"), open_lane(mission, "T-2", "main")
    commit_file(first.worktree, "src/shared.py", "one = 'first'\ntwo = 2\nthree = 3\n")
    claim(first, "T-1")
    work = commit_file(second.worktree, "src/shared.py", "one = 'second'\ntwo = 2\nthree = 3\n")
    claim(second, "T-2")
    gated = tmp_path / "gated"
    landed = land(mission, first, "main", "sess-001", recording_gates(mission, gated))
    assert isinstance(landed, Landed)
    rejected = land(mission, second, "main", "sess-002", recording_gates(mission, gated))
    assert rejected == Rejected("conflict in src/shared.py", ("src/shared.py",))
    assert git(mission.root, "rev-parse", "main") == landed.commit  # nothing of the rejected claim
    assert parse(mission.tasks_path, tasks_on(mission, "main")).status_of("T-2") is TaskStatus.NOT_STARTED
    assert git(mission.root, "rev-parse", "coord/demo/T-2") == work  # kept for the next attempt
    assert git(second.worktree, "status", "--porcelain") == ""  # not left mid-rebase
    assert not (second.worktree / git(second.worktree, "rev-parse", "--git-path", "rebase-merge")).exists()
    assert gated.read_text().split() == [landed.commit]  # no gates on a conflict
    assert linear(mission)
    assert git(mission.root, "status", "--porcelain") == ""


def test_failing_gates_reject_the_claim_and_leave_the_branch_alone(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    head = git(mission.root, "rev-parse", "main")
    lane = open_lane(mission, "T-1", "main")
    work = commit_file(lane.worktree, "src/one/a.py", "broken\n")
    claim(lane, "T-1")
    rejected = land(mission, lane, "main", "sess-001", recording_gates(mission, tmp_path / "g", "exit 3"))
    assert isinstance(rejected, Rejected)
    assert rejected.because.endswith("failed (exit 3)")
    assert rejected.gates is not None
    assert rejected.gates.exit_code == 3
    assert git(mission.root, "rev-parse", "main") == head
    assert git(mission.root, "rev-parse", "coord/demo/T-1") == work  # the claim is not on the lane's branch


def test_when_the_branch_moves_while_the_gates_run_the_lane_is_rebased_and_gated_again(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    other = open_lane(mission, "T-2", "main")
    lane = open_lane(mission, "T-1", "main")
    commit_file(lane.worktree, "src/one/a.py", "a = 1\n")
    claim(lane, "T-1")
    record = tmp_path / "gated"
    moved: list[str] = []
    plain = recording_gates(mission, record)

    def gates(project: Path) -> GateRun:
        ran = plain(project)
        if not moved:  # another landing moves the branch meanwhile
            moved.append(commit_file(other.worktree, "src/two/b.py", "b\n", "other"))
            git(mission.root, "update-ref", "refs/heads/main", moved[0])
        return ran

    landed = land(mission, lane, "main", "sess-001", gates)
    assert isinstance(landed, Landed)
    assert landed.rebases == 2
    assert landed.previous == moved[0]
    gated = record.read_text().split()
    assert len(gated) == 2
    assert gated[-1] == landed.commit == git(mission.root, "rev-parse", "main")
    assert git(mission.root, "rev-parse", "main~2") == moved[0]
    assert linear(mission)


def test_a_user_working_in_the_main_checkout_is_never_disturbed(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    shared = mission.root / "src" / "shared.py"
    shared.write_text("one = 'mine, uncommitted'\n")
    (mission.root / "notes.txt").write_text("untracked\n")
    lane = open_lane(mission, "T-1", "main")
    commit_file(lane.worktree, "src/one/a.py", "a = 1\n")
    claim(lane, "T-1")
    landed = land(mission, lane, "main", "sess-001", recording_gates(mission, tmp_path / "g"))
    assert isinstance(landed, Landed)
    assert landed.checkout is not None
    assert "uncommitted changes" in landed.checkout
    assert f"git read-tree -m -u {landed.previous[:12]} {landed.commit[:12]}" in landed.checkout
    assert shared.read_text() == "one = 'mine, uncommitted'\n"
    assert (mission.root / "notes.txt").read_text() == "untracked\n"
    assert not (mission.root / "src" / "one").exists()  # every file left alone
    # What the message advises brings the landed files in and keeps the user's change.
    git(mission.root, "read-tree", "-m", "-u", landed.previous, landed.commit)
    assert (mission.root / "src" / "one" / "a.py").read_text() == "a = 1\n"
    assert shared.read_text() == "one = 'mine, uncommitted'\n"
    assert git(mission.root, "status", "--porcelain", "--untracked-files=no") == "M src/shared.py"


def test_a_main_checkout_on_another_branch_is_not_touched(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    git(mission.root, "checkout", "-q", "-b", "feature")
    lane = open_lane(mission, "T-1", "main")
    commit_file(lane.worktree, "src/one/a.py", "a = 1\n")
    claim(lane, "T-1")
    landed = land(mission, lane, "main", "sess-001", recording_gates(mission, tmp_path / "g"))
    assert isinstance(landed, Landed)
    assert landed.checkout is None
    assert git(mission.root, "branch", "--show-current") == "feature"
    assert not (mission.root / "src" / "one").exists()
    assert git(mission.root, "show", "main:src/one/a.py") == "a = 1"


def test_a_task_gone_from_the_branch_is_rejected(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    lane = open_lane(mission, "T-1", "main")
    claim(lane, "T-1")
    text = mission.tasks_path.read_text()
    mission.tasks_path.write_text("".join(line for line in text.splitlines(True) if "| T-1 |" not in line))
    git(mission.root, "commit", "-qam", "T-1 dropped")
    rejected = land(mission, lane, "main", "sess-001", recording_gates(mission, tmp_path / "g"))
    assert rejected == Rejected("task T-1 is no longer in the tasks file on the mission's branch")
    assert "coord/demo/T-1" in branches(mission.root)


def test_no_gates_lands_the_rebased_landing_commit(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    lane = open_lane(mission, "T-2", "main")
    claim(lane, "T-2")
    landed = land(mission, lane, "main", "sess-001", lambda project: None)
    assert isinstance(landed, Landed)
    assert landed.gates is None
    assert parse(mission.tasks_path, tasks_on(mission, "main")).status_of("T-2") is TaskStatus.DONE


def test_the_landing_under_way_is_named_for_status_while_it_lasts(tmp_path: Path) -> None:
    mission = make_repo(tmp_path / "repo")
    lane = open_lane(mission, "T-1", "main")
    claim(lane, "T-1")
    seen: list[dict[str, object] | None] = []

    def gates(project: Path) -> None:
        seen.append(landing_now(mission.orchestrator_path))

    assert isinstance(land(mission, lane, "main", "sess-007", gates), Landed)
    assert seen[0] is not None
    assert (seen[0]["task_id"], seen[0]["session_id"], seen[0]["pid"]) == ("T-1", "sess-007", os.getpid())
    assert landing_now(mission.orchestrator_path) is None


def test_where_git_knows_nobody_coords_commits_are_by_mosaic_coord(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mission = make_repo(tmp_path / "repo")
    lane = open_lane(mission, "T-1", "main")
    (lane.worktree / "left.txt").write_text("uncommitted\n")
    claim(lane, "T-1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME")
        monkeypatch.delenv(f"GIT_{role}_EMAIL")
    assert isinstance(land(mission, lane, "main", "sess-001", recording_gates(mission, tmp_path / "g")), Landed)
    authors = git(mission.root, "log", "--format=%an <%ae>", "-2", "main").splitlines()
    assert authors == ["mosaic-coord <mosaic-coord@localhost>"] * 2
