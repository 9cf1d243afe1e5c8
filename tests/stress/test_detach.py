"""Detached sessions: shown while they run, their end recorded by the supervisor, crashes recovered."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from conftest import AGENT_COMMAND, BIN, coord, wait_for

from mosaic_invoke.store.liveness import is_alive

ORCH = Path(".mosaic") / "orchestrator"


def status(root: Path) -> dict:
    result = coord("status", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start_detached(root: Path, env: dict[str, str]) -> dict:
    result = coord("run", "--detach", "--json", "--command", AGENT_COMMAND, cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_detached_session_runs_logs_and_is_recorded(project: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    started = start_detached(project, {"FAKE_AGENT_WAIT_FOR": str(release), "FAKE_AGENT_EXIT": "4"})
    assert started["session_id"] == "sess-001"
    log = Path(started["log_path"])
    assert log == project.resolve() / ORCH / "logs" / "sess-001.log"

    view = status(project)
    assert view["session"]["session_id"] == "sess-001"
    assert view["session"]["pid"] == started["pid"]
    assert view["session"]["log_path"] == str(log)
    assert coord("run", "--command", AGENT_COMMAND, cwd=project).returncode == 3

    release.touch()
    wait_for(lambda: status(project)["session"] is None)
    (session,) = status(project)["sessions"]
    assert (session["ended_reason"], session["exit_code"]) == ("failed", 4)
    assert session["duration_seconds"] >= 0
    assert "fake agent done" in log.read_text()
    assert not (project / ORCH / "session.lock").exists()


def test_sigkill_of_the_agent_alone_is_recorded_by_the_supervisor(project: Path, tmp_path: Path) -> None:
    started = start_detached(project, {"FAKE_AGENT_SLEEP": "120"})
    os.kill(started["pid"], signal.SIGKILL)
    wait_for(lambda: status(project)["session"] is None)
    (session,) = status(project)["sessions"]
    assert (session["ended_reason"], session["exit_code"]) == ("failed", 128 + signal.SIGKILL)


def test_sigkill_of_agent_and_supervisor_leaves_a_stale_lock_that_resume_recovers(project: Path) -> None:
    started = start_detached(project, {"FAKE_AGENT_SLEEP": "120"})
    supervisor = json.loads((project / ORCH / "session.lock").read_text())["owner_pid"]
    os.kill(supervisor, signal.SIGKILL)
    os.killpg(started["pid"], signal.SIGKILL)  # the agent leads a process group of its own
    wait_for(lambda: not is_alive(started["pid"], None) and not is_alive(supervisor, None))
    view = status(project)
    assert view["stale_lock"]["session_id"] == "sess-001"
    resumed = coord("resume", "--command", AGENT_COMMAND, cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert [(s["session_id"], s["ended_reason"]) for s in status(project)["sessions"]] == [
        ("sess-001", "crashed"),
        ("sess-002", "completed"),
    ]


def test_a_detached_launch_that_fails_rolls_back(project: Path) -> None:
    tasks_before = (project / "docs" / "TASKS.md").read_bytes()
    result = coord("run", "--detach", "--command", "no-such-agent-xyz", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "coord: error: cannot start the agent: command `no-such-agent-xyz` not found on PATH; "
        "install it, or choose another with --runtime or --command"
    )
    assert (project / "docs" / "TASKS.md").read_bytes() == tasks_before
    assert not (project / ORCH / "session.lock").exists()
    assert not (project / ORCH / "state.json").exists()


def test_a_project_module_named_like_the_standard_library_does_not_break_detach(project: Path) -> None:
    """The supervisor runs in the project root, yet imports none of the project's modules."""
    for name in ("json", "subprocess", "signal", "selectors"):
        (project / f"{name}.py").write_text("raise SystemExit('the project module was imported')\n")
    started = start_detached(project, {})
    wait_for(lambda: status(project)["session"] is None)
    (session,) = status(project)["sessions"]
    assert (session["session_id"], session["ended_reason"], session["exit_code"]) == ("sess-001", "completed", 0)
    log = Path(started["log_path"]).read_text()
    assert "fake agent done" in log
    assert "the project module was imported" not in log


def test_print_only_previews_while_a_detached_session_runs(project: Path, tmp_path: Path) -> None:
    tasks = project / "docs" / "TASKS.md"
    tasks.write_text(tasks.read_text() + "| T-006 | not-started | M2 | Docs | |\n")
    release = tmp_path / "release"
    start_detached(project, {"FAKE_AGENT_WAIT_FOR": str(release)})
    try:
        result = coord("run", "--print-only", cwd=project)
        assert result.returncode == 0, result.stderr
        assert "note: session sess-001 is still running (pid " in result.stderr
        assert "- **Next task:** T-006" in result.stdout  # T-002 is the live session's
        resumed = coord("resume", "--print-only", "--json", cwd=project)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["capsule"]["next_task"] == "T-006"
    finally:
        release.touch()
    wait_for(lambda: status(project)["session"] is None)
    assert [s["session_id"] for s in status(project)["sessions"]] == ["sess-001"]


def test_sigterm_to_the_supervisor_at_random_instants_is_always_recorded(project: Path) -> None:
    """The supervisor is signalled at a random instant after the session lock names it, while
    coord hands it the session and it prepares to follow its agent. It noted no signal until
    then, and its watch heeded none that came before it began: SIGTERM ended it, leaving the
    session unrecorded and its lock behind, or was ignored while the agent worked on."""
    rng = random.Random(os.environ.get("STRESS_SEED", "supervisor-sigterm"))
    lock = project / ORCH / "session.lock"
    for round_number in range(1, 16):
        run = subprocess.Popen(
            [str(BIN / "mosaic-coord"), "run", "--detach", "--json", "--command", AGENT_COMMAND],
            cwd=project,
            env={**os.environ, "FAKE_AGENT_SLEEP": "120"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        wait_for(lambda: owner_of(lock) is not None, timeout=120)
        time.sleep(rng.uniform(0, 0.005))
        os.kill(owner_of(lock), signal.SIGTERM)  # type: ignore[arg-type]
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        agent = json.loads(out)["pid"]
        wait_for(lambda: status(project)["session"] is None)
        session = status(project)["sessions"][-1]
        assert session["session_id"] == f"sess-{round_number:03d}"
        assert (session["ended_reason"], session["exit_code"]) == ("interrupted", 128 + signal.SIGTERM)
        wait_for(lambda agent=agent: not is_alive(agent, None))


def owner_of(lock: Path) -> int | None:
    """The pid of the supervisor a session lock names, once the lock is there."""
    try:
        return int(json.loads(lock.read_text())["owner_pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_sigterm_to_the_supervisor_ends_the_agent_and_is_recorded(project: Path) -> None:
    started = start_detached(project, {"FAKE_AGENT_SLEEP": "120"})
    supervisor = json.loads((project / ORCH / "session.lock").read_text())["owner_pid"]
    assert supervisor not in (started["pid"], os.getpid())
    os.kill(supervisor, signal.SIGTERM)
    wait_for(lambda: status(project)["session"] is None)
    (session,) = status(project)["sessions"]
    assert (session["ended_reason"], session["exit_code"]) == ("interrupted", 128 + signal.SIGTERM)
    wait_for(lambda: not is_alive(started["pid"], None))


def test_sigterm_to_a_foreground_run_at_random_instants_is_always_recorded(project: Path) -> None:
    """`run` is sent SIGTERM at a random instant after its session lock appears, while it
    starts the agent and prepares to follow it: it ended there (the default action) with the
    session unrecorded and its lock behind. It is always recorded `interrupted`, exit 130."""
    rng = random.Random(os.environ.get("STRESS_SEED", "run-sigterm"))
    lock = project / ORCH / "session.lock"
    for round_number in range(1, 16):
        run = subprocess.Popen(
            [str(BIN / "mosaic-coord"), "run", "--command", AGENT_COMMAND],
            cwd=project,
            env={**os.environ, "FAKE_AGENT_SLEEP": "120"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: owner_of(lock) is not None, timeout=120)
        agent = json.loads(lock.read_text())["pid"]
        time.sleep(rng.uniform(0, 0.005))
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=120)
        assert run.returncode == 130, err
        assert not lock.exists()
        session = status(project)["sessions"][-1]
        assert session["session_id"] == f"sess-{round_number:03d}"
        assert session["ended_reason"] == "interrupted", session
        wait_for(lambda agent=agent: not is_alive(agent, None))
