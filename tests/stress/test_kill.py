"""SIGKILL coord at random instants: every file still parses, no record is lost, resume recovers."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from conftest import AGENT_COMMAND, BIN, coord

from mosaic_invoke.tasks.tasksfile import read_tasks

ORCH = Path(".mosaic") / "orchestrator"
ROUNDS = 20


def check_files(root: Path) -> list[str]:
    """Every file coord owns parses; returns the recorded session ids."""
    read_tasks(root / "docs" / "TASKS.md")
    for name in ("next-task.json", "session.lock"):
        path = root / ORCH / name
        if path.exists():
            assert isinstance(json.loads(path.read_text()), dict), name
    state = root / ORCH / "state.json"
    if not state.exists():
        return []
    return [s["session_id"] for s in json.loads(state.read_text())["sessions"]]


def test_kill_at_any_instant(project: Path) -> None:
    rng = random.Random(20261125)
    env = {**os.environ}
    recorded: list[str] = []
    for round_number in range(ROUNDS):
        agent_env = {**env, "FAKE_AGENT_SLEEP": str(rng.choice([0, 0.05, 0.2]))}
        process = subprocess.Popen(
            [str(BIN / "mosaic-coord"), "run", "--task", "T-002", "--command", AGENT_COMMAND],
            cwd=project,
            env=agent_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0, 0.45))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)

        after_kill = check_files(project)
        assert after_kill[: len(recorded)] == recorded, f"round {round_number}: a session record was lost"
        result = coord("resume", "--command", AGENT_COMMAND, cwd=project)
        assert result.returncode == 0, f"round {round_number}: {result.stderr}"
        recorded = check_files(project)
        assert recorded[: len(after_kill)] == after_kill
        assert len(recorded) == len(set(recorded))
        assert not (project / ORCH / "session.lock").exists()
    state = json.loads((project / ORCH / "state.json").read_text())
    assert all(s.get("ended_reason") in ("completed", "crashed") for s in state["sessions"])
    assert sum(s["ended_reason"] == "completed" for s in state["sessions"]) >= ROUNDS
