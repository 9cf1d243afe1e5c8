"""mission.yaml hooks: after_session gets the session record on stdin and MOSAIC_* variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, coord, wait_for

ORCH = Path(".mosaic") / "orchestrator"
RECORDING_HOOK = "cat > hook-input.json; env | grep ^MOSAIC_ | sort > hook-env.txt; pwd > hook-cwd.txt"


def with_hook(root: Path, command: str) -> None:
    config = root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + f"hooks:\n  after_session: {json.dumps(command)}\n")


def last_session(root: Path) -> dict:
    return json.loads((root / ORCH / "state.json").read_text())["sessions"][-1]


def test_after_session_gets_the_record_as_json_and_the_mosaic_variables(project: Path) -> None:
    with_hook(project, RECORDING_HOOK)
    result = coord("run", "--command", AGENT_COMMAND, cwd=project, env={"FAKE_AGENT_EXIT": "3"})
    assert result.returncode == 3, result.stderr
    record = json.loads((project / "hook-input.json").read_text())
    assert record == last_session(project)
    assert (record["session_id"], record["ended_reason"], record["exit_code"]) == ("sess-001", "failed", 3)
    assert (project / "hook-env.txt").read_text().splitlines() == [
        "MOSAIC_HOOK=after_session",
        "MOSAIC_MISSION_ID=demo",
        "MOSAIC_SESSION_ID=sess-001",
        "MOSAIC_TASK_ID=T-002",
    ]
    assert (project / "hook-cwd.txt").read_text().strip() == str(project.resolve())
    assert "warning" not in result.stderr


@pytest.mark.parametrize(
    ("hook", "said"),
    [
        pytest.param("exit 5", "failed (exit 5)", id="exit"),
        pytest.param("kill -9 $$", "failed (exit 137)", id="killed"),
    ],
)
@pytest.mark.parametrize("agent_exit", [0, 4])
def test_a_failing_hook_is_reported_and_the_exit_code_is_the_agents(
    project: Path, hook: str, said: str, agent_exit: int
) -> None:
    with_hook(project, hook)
    result = coord("run", "--command", AGENT_COMMAND, cwd=project, env={"FAKE_AGENT_EXIT": str(agent_exit)})
    assert result.returncode == agent_exit
    assert f"coord: warning: hook after_session (`{hook}`) {said}; carrying on" in result.stderr.splitlines()
    assert (last_session(project)["exit_code"], last_session(project)["ended_reason"]) == (
        agent_exit,
        "completed" if agent_exit == 0 else "failed",
    )
    assert not (project / ORCH / "session.lock").exists()


def test_a_hook_that_prints_leaves_run_json_parseable(project: Path) -> None:
    with_hook(project, "echo the hook has something to say")
    result = coord("run", "--json", "--command", AGENT_COMMAND, cwd=project)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["session_id"] == "sess-001"
    assert "the hook has something to say" in result.stderr


def test_after_session_runs_for_a_detached_session(project: Path) -> None:
    with_hook(project, RECORDING_HOOK + "; echo hook done")
    started = coord("run", "--detach", "--json", "--command", AGENT_COMMAND, cwd=project)
    assert started.returncode == 0, started.stderr
    log = Path(json.loads(started.stdout)["log_path"])
    wait_for(lambda: "hook done" in log.read_text())
    record = json.loads((project / "hook-input.json").read_text())
    assert record == last_session(project)
    assert record["ended_reason"] == "completed"
    assert "MOSAIC_SESSION_ID=sess-001" in (project / "hook-env.txt").read_text().splitlines()


def test_no_hook_configured_runs_nothing(project: Path) -> None:
    result = coord("run", "--command", AGENT_COMMAND, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "hook" not in result.stderr
