"""SIGKILL `loop --lanes 3` at random instants, then `loop` again, until one ends by itself: every
task done once, every session recorded once, no worktree left (SPEC 15)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from lanekit import git, worktrees
from loopkit import ORCH, git_env, start_loop, state

LANE_AGENT = Path(__file__).parents[1] / "agents_for_loop" / "lane_agent.py"
TASKS = 9
KILLS = 10
SEED = 20261205
ARGS = ("--lanes", "3", "--max-failures", "100", "--max-attempts", "100", "--max-sessions", "200")


def make_project(root: Path, gated: Path) -> Path:
    (root / ".mosaic").mkdir(parents=True)
    (root / "docs").mkdir()
    gates = f'verify: {{command: "git rev-parse HEAD >> {gated}"}}\n'
    (root / ".mosaic" / "mission.yaml").write_text("id: demo\nname: Demo mission\n" + gates)
    rows = "".join(f"| T-{n} | not-started | work/T-{n}.txt |\n" for n in range(1, TASKS + 1))
    (root / "docs" / "TASKS.md").write_text("| id | status | paths |\n|----|----|----|\n" + rows)
    (root / ".gitignore").write_text(".mosaic/orchestrator/\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=git_env())
    return root


def kill_everything(root: Path) -> None:
    path = root / ORCH / "state.json"
    if not path.exists():
        return
    for record in json.loads(path.read_text()).get("sessions", []):
        for pid in (record.get("owner_pid"), record.get("pid")):
            if pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)


def test_a_kill_storm_on_three_lanes_ends_with_every_task_done_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    gated = tmp_path / "gated"
    root = make_project(tmp_path / "project", gated)
    log = tmp_path / "agent.log"
    env = {"LANE_AGENT_LOG": str(log), "LANE_AGENT_SLEEP": "0.3"}
    command = ("--command", f"{sys.executable} {LANE_AGENT} commit")
    try:
        for _ in range(KILLS):
            loop = start_loop(root, *ARGS, *command, env=env)
            time.sleep(rng.uniform(0.05, 2.5))
            if loop.poll() is not None:
                loop.communicate()
                if loop.returncode == 0:
                    break
                continue
            os.kill(loop.pid, signal.SIGKILL)  # coord alone: its lanes' supervisors go on
            loop.communicate()
        final = start_loop(root, *ARGS, *command, env=env)
        _out, err = final.communicate(timeout=300)
        assert final.returncode == 0, err
        assert "stopped: mission-done" in err
    finally:
        kill_everything(root)
    sessions = state(root)["sessions"]
    ids = [record["session_id"] for record in sessions]
    assert len(ids) == len(set(ids))
    assert all(record.get("ended_at") for record in sessions)  # every session recorded, none left running
    accepted = sorted(record["task_id"] for record in sessions if record["verdict"] == "accepted")
    assert accepted == sorted(f"T-{n}" for n in range(1, TASKS + 1))  # each task accepted once
    subjects = git(root, "log", "--format=%s", "main").splitlines()
    for n in range(1, TASKS + 1):
        assert sum(subject.startswith(f"T-{n}: done") for subject in subjects) == 1
    assert git(root, "rev-list", "--merges", "main") == ""
    # Every landed commit is one the gates passed on.
    ran_on = set(gated.read_text().split())
    assert all(record["landed"]["commit"] in ran_on for record in sessions if record.get("landed"))
    # A session recorded as crashed never had its agent at work (its supervisor was told to go
    # by no one): every agent that started was followed to its recorded end.
    started = {line.split()[1] for line in log.read_text().splitlines() if line.startswith("start ")}
    for record in sessions:
        if record["ended_reason"] == "crashed":
            assert record["task_id"] not in started or any(
                other["task_id"] == record["task_id"] and other["ended_reason"] != "crashed" for other in sessions
            )
    assert worktrees(root) == [str(root)]
    lanes = root / ORCH / "lanes"
    assert not lanes.exists() or list(lanes.iterdir()) == []
