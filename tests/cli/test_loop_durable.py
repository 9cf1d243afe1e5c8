"""A loop's record while it runs and after: loop.json, status, refusals beside it, crashed loops, --detach."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from conftest import coord, sessions, wait_for
from loopkit import ORCH, agent, end_group, loop_record, make_project, run_loop, start_loop, state


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def gone(pid: int) -> bool:
    """The process has exited (a zombie counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def now_running(root: Path, session: str) -> bool:
    return (loop_record(root) or {}).get("current_session") == session


def test_loop_json_and_status_follow_a_running_loop(root: Path, tmp_path: Path) -> None:
    env = {"LOOP_AGENT_WAIT_FOR": str(tmp_path / "release-{session}")}
    loop = start_loop(root, "--max-sessions", "5", "--command", agent("done"), env=env)
    try:
        wait_for(lambda: now_running(root, "sess-001"))
        (tmp_path / "release-sess-001").touch()
        wait_for(lambda: now_running(root, "sess-002"))
        record = loop_record(root)
        assert record is not None
        assert (record["loop_id"], record["pid"], record["host"]) == ("loop-001", loop.pid, os.uname().nodename)
        assert isinstance(record["pid_started_at"], int) and record["started_at"].endswith("Z")
        assert record["caps"]["max_sessions"] == 5
        assert (record["sessions"], record["failures_in_row"], record["attempts"]) == (["sess-001"], 0, {"T-002": 1})
        assert (record["cost_usd"], record.get("waiting_until"), record.get("ended_at")) == (0.0, None, None)
        view = json.loads(coord("status", "--json", cwd=root).stdout)["loop"]
        found = (view["state"], view["step"], view["max_sessions"], view["current_session"])
        assert found == ("running", 2, 5, "sess-002")  # step 2: the session running counts
        text = coord("status", cwd=root).stdout
        assert f"loop     loop-001 running (pid {loop.pid}), step 2/5, since {record['started_at']}" in text
        assert "now running sess-002" in text
        for name in ("release-sess-002", "release-sess-003"):
            (tmp_path / name).touch()
        _, err = loop.communicate(timeout=60)
        assert loop.returncode == 0, err
    finally:
        for name in ("release-sess-001", "release-sess-002", "release-sess-003"):
            (tmp_path / name).touch()
        end_group(loop)
    text = coord("status", cwd=root).stdout
    assert "loop     loop-001 stopped: mission-done (all 4 tasks are done or cancelled), at " in text
    view = json.loads(coord("status", "--json", cwd=root).stdout)["loop"]
    assert (view["state"], view["stop_reason"], view["step"]) == ("ended", "mission-done", 3)
    (summary,) = state(root)["loops"]
    assert (summary["loop_id"], summary["sessions"]) == ("loop-001", ["sess-001", "sess-002", "sess-003"])


def test_nothing_else_starts_a_session_beside_a_running_loop(root: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    loop = start_loop(root, "--pause", "60", "--command", agent("done"), env={"LOOP_AGENT_WAIT_FOR": str(release)})
    try:
        refusing = {
            "in a session": (["loop"], ["run"], ["resume"]),
            "between sessions": (["run"], ["loop", "--detach"]),
        }
        for moment, commands in refusing.items():
            if moment == "in a session":
                wait_for(lambda: now_running(root, "sess-001"))
            else:
                release.touch()
                wait_for(lambda: (loop_record(root) or {}).get("waiting_until") is not None)
            for command in commands:
                refused = coord(*command, "--command", agent("done"), cwd=root)
                assert refused.returncode == 3, (moment, command, refused.stderr)
                assert "loop-001" in refused.stderr or "sess-001" in refused.stderr
            preview = coord("run", "--print-only", "--task", "T-004", "--command", agent("done"), cwd=root)
            assert preview.returncode == 0, preview.stderr
        assert coord("stop", cwd=root).returncode == 0
        _, err = loop.communicate(timeout=60)
        assert loop.returncode == 0, err
    finally:
        release.touch()
        end_group(loop)
    assert [s["session_id"] for s in sessions(root)] == ["sess-001"]


@pytest.mark.parametrize("command", ["run", "resume", "loop"])
def test_a_killed_loop_is_recorded_crashed_by_the_next_command_that_writes(root: Path, command: str) -> None:
    loop = start_loop(root, "--pause", "60", "--command", agent("done"))
    try:
        wait_for(lambda: (loop_record(root) or {}).get("waiting_until") is not None)
        loop.send_signal(signal.SIGKILL)
        loop.wait(timeout=60)
    finally:
        end_group(loop)
    assert "loop-001 (pid" in coord("status", cwd=root).stdout  # read-only: it only says so
    assert loop_record(root).get("ended_at") is None  # type: ignore[union-attr]
    extra = ["--max-sessions", "1", "--backoff", "0"] if command == "loop" else []
    result = coord(command, *extra, "--command", agent("done"), cwd=root)
    assert result.returncode == (4 if command == "loop" else 0), result.stderr
    crashed = next(item for item in state(root)["loops"] if item["loop_id"] == "loop-001")
    assert (crashed["stop_reason"], crashed["sessions"]) == ("crashed", ["sess-001"])
    assert [s["session_id"] for s in sessions(root)] == ["sess-001", "sess-002"]
    if command == "loop":
        assert loop_record(root)["loop_id"] == "loop-002"  # type: ignore[index]
    else:
        assert loop_record(root)["stop_reason"] == "crashed"  # type: ignore[index]


def test_a_loop_killed_while_its_agent_runs_is_continued_once_the_agent_ends(root: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    runs = tmp_path / "runs.log"
    env = {"LOOP_AGENT_WAIT_FOR": str(release), "LOOP_AGENT_LOG": str(runs)}
    loop = start_loop(root, "--command", agent("done"), env=env)
    try:
        wait_for(lambda: runs.exists() and "start sess-001" in runs.read_text())  # past its gate
        loop.send_signal(signal.SIGKILL)
        loop.wait(timeout=60)
        refused = run_loop(root, "--command", agent("done"))
        assert refused.returncode == 3  # its agent still works
        assert "session sess-001 is still running" in refused.stderr
        release.touch()
        wait_for(lambda: gone(sessions(root)[0]["pid"]))
    finally:
        release.touch()
        end_group(loop)
    result = run_loop(root, "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    found = [(s["session_id"], s["task_id"], s["ended_reason"]) for s in sessions(root)]
    assert found[0] == ("sess-001", "T-002", "crashed")
    assert [task for _, task, _ in found[1:]] == ["T-002", "T-003", "T-004"]  # the cut-off task first
    crashed = state(root)["loops"][0]
    assert (crashed["stop_reason"], crashed["sessions"]) == ("crashed", ["sess-001"])  # the one it had started
    assert loop_record(root)["stop_reason"] == "mission-done"  # type: ignore[index]


def test_detach_runs_the_loop_under_a_supervisor_with_its_own_log(root: Path, tmp_path: Path) -> None:
    (root / ORCH).mkdir(parents=True)
    (root / ORCH / "loop.json").write_text("{half a loop")
    release = tmp_path / "release"
    try:
        result = coord(
            "loop",
            "--detach",
            "--backoff",
            "0",
            "--command",
            agent("done"),
            cwd=root,
            env={"LOOP_AGENT_WAIT_FOR": str(release)},
        )
        assert result.returncode == 0, result.stderr
        running = loop_record(root)  # answered at once: its first session waits to be let go
        assert running is not None and (running["loop_id"], running.get("stop_reason")) == ("loop-001", None)
    finally:
        release.touch()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("loop loop-001 started in the background: pid ")
    log = root / ORCH / "logs" / "loop-001.log"
    assert lines[1] == f"log: {log}"
    wait_for(lambda: (loop_record(root) or {}).get("stop_reason") is not None)
    assert loop_record(root)["stop_reason"] == "mission-done"  # type: ignore[index]
    text = log.read_text()
    assert "coord: warning: .mosaic/orchestrator/loop.json:1: the loop record is not valid JSON" in text
    assert "coord: loop loop-001 started: at most 20 sessions" in text
    assert "coord: loop 3/20: sess-003 T-004 completed, accepted" in text
    assert "agent done on T-004" in text
    wait_for(lambda: "coord: 3 sessions: 3 accepted" in log.read_text())


def test_detach_json_prints_the_loop_id_pid_and_log(root: Path) -> None:
    result = coord("loop", "--detach", "--json", "--max-sessions", "1", "--command", agent("done"), cwd=root)
    assert result.returncode == 0, result.stderr
    started = json.loads(result.stdout)
    assert started["loop_id"] == "loop-001" and isinstance(started["pid"], int)
    assert started["log_path"].endswith("logs/loop-001.log")
    wait_for(lambda: (loop_record(root) or {}).get("stop_reason") == "max-sessions")


def test_stop_reaches_a_detached_loop_and_now_interrupts_its_session(root: Path) -> None:
    started = coord("loop", "--detach", "--json", "--command", agent("hang"), cwd=root)
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    try:
        wait_for(lambda: now_running(root, "sess-001"))
        said = coord("stop", "--now", cwd=root)
        assert said.returncode == 0, said.stderr
        wait_for(lambda: (loop_record(root) or {}).get("stop_reason") is not None)
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert loop_record(root)["stop_reason"] == "stopped"  # type: ignore[index]
    (session,) = sessions(root)
    assert session["ended_reason"] == "interrupted"
    wait_for(lambda: gone(session["pid"]))
