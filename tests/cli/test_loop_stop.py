"""Stopping a loop: `coord.stop` (after the session, or --now), SIGINT and SIGTERM, timeouts."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import coord, sessions, task_status, wait_for
from loopkit import agent, end_group, loop_record, make_project, run_loop, start_loop


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def running(root: Path, session: str) -> bool:
    record = loop_record(root)
    return record is not None and record.get("current_session") == session


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def test_stop_lets_the_session_finish_then_stops_with_0(root: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    loop = start_loop(root, "--command", agent("done"), env={"LOOP_AGENT_WAIT_FOR": str(release)})
    try:
        wait_for(lambda: running(root, "sess-001"))
        said = coord("stop", cwd=root)
        assert said.returncode == 0, said.stderr
        assert "asked loop loop-001" in said.stdout and "after its current session" in said.stdout
        release.touch()
        code, err = finish(loop)
    finally:
        release.touch()
        end_group(loop)
    assert code == 0, err
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], record["sessions"]) == ("stopped", ["sess-001"])
    (session,) = sessions(root)
    assert (session["ended_reason"], session["verdict"]) == ("completed", "accepted")  # it went on
    assert not (root / ".mosaic" / "orchestrator" / "stop-request.json").exists()


def test_stop_during_a_pause_ends_the_wait(root: Path) -> None:
    loop = start_loop(root, "--pause", "60", "--command", agent("done"))
    try:
        wait_for(lambda: (loop_record(root) or {}).get("waiting_until") is not None)
        asked = time.monotonic()
        assert coord("stop", cwd=root).returncode == 0
        code, err = finish(loop)
    finally:
        end_group(loop)
    assert code == 0, err
    assert time.monotonic() - asked < 30  # not the pause's 60 s
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], len(record["sessions"])) == ("stopped", 1)
    assert record.get("waiting_until") is None


def test_stop_now_interrupts_the_session_and_records_it(root: Path) -> None:
    """The interruption asked for is no failure: even with --max-failures 1 the loop stops as asked."""
    loop = start_loop(root, "--max-failures", "1", "--command", agent("hang"))
    try:
        wait_for(lambda: running(root, "sess-001"))
        said = coord("stop", "--now", cwd=root)
        assert said.returncode == 0 and "interrupting its session" in said.stdout
        code, err = finish(loop)
    finally:
        end_group(loop)
    assert code == 0, err
    assert loop_record(root)["stop_reason"] == "stopped"  # type: ignore[index]
    (session,) = sessions(root)
    assert session["ended_reason"] == "interrupted"
    assert not (root / ".mosaic" / "orchestrator" / "session.lock").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_loop_alone_interrupts_and_records_the_session_then_exits_130(
    root: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    log = tmp_path / "agent.log"
    args = ("--max-failures", "1", "--max-attempts", "1", "--command", agent("hang"))
    loop = start_loop(root, *args, env={"LOOP_AGENT_LOG": str(log)})
    try:
        wait_for(lambda: log.exists() and log.read_text().startswith("start sess-001"))  # the agent is at work
        loop.send_signal(signum)
        code, err = finish(loop)
    finally:
        end_group(loop)
    assert code == 130, err
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], record["sessions"]) == ("interrupted", ["sess-001"])
    (session,) = sessions(root)
    assert session["ended_reason"] == "interrupted"
    assert task_status(root, "T-002") == "in-progress"
    assert not (root / ".mosaic" / "orchestrator" / "session.lock").exists()


def test_a_signal_between_sessions_stops_the_loop(root: Path) -> None:
    loop = start_loop(root, "--pause", "60", "--command", agent("done"))
    try:
        wait_for(lambda: (loop_record(root) or {}).get("waiting_until") is not None)
        loop.send_signal(signal.SIGTERM)
        code, err = finish(loop)
    finally:
        end_group(loop)
    assert code == 130, err
    assert loop_record(root)["stop_reason"] == "interrupted"  # type: ignore[index]
    assert len(sessions(root)) == 1


def test_stop_without_a_running_loop_says_so(root: Path) -> None:
    never = coord("stop", cwd=root)
    assert never.returncode == 1
    assert never.stderr.startswith("coord: error: no loop has run")
    run_loop(root, "--max-sessions", "1", "--command", agent("done"))
    after = coord("stop", cwd=root)
    assert after.returncode == 1
    assert "no loop is running; the last one, loop-001, stopped: max-sessions" in after.stderr


@pytest.mark.parametrize("kind", ["session", "idle"])
def test_a_timeout_in_a_loop_ends_the_agent_and_counts_as_a_failure(root: Path, kind: str) -> None:
    flag = f"--{kind}-timeout"
    result = run_loop(root, flag, "1s", "--max-failures", "2", "--command", agent("hang"))
    assert result.returncode == 4, result.stderr
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], record["failures"], record["caps"][f"{kind}_timeout"]) == ("max-failures", 2, 1.0)
    assert [s["ended_reason"] for s in sessions(root)] == ["timeout", "timeout"]
    assert f"ran past its {kind} timeout" in result.stderr


def test_stop_json_state_holds_the_loop_summary(root: Path) -> None:
    """Each loop that ends leaves one summary in state.json's `loops`."""
    run_loop(root, "--max-sessions", "1", "--command", agent("done"))
    run_loop(root, "--max-sessions", "1", "--command", agent("done"))
    loops = json.loads((root / ".mosaic" / "orchestrator" / "state.json").read_text())["loops"]
    assert [(item["loop_id"], item["stop_reason"], item["sessions"]) for item in loops] == [
        ("loop-001", "max-sessions", ["sess-001"]),
        ("loop-002", "max-sessions", ["sess-002"]),
    ]


@pytest.mark.parametrize("when", ["before-any-session", "after-a-claim"])
def test_a_signal_while_the_gates_run_stops_the_loop_with_130(tmp_path: Path, when: str) -> None:
    """The gates run in a session of their own: coord stops them, records what it must, and stops."""
    root = make_project(tmp_path / "project", extra="verify: {command: 'touch gates.started; sleep 30'}\n")
    args = ["--command", agent("done")] + (["--allow-failing-gates"] if when == "after-a-claim" else [])
    loop = start_loop(root, *args)
    try:
        wait_for(lambda: (root / "gates.started").exists())
        loop.send_signal(signal.SIGTERM)
        code, err = finish(loop)
    finally:
        end_group(loop)
    assert code == 130, err
    record = loop_record(root)
    assert record is not None and record["stop_reason"] == "interrupted"
    if when == "before-any-session":
        assert sessions(root) == []
    else:
        (session,) = sessions(root)
        assert (session["verdict"], session["verification"]["interrupted"]) == ("none", True)  # nothing failed
        assert "rejected_because" not in session
        assert task_status(root, "T-002") == "in-progress"
        assert (record["failures"], record["attempts"]) == (0, {})
