"""`loop --lanes N` (SPEC 15), whole-process: the real mosaic-coord, real git, a stand-in agent."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import coord, wait_for
from lanekit import git, worktrees
from loopkit import ORCH, git_env, loop_record, run_loop, start_loop, state

LANE_AGENT = Path(__file__).parents[1] / "agents_for_loop" / "lane_agent.py"
MISSION = "id: demo\nname: Demo mission\n"


def lane_agent(mode: str) -> str:
    return f"{sys.executable} {LANE_AGENT} {mode}"


def make_project(root: Path, rows: list[tuple[str, str]], *, gated: Path | None = None) -> Path:
    """A git project whose tasks are ``rows`` of (id, paths); with ``gated``, gates that write the
    commit they run on to that file."""
    (root / ".mosaic").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "src").mkdir()
    gates = f'verify: {{command: "git rev-parse HEAD >> {gated}"}}\n' if gated else ""
    (root / ".mosaic" / "mission.yaml").write_text(MISSION + gates)
    lines = ["| id | status | paths |", "|----|--------|-------|"]
    lines += [f"| {task} | not-started | {paths} |" for task, paths in rows]
    (root / "docs" / "TASKS.md").write_text("\n".join(lines) + "\n")
    (root / "src" / "shared.py").write_text("owner = None\n")
    (root / ".gitignore").write_text(".mosaic/orchestrator/\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=git_env())
    return root


def agent_log(path: Path) -> dict[str, dict[str, Any]]:
    """The stand-in agent's log: per task, its lane, start and end times, folder and worktree."""
    found: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        kind, task, lane, moment, *rest = line.split()
        entry = found.setdefault(task, {"lane": lane})
        entry[kind] = float(moment)
        if kind == "start":
            entry["cwd"], entry["worktree"] = rest
    return found


def lanes_of(root: Path, loop_id: str) -> int:
    """How many lanes loop.json lists, if it is loop ``loop_id``'s (else -1)."""
    record = loop_record(root) or {}
    return len(record.get("lanes") or []) if record.get("loop_id") == loop_id else -1


def overlapped(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def landed_once_each(root: Path, tasks: list[str]) -> None:
    subjects = git(root, "log", "--format=%s", "main").splitlines()
    for task in tasks:
        assert sum(subject.startswith(f"{task}: done") for subject in subjects) == 1, task
    assert git(root, "rev-list", "--merges", "main") == ""


def no_lane_left(root: Path) -> None:
    assert worktrees(root) == [str(root)]
    lanes = root / ORCH / "lanes"
    assert not lanes.exists() or list(lanes.iterdir()) == []


@pytest.fixture
def cleanup() -> Iterator[list[Path]]:
    """Projects whose supervisors and agents are killed once the test ends, whatever it did."""
    roots: list[Path] = []
    yield roots
    for root in roots:
        path = root / ORCH / "state.json"
        if not path.exists():
            continue
        for record in json.loads(path.read_text()).get("sessions", []):
            for pid in (record.get("owner_pid"), record.get("pid")):
                if pid:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)


def test_lanes_run_sessions_at_once_in_worktrees_and_land_each_gated_commit(
    tmp_path: Path, cleanup: list[Path]
) -> None:
    tasks = [f"T-{n}" for n in range(1, 9)]
    gated = tmp_path / "gated"
    root = make_project(tmp_path / "project", [(task, f"work/{task}.txt") for task in tasks], gated=gated)
    cleanup.append(root)
    log = tmp_path / "agent.log"
    # The first four agents wait for each other: only lanes at work at once get past that.
    env = {"LANE_AGENT_LOG": str(log), "LANE_AGENT_SLEEP": "0.5", "LANE_AGENT_MEET": "4"}
    result = run_loop(root, "--lanes", "4", "--command", lane_agent("commit"), env=env, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "loop loop-001 stopped: mission-done" in result.stderr
    ran = agent_log(log)
    assert sorted(ran) == tasks
    # Sessions overlapped: the stand-in agent's own clock says so.
    first = sorted(ran.values(), key=lambda entry: entry["start"])[:4]
    assert all(overlapped(a, b) for a in first for b in first if a is not b)
    for task, entry in ran.items():
        worktree = str(root / ORCH / "lanes" / task)
        assert entry["cwd"] == entry["worktree"] == worktree  # the agent works in its lane
        assert 1 <= int(entry["lane"]) <= 4
    sessions = state(root)["sessions"]
    assert [record["verdict"] for record in sessions] == ["accepted"] * 8
    assert {record["task_id"] for record in sessions} == set(tasks)
    for record in sessions:
        assert record["worktree"] == str(root / ORCH / "lanes" / record["task_id"])
        prompt = (root / ORCH / "logs" / f"{record['session_id']}.prompt.md").read_text()
        assert f"- **Project:** {record['worktree']}\n" in prompt  # the agent is pointed at its lane
    # The gates ran on every landed commit (and once before the first session, on the start).
    landed = [record["landed"]["commit"] for record in sessions]
    assert set(landed) <= set(gated.read_text().split())
    assert git(root, "rev-parse", "main") in landed
    landed_once_each(root, tasks)
    no_lane_left(root)
    assert git(root, "branch", "--list", "coord/*") == ""
    assert git(root, "status", "--porcelain") == ""  # the main checkout followed the branch
    assert all(f"| {task} | done" in (root / "docs" / "TASKS.md").read_text() for task in tasks)


def test_tasks_whose_paths_overlap_never_run_at_once(tmp_path: Path, cleanup: list[Path]) -> None:
    rows = [("T-1", "src/api"), ("T-2", "src/api/*.py"), ("T-3", "docs/guide.md"), ("T-4", "src/api/v2")]
    root = make_project(tmp_path / "project", rows)
    cleanup.append(root)
    log = tmp_path / "agent.log"
    env = {"LANE_AGENT_LOG": str(log), "LANE_AGENT_SLEEP": "0.5", "LANE_AGENT_MEET": "2"}  # T-1 and T-3 meet
    result = run_loop(root, "--lanes", "3", "--command", lane_agent("commit"), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    ran = agent_log(log)
    assert sorted(ran) == ["T-1", "T-2", "T-3", "T-4"]
    for a, b in (("T-1", "T-2"), ("T-1", "T-4"), ("T-2", "T-4")):
        assert not overlapped(ran[a], ran[b]), (a, b)
    assert overlapped(ran["T-1"], ran["T-3"])  # what does not overlap runs beside it
    landed_once_each(root, ["T-1", "T-2", "T-3", "T-4"])


def test_a_conflict_is_rejected_naming_the_file_and_the_branch_stays_linear(
    tmp_path: Path, cleanup: list[Path]
) -> None:
    root = make_project(tmp_path / "project", [("T-1", ""), ("T-2", "")])
    cleanup.append(root)
    log = tmp_path / "agent.log"
    # Both start at once (no paths) and write the same line: the second to land conflicts.
    env = {"LANE_AGENT_LOG": str(log), "LANE_AGENT_MEET": "2"}
    result = run_loop(
        root, "--lanes", "2", "--max-sessions", "3", "--command", lane_agent("shared"), env=env, timeout=120
    )
    assert result.returncode == 4, result.stderr  # max-sessions
    sessions = state(root)["sessions"]
    rejected = [record for record in sessions if record["verdict"] == "rejected"]
    assert rejected
    assert rejected[0]["rejected_because"] == "conflict in src/shared.py"
    loser = rejected[0]["task_id"]
    # The task's next session is told which file conflicted.
    retry = next(record for record in sessions[sessions.index(rejected[0]) + 1 :] if record["task_id"] == loser)
    prompt = (root / ORCH / "logs" / f"{retry['session_id']}.prompt.md").read_text()
    assert (
        f"{loser} was marked done, but conflict in src/shared.py; it did not land, and this lane's branch keeps "
        "the work: rebase it onto the mission's branch ($MOSAIC_BRANCH) and resolve"
    ) in prompt
    assert git(root, "rev-list", "--merges", "main") == ""
    assert f"coord/demo/{loser}" in git(root, "branch", "--list", "coord/*")  # kept for the next attempt
    winner = next(record for record in sessions if record["verdict"] == "accepted")
    assert git(root, "show", "main:src/shared.py") == f"owner = {winner['task_id']!r}"
    no_lane_left(root)


def test_stop_now_interrupts_every_lane_and_records_each_once(tmp_path: Path, cleanup: list[Path]) -> None:
    root = make_project(tmp_path / "project", [("T-1", ""), ("T-2", ""), ("T-3", "")])
    cleanup.append(root)
    log = tmp_path / "agent.log"
    loop = start_loop(root, "--lanes", "3", "--command", lane_agent("hang"), env={"LANE_AGENT_LOG": str(log)})
    try:
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 3, timeout=60)
        wait_for(lambda: len((loop_record(root) or {}).get("lanes") or []) == 3)
        shown = json.loads(coord("status", "--json", cwd=root).stdout)["loop"]
        assert sorted(lane["task_id"] for lane in shown["lanes"]) == ["T-1", "T-2", "T-3"]
        assert sorted(lane["lane"] for lane in shown["lanes"]) == [1, 2, 3]
        assert shown["step"] == 3
        text = coord("status", cwd=root).stdout
        assert "next     none (every runnable task runs in a lane)" in text
        assert "running  3 lanes of loop loop-001 (below)" in text
        for lane in shown["lanes"]:
            assert f"lane {lane['lane']}: {lane['session_id']} {lane['task_id']}, since" in text
            assert f"in {root / ORCH / 'lanes' / lane['task_id']}" in text
        assert coord("report", cwd=root).returncode == 0
        page = (root / ORCH / "report.html").read_text()
        assert "3 lanes at work:" in page
        for lane in shown["lanes"]:
            assert f"lane {lane['lane']} runs {lane['session_id']} on task {lane['task_id']}" in page
            assert f" · lane {lane['lane']}</small>" in page  # its row in the sessions table
        assert (
            subprocess.run(
                [str(Path(sys.executable).parent / "mosaic-coord"), "stop", "--now"], cwd=root, capture_output=True
            ).returncode
            == 0
        )
        _out, err = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
    assert loop.returncode == 0, err
    assert "stopped: stopped" in err
    sessions = state(root)["sessions"]
    assert sorted(record["task_id"] for record in sessions) == ["T-1", "T-2", "T-3"]
    assert {record["ended_reason"] for record in sessions} == {"interrupted"}
    no_lane_left(root)


def test_sigterm_interrupts_every_lane_and_exits_130(tmp_path: Path, cleanup: list[Path]) -> None:
    root = make_project(tmp_path / "project", [("T-1", ""), ("T-2", "")])
    cleanup.append(root)
    log = tmp_path / "agent.log"
    loop = start_loop(root, "--lanes", "2", "--command", lane_agent("hang"), env={"LANE_AGENT_LOG": str(log)})
    try:
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2, timeout=60)
        loop.send_signal(signal.SIGTERM)
        _out, err = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
    assert loop.returncode == 130, err
    sessions = state(root)["sessions"]
    assert [record["ended_reason"] for record in sessions] == ["interrupted", "interrupted"]
    no_lane_left(root)


def test_a_loop_killed_with_lanes_running_is_continued_and_waits_for_them(tmp_path: Path, cleanup: list[Path]) -> None:
    root = make_project(tmp_path / "project", [("T-1", ""), ("T-2", ""), ("T-3", "")])
    cleanup.append(root)
    log, go = tmp_path / "agent.log", tmp_path / "go"
    env = {"LANE_AGENT_LOG": str(log), "LANE_AGENT_WAIT_FOR": str(go)}  # the agents work until `go`
    loop = start_loop(root, "--lanes", "2", "--command", lane_agent("commit"), env=env)
    try:
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2, timeout=60)
        os.kill(loop.pid, signal.SIGKILL)  # coord alone: its lanes' supervisors go on
        loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
    # Only a loop with lanes goes on beside them: a session in the project could take their tasks.
    for refused in (coord("run", "--command", lane_agent("commit"), cwd=root), run_loop(root, "--lanes", "1")):
        assert refused.returncode == 3, refused.stderr
        assert "still runs in lane" in refused.stderr
        assert "continue with `mosaic-coord loop --lanes N`" in refused.stderr
    again = start_loop(root, "--lanes", "2", "--command", lane_agent("commit"), env=env)
    try:
        # The new loop has taken up the two lanes still at work.
        wait_for(lambda: lanes_of(root, "loop-002") == 2)
        go.touch()
        _out, err = again.communicate(timeout=120)
    finally:
        if again.poll() is None:
            again.kill()
    assert again.returncode == 0, err
    assert err.count("is still running; the loop waits for it") == 2
    sessions = state(root)["sessions"]
    assert len({record["session_id"] for record in sessions}) == len(sessions)
    assert sorted(record["task_id"] for record in sessions if record["verdict"] == "accepted") == ["T-1", "T-2", "T-3"]
    assert sorted(agent_log(log)) == ["T-1", "T-2", "T-3"]  # no task started twice
    landed_once_each(root, ["T-1", "T-2", "T-3"])
    no_lane_left(root)


def test_one_lane_is_todays_loop_no_worktree_no_lane_fields(tmp_path: Path, cleanup: list[Path]) -> None:
    root = make_project(tmp_path / "project", [("T-1", "")])
    cleanup.append(root)
    log = tmp_path / "agent.log"
    result = run_loop(root, "--lanes", "1", "--command", lane_agent("commit"), env={"LANE_AGENT_LOG": str(log)})
    assert result.returncode == 0, result.stderr
    (record,) = state(root)["sessions"]
    assert "lane" not in record
    assert "worktree" not in record
    assert agent_log(log)["T-1"]["cwd"] == str(root)
    assert agent_log(log)["T-1"]["lane"] == "-"
    assert "lanes" not in json.loads((root / ORCH / "loop.json").read_text())["caps"]
    assert not (root / ORCH / "lanes").exists()


def test_max_failures_counts_failures_in_a_row_per_lane(tmp_path: Path, cleanup: list[Path]) -> None:
    root = make_project(tmp_path / "project", [(f"T-{n}", "") for n in range(1, 7)])
    cleanup.append(root)
    result = run_loop(
        root, "--lanes", "2", "--max-failures", "2", "--max-attempts", "none", "--command", lane_agent("fail")
    )
    assert result.returncode == 4, result.stderr
    assert "stopped: max-failures (2 sessions in a row failed or were rejected in lane" in result.stderr
    sessions = state(root)["sessions"]
    by_lane = {lane: [s for s in sessions if s["lane"] == lane] for lane in (1, 2)}
    assert max(len(found) for found in by_lane.values()) == 2  # a lane's second failure stops the loop
    assert len(sessions) <= 4  # and no lane starts after it; those at work finish
    no_lane_left(root)


def test_a_plain_stop_lets_the_running_lanes_finish_and_land(tmp_path: Path, cleanup: list[Path]) -> None:
    root = make_project(tmp_path / "project", [(f"T-{n}", "") for n in range(1, 5)])
    cleanup.append(root)
    log, go = tmp_path / "agent.log", tmp_path / "go"
    env = {"LANE_AGENT_LOG": str(log), "LANE_AGENT_WAIT_FOR": str(go)}
    loop = start_loop(root, "--lanes", "2", "--command", lane_agent("commit"), env=env)
    try:
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2, timeout=60)
        stopped = coord("stop", cwd=root)
        assert stopped.returncode == 0, stopped.stderr
        go.touch()  # the two agents finish only once the stop was asked for
        _out, err = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
    assert loop.returncode == 0, err
    assert "stopped: stopped" in err
    sessions = state(root)["sessions"]
    assert [s["verdict"] for s in sessions] == ["accepted", "accepted"]
    landed_once_each(root, [s["task_id"] for s in sessions])
    no_lane_left(root)


def test_a_lane_backing_off_is_waited_for_not_taken_for_no_runnable_task(tmp_path: Path, cleanup: list[Path]) -> None:
    root = make_project(tmp_path / "project", [("T-1", "")])
    cleanup.append(root)
    result = run_loop(
        root,
        "--lanes",
        "2",
        "--backoff",
        "1s",
        "--max-failures",
        "2",
        "--command",
        lane_agent("fail"),
        timeout=120,
    )
    assert result.returncode == 4, result.stderr
    assert "lane 1 waits 1s before its next session" in result.stderr
    assert "stopped: max-failures" in result.stderr
    assert [s["ended_reason"] for s in state(root)["sessions"]] == ["failed", "failed"]


def test_lanes_without_a_branch_to_land_on_are_refused_before_any_loop(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / ".mosaic").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".mosaic" / "mission.yaml").write_text(MISSION)
    (root / "docs" / "TASKS.md").write_text("| id | status |\n|----|----|\n| T-1 | not-started |\n")
    result = run_loop(root, "--lanes", "2", "--command", lane_agent("commit"))
    assert result.returncode == 1
    assert result.stderr == (
        f"coord: error: {root}: not in a git work tree; --lanes 2 runs each session in a git worktree: "
        "run `git init`, commit the mission, then start the loop again\n"
    )
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    result = run_loop(root, "--lanes", "2", "--command", lane_agent("commit"))
    assert result.returncode == 1
    assert result.stderr == (
        "coord: error: docs/TASKS.md: not on branch `main`; lanes read the tasks file from the mission's branch: "
        "commit it there\n"
    )
    assert not (root / ORCH / "loop.json").exists()
