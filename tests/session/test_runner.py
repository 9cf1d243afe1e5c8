"""The session lifecycle, driven through the real mosaic-coord with a stand-in agent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, coord, start_coord, task_status, wait_for

from mosaic_invoke.store.liveness import is_alive, process_start_time

ORCH = Path(".mosaic") / "orchestrator"


def state(root: Path) -> dict:
    return json.loads((root / ORCH / "state.json").read_text())


def agent_env(tmp_path: Path, sleep: float = 0, exit_code: int = 0) -> dict[str, str]:
    return {
        "FAKE_AGENT_RECORD": str(tmp_path / "record.json"),
        "FAKE_AGENT_READY": str(tmp_path / "ready"),
        "FAKE_AGENT_SLEEP": str(sleep),
        "FAKE_AGENT_EXIT": str(exit_code),
    }


def test_a_completed_session(project: Path, tmp_path: Path) -> None:
    subfolder = project / "docs"
    result = coord(
        "run", "--command", AGENT_COMMAND, "--env", "EXTRA=1", "--env", "B=x=y", cwd=subfolder, env=agent_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["cwd"] == str(project.resolve())
    assert record["argv"][-1].startswith("## Continuation Mission")
    assert "- **Next task:** T-002" in record["argv"][-1]
    assert (record["env"]["EXTRA"], record["env"]["B"]) == ("1", "x=y")
    assert (record["env"]["MOSAIC_SESSION_ID"], record["env"]["MOSAIC_TASK_ID"]) == ("sess-001", "T-002")
    assert record["env"]["HOME"] == os.environ["HOME"]

    data = state(project)
    assert data["status"] == "active"
    (session,) = data["sessions"]
    assert session["session_id"] == "sess-001"
    assert (session["ended_reason"], session["exit_code"], session["task_id"]) == ("completed", 0, "T-002")
    assert session["milestone_id"] == "M1"
    assert session["host"] == socket.gethostname()
    assert session["duration_seconds"] >= 0 and session["ended_at"] >= session["started_at"]
    assert isinstance(session["pid_started_at"], int)
    assert not (project / ORCH / "session.lock").exists()
    assert task_status(project, "T-002") == "in-progress"
    assert "session sess-001 completed (exit 0" in result.stderr


def test_a_failed_session_passes_the_exit_code_through(project: Path, tmp_path: Path) -> None:
    result = coord("run", "-t", "T-002", "--command", AGENT_COMMAND, cwd=project, env=agent_env(tmp_path, exit_code=7))
    assert result.returncode == 7
    (session,) = state(project)["sessions"]
    assert (session["ended_reason"], session["exit_code"]) == ("failed", 7)
    assert not (project / ORCH / "session.lock").exists()


@pytest.mark.parametrize(
    ("how", "code"),
    [
        pytest.param("group-sigint", 130, id="ctrl-c"),
        pytest.param("coord-sigterm", 143, id="sigterm-forwarded"),  # the agent's code; coord's is 130
    ],
)
def test_an_interrupted_session(project: Path, tmp_path: Path, how: str, code: int) -> None:
    process = start_coord(project, agent_env(tmp_path, sleep=120), "run", "--command", AGENT_COMMAND)
    wait_for((tmp_path / "ready").exists)
    if how == "group-sigint":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    (session,) = state(project)["sessions"]
    assert (session["ended_reason"], session["exit_code"]) == ("interrupted", code)
    assert not (project / ORCH / "session.lock").exists()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        pytest.param("no-such-agent-xyz --flag", "command `no-such-agent-xyz` not found on PATH", id="missing"),
        pytest.param("{not_executable}", "is not executable", id="not-executable"),
    ],
)
def test_a_launch_that_fails_rolls_back(project: Path, tmp_path: Path, command: str, message: str) -> None:
    not_executable = tmp_path / "agent.sh"
    not_executable.write_text("#!/bin/sh\n")
    tasks_before = (project / "docs" / "TASKS.md").read_bytes()
    result = coord("run", "--command", command.format(not_executable=not_executable), cwd=project)
    assert result.returncode == 1
    assert result.stderr.startswith("coord: error: cannot start the agent")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert (project / "docs" / "TASKS.md").read_bytes() == tasks_before
    assert not (project / ORCH / "session.lock").exists()
    assert not (project / ORCH / "state.json").exists()


def test_unknown_runtime_lists_the_known_ones(project: Path) -> None:
    result = coord("run", "--runtime", "aidr", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "coord: error: unknown runtime `aidr`; known: claude, codex; "
        "add it under `runtimes:` in mission.yaml or pass --command"
    )


def test_a_runtime_from_mission_yaml(project: Path, tmp_path: Path) -> None:
    config = project / ".mosaic" / "mission.yaml"
    config.write_text(
        config.read_text() + f"runtimes:\n  fake: [{AGENT_COMMAND.replace(' ', ', ')}, --msg, '{{prompt}}', --end]\n"
    )
    result = coord("run", "--runtime", "fake", cwd=project, env=agent_env(tmp_path))
    assert result.returncode == 0, result.stderr
    argv = json.loads((tmp_path / "record.json").read_text())["argv"]
    assert argv[0] == "--msg" and argv[1].startswith("## Continuation") and argv[2] == "--end"
    assert "6. Launch runtime with `" in argv[1] and "--msg --end`" in argv[1]
    assert state(project)["sessions"][0]["runtime"] == "fake"


def test_a_live_session_blocks_run_and_resume(project: Path, tmp_path: Path) -> None:
    first = start_coord(project, agent_env(tmp_path, sleep=120), "run", "--command", AGENT_COMMAND)
    try:
        wait_for((tmp_path / "ready").exists)
        for command in ("run", "resume"):
            result = coord(command, "--command", AGENT_COMMAND, cwd=project)
            assert result.returncode == 3, result.stderr
            assert "session sess-001 is still running (pid " in result.stderr
        view = json.loads(coord("status", "--json", cwd=project).stdout)
        assert view["session"]["session_id"] == "sess-001"
        assert view["session"]["pid"] == int((tmp_path / "ready").read_text())
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.communicate(timeout=60)
    assert len(state(project)["sessions"]) == 1


def test_sigkill_of_coord_and_agent_then_resume(project: Path, tmp_path: Path) -> None:
    process = start_coord(project, agent_env(tmp_path, sleep=120), "run", "--command", AGENT_COMMAND)
    wait_for((tmp_path / "ready").exists)
    agent_pid = int((tmp_path / "ready").read_text())
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    # The orphaned agent may linger as a zombie: it must still count as dead.
    wait_for(lambda: not is_alive(agent_pid, None))

    blocked = coord("run", "--command", AGENT_COMMAND, cwd=project)
    assert blocked.returncode == 1
    assert "run `mosaic-coord resume` to record it as crashed" in blocked.stderr
    assert (project / ORCH / "session.lock").exists()

    view = json.loads(coord("status", "--json", cwd=project).stdout)
    assert view["stale_lock"]["session_id"] == "sess-001"
    assert view["session"] is None

    (tmp_path / "ready").unlink()
    resumed = coord("resume", "--command", AGENT_COMMAND, cwd=project, env=agent_env(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert "session sess-001 (pid" in resumed.stderr and "recorded as crashed" in resumed.stderr
    first, second = state(project)["sessions"]
    assert (first["ended_reason"], first["task_id"]) == ("crashed", "T-002")
    assert first["duration_seconds"] >= 0 and "exit_code" not in first
    assert (second["session_id"], second["ended_reason"], second["task_id"]) == ("sess-002", "completed", "T-002")
    prompt = json.loads((tmp_path / "record.json").read_text())["argv"][-1]
    assert "- **Session:** sess-001 (python, " in prompt and "- **Ended:** crashed" in prompt


def write_lock(root: Path, **fields: object) -> None:
    lock = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": os.getpid(),
        "started_at": "2026-11-20T10:00:00.000Z",
        "project_path": str(root),
        "task_id": "T-002",
        "host": socket.gethostname(),
        **fields,
    }
    (root / ORCH).mkdir(parents=True, exist_ok=True)
    (root / ORCH / "session.lock").write_text(json.dumps(lock))
    session = {k: lock[k] for k in ("session_id", "runtime", "pid", "started_at", "task_id")}
    (root / ORCH / "state.json").write_text(
        json.dumps({"version": 1, "mission_id": "demo", "status": "active", "sessions": [session]})
    )


def test_a_reused_pid_is_stale(project: Path) -> None:
    """The lock's pid is alive (it is this test's), but started at another time."""
    start = process_start_time(os.getpid())
    assert start is not None
    write_lock(project, pid_started_at=start + 1)
    result = coord("run", "--command", "false", cwd=project)
    assert result.returncode == 1
    assert "is no longer running but left its lock" in result.stderr
    write_lock(project, pid_started_at=start)
    assert coord("run", "--command", "false", cwd=project).returncode == 3


def test_print_only_previews_while_a_session_runs(project: Path) -> None:
    """A preview is never refused: it says what it found, shows the prompt, records nothing."""
    write_lock(project, pid_started_at=process_start_time(os.getpid()))
    tasks = project / "docs" / "TASKS.md"
    tasks.write_text(tasks.read_text() + "| T-006 | not-started | M2 | Docs | |\n")
    before = {p.name: p.read_bytes() for p in (project / ORCH).iterdir()}
    result = coord("run", "--print-only", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "- **Next task:** T-006" in result.stdout  # T-002 is the live session's
    assert "note: session sess-001 is still running (pid " in result.stderr
    after = {
        p.name: p.read_bytes() for p in (project / ORCH).iterdir() if p.name not in ("next-task.json", "coord.lock")
    }
    assert after == before


def test_a_lock_from_another_host_needs_force(project: Path, tmp_path: Path) -> None:
    write_lock(project, host="other-host-7", pid=999999)
    for command in ("run", "resume"):
        result = coord(command, "--command", "false", cwd=project)
        assert result.returncode == 3
        assert "started on host other-host-7" in result.stderr and "run `mosaic-coord resume --force`" in result.stderr
    result = coord("resume", "--force", "--command", AGENT_COMMAND, cwd=project, env=agent_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [s["ended_reason"] for s in state(project)["sessions"]] == ["crashed", "completed"]


def test_a_corrupt_lock_is_reported_and_ignored(project: Path, tmp_path: Path) -> None:
    (project / ORCH).mkdir(parents=True)
    (project / ORCH / "session.lock").write_text('{"pid": "x"')
    result = coord("run", "--command", AGENT_COMMAND, cwd=project, env=agent_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (
        "coord: warning: .mosaic/orchestrator/session.lock:1: lock is not valid JSON "
        "(Expecting ',' delimiter); treated as absent"
    ) in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["-t", "T-001"], "task T-001 is done and cannot be run", id="done"),
        pytest.param(["-t", "T-005"], "task T-005 is cancelled and cannot be run", id="cancelled"),
        pytest.param(["-t", "T-02"], "unknown task 'T-02' in docs/TASKS.md; did you mean T-002", id="unknown"),
        pytest.param(["-m", "M9"], "unknown milestone 'M9' in .mosaic/mission.yaml", id="milestone"),
        pytest.param(["--env", "NOEQUALS"], "--env: expected KEY=VALUE, got 'NOEQUALS'", id="env"),
    ],
)
def test_bad_requests_are_one_line_errors(project: Path, args: list[str], message: str) -> None:
    tasks = project / "docs" / "TASKS.md"
    tasks.write_text(tasks.read_text() + "| T-005 | cancelled | M2 | Dropped | |\n")
    result = coord("run", "--print-only", *args, cwd=project)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("coord: error: ") and message in line


def test_the_next_runnable_task_follows_dependencies(project: Path, tmp_path: Path) -> None:
    tasks = project / "docs" / "TASKS.md"
    assert json.loads(coord("run", "--print-only", "--json", cwd=project).stdout)["capsule"]["next_task"] == "T-002"
    tasks.write_text(tasks.read_text().replace("| T-002 | not-started", "| T-002 | blocked"))
    result = coord("run", "--print-only", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "coord: error: no runnable task in the tasks file: T-003 waits on T-002 (blocked); "
        "T-004 waits on T-003 (not-started); T-002 is blocked; pass --task to choose one"
    )
    tasks.write_text(tasks.read_text().replace("| T-003 | not-started", "| T-003 | in-progress"))
    assert json.loads(coord("run", "--print-only", "--json", cwd=project).stdout)["capsule"]["next_task"] == "T-003"


def test_a_missing_tasks_file(project: Path) -> None:
    (project / "docs" / "TASKS.md").unlink()
    result = coord("run", "--print-only", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == "coord: error: docs/TASKS.md: tasks file not found"


def test_resume_print_only_previews_without_recording(project: Path) -> None:
    write_lock(project, pid=999999)
    before = (project / ORCH / "state.json").read_bytes()
    result = coord("resume", "--print-only", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "- **Ended:** crashed" in result.stdout  # the prompt resume would give
    assert "- **Next task:** T-002" in result.stdout
    assert (project / ORCH / "state.json").read_bytes() == before
    assert (project / ORCH / "session.lock").exists()


def test_a_launch_whose_lock_cannot_be_written_says_so_and_rolls_back(project: Path, tmp_path: Path) -> None:
    """The failure that needed the rollback is the one reported, not a step of the rollback."""
    tasks_before = (project / "docs" / "TASKS.md").read_bytes()
    (project / ORCH / "session.lock").mkdir(parents=True)
    result = coord("run", "--command", AGENT_COMMAND, cwd=project, env=agent_env(tmp_path))
    assert result.returncode == 1
    *_, line = result.stderr.strip().splitlines()  # after the warning that the lock is unreadable
    assert line == "coord: error: .mosaic/orchestrator/session.lock: cannot write: Is a directory"
    assert (project / "docs" / "TASKS.md").read_bytes() == tasks_before
    assert not (tmp_path / "ready").exists()  # the agent never started


def test_a_session_launched_by_a_command_is_named_by_its_program(project: Path, tmp_path: Path) -> None:
    """Not by the configured runtime (`claude`), which did not run; --runtime names it when given."""
    assert coord("run", "--command", AGENT_COMMAND, cwd=project, env=agent_env(tmp_path)).returncode == 0
    assert (
        coord("run", "--runtime", "mine", "--command", AGENT_COMMAND, cwd=project, env=agent_env(tmp_path)).returncode
        == 0
    )
    assert [s["runtime"] for s in state(project)["sessions"]] == ["python", "mine"]


def test_a_preview_loads_nothing_that_starts_or_follows_an_agent(project: Path) -> None:
    script = (
        "import sys\n"
        "from mosaic_invoke.cli import main\n"
        "sys.argv = ['mosaic-coord', 'run', '--print-only']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "launching = ('launch', 'follow', 'record', 'process', 'watch', 'signals', 'verify', 'output', 'supervisor')\n"
        "print('loaded:', *[n for n in launching if 'mosaic_invoke.session.' + n in sys.modules], file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "loaded:"


def test_a_preview_names_the_files_the_prompt_points_at_that_do_not_exist(project: Path) -> None:
    mission = project / ".mosaic" / "mission.yaml"
    mission.write_text(mission.read_text() + "protocol_file: docs/PROTOCOL.md\n")
    preview = coord("run", "--print-only", cwd=project)
    assert preview.returncode == 0, preview.stderr
    assert preview.stderr == (
        "coord: note: the prompt points the agent at docs/MISSION-MANIFEST.md, docs/scratchpads/demo.md, "
        "docs/PROTOCOL.md, which do not exist yet; write them, or point mission.yaml's `manifest_file`, "
        "`scratchpad_file` or `protocol_file` elsewhere\n"
    )
    for name in ("docs/MISSION-MANIFEST.md", "docs/scratchpads/demo.md"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("# written\n")
    assert coord("run", "--print-only", cwd=project).stderr == (
        "coord: note: the prompt points the agent at docs/PROTOCOL.md, which does not exist yet; write it, "
        "or point mission.yaml's `protocol_file` elsewhere\n"
    )
    # One file named twice is named once, with both keys.
    mission.write_text(
        mission.read_text().replace("docs/PROTOCOL.md", "docs/NOTES.md") + "manifest_file: docs/NOTES.md\n"
    )
    assert coord("run", "--print-only", cwd=project).stderr == (
        "coord: note: the prompt points the agent at docs/NOTES.md, which does not exist yet; write it, "
        "or point mission.yaml's `manifest_file` or `protocol_file` elsewhere\n"
    )
    mission.write_text(mission.read_text().replace("docs/NOTES.md", "docs/PROTOCOL.md"))
    (project / "docs" / "PROTOCOL.md").write_text("# written\n")
    assert coord("run", "--print-only", cwd=project).stderr == ""
    # A path that cannot be looked at (a name too long for the file system) is not called absent.
    mission.write_text(mission.read_text().replace("docs/PROTOCOL.md", "/tmp/" + "a" * 300))
    unreadable = coord("run", "--print-only", cwd=project)
    assert (unreadable.returncode, unreadable.stderr) == (0, "")
