"""Many coord processes at once on one mission: one agent, unique ids, nothing lost."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, BIN, coord, sessions, wait_for

ORCH = Path(".mosaic") / "orchestrator"


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_sixteen_runs_at_once_start_exactly_one_agent(project: Path, tmp_path: Path, detach: bool) -> None:
    release = tmp_path / "release"
    runs = tmp_path / "runs.log"
    env = {**os.environ, "FAKE_AGENT_WAIT_FOR": str(release), "FAKE_AGENT_LOG": str(runs), "FAKE_AGENT_SLEEP": "0"}
    args = [str(BIN / "mosaic-coord"), "run", "--task", "T-002", "--command", AGENT_COMMAND]
    if detach:
        args.append("--detach")
    processes = [
        subprocess.Popen(args, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(16)
    ]
    try:
        # Every loser exits 3 while the one agent waits; only then is the agent released. A
        # detached winner returns at once: all sixteen end before the agent may.
        done = 16 if detach else 15
        wait_for(lambda: sum(p.poll() is not None for p in processes) >= done)
        release.touch()
        codes = sorted(p.wait(timeout=60) for p in processes)
    finally:
        release.touch()
        errors = []
        for p in processes:
            if p.poll() is None:
                p.kill()
            errors.append(p.communicate()[1])
    assert codes == [0] + [3] * 15, [e for e in errors if "error" in e and "running" not in e]
    if detach:
        # The supervisor records the end, then removes the lock (in that order, under the state lock).
        wait_for(lambda: not (project / ORCH / "session.lock").exists())
    (session,) = sessions(project)
    assert (session["session_id"], session["ended_reason"]) == ("sess-001", "completed")
    assert len(runs.read_text().splitlines()) == 1
    assert not (project / ORCH / "session.lock").exists()


def test_thirty_runs_from_interleaved_processes_get_thirty_consecutive_ids(project: Path, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    refused = []

    def worker() -> None:
        done = 0
        while done < 10:
            result = coord(
                "run", "--task", "T-002", "--command", AGENT_COMMAND, cwd=project, env={"FAKE_AGENT_LOG": str(log)}
            )
            if result.returncode == 3:  # another worker's session is live: try again
                refused.append(1)
                continue
            assert result.returncode == 0, result.stderr
            done += 1

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # each run is bounded; a hang fails the test (pytest-timeout)
    recorded = sessions(project)
    assert [s["session_id"] for s in recorded] == [f"sess-{n:03d}" for n in range(1, 31)]
    assert all(s["ended_reason"] == "completed" for s in recorded)
    # Each session's agent saw its own id: no two runs shared one.
    seen = [line.split()[1] for line in log.read_text().splitlines()]
    assert sorted(seen) == [f"sess-{n:03d}" for n in range(1, 31)]
