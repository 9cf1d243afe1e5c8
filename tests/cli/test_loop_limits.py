"""A loop against what agents report: cost, usage limits (waits, hard walls, --max-wait), and gates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BIN, coord, sessions, wait_for
from loopkit import ORCH, REPLAY, agent, end_group, loop_env, loop_record, make_project, run_loop, start_loop, state


@pytest.fixture
def claude_env(tmp_path: Path) -> dict[str, str]:
    """A `claude` on PATH that replays recorded streams (FAKE_AGENT_STREAM)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    claude = folder / "claude"
    claude.write_text(f'#!/bin/sh\nexec {sys.executable} {REPLAY} "$@"\n')
    claude.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def test_max_cost_stops_once_the_summed_cost_reaches_it(root: Path, claude_env: dict[str, str]) -> None:
    env = {**claude_env, "FAKE_AGENT_STREAM": "claude-success.jsonl"}
    result = run_loop(root, "--max-cost", "0.8", env=env)
    assert result.returncode == 4, result.stderr
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], len(record["sessions"]), record["cost_usd"]) == ("max-cost", 2, 0.8426)
    assert [s["cost_usd"] for s in sessions(root)] == [0.4213, 0.4213]
    assert "loop 1/20: sess-001 T-002 completed, unfinished ($0.42)" in result.stderr
    assert "cost $0.84" in result.stderr.splitlines()[-1]


def test_a_hard_wall_stops_the_loop_at_once(root: Path, claude_env: dict[str, str]) -> None:
    result = run_loop(root, env={**claude_env, "FAKE_AGENT_STREAM": "claude-hard-wall.jsonl"})
    assert result.returncode == 4, result.stderr
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], len(record["sessions"])) == ("usage-limit", 1)
    (session,) = sessions(root)
    assert (session["ended_reason"], session["limit"]) == ("usage-limit", "hard")


def test_a_limit_that_lifts_past_max_wait_stops_the_loop(root: Path, claude_env: dict[str, str]) -> None:
    env = {**claude_env, "FAKE_AGENT_STREAM": "claude-usage-limit.jsonl", "FAKE_AGENT_RESETS_IN": "3600"}
    result = run_loop(root, "--max-wait", "30m", env=env)
    assert result.returncode == 4, result.stderr
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], len(record["sessions"])) == ("usage-limit", 1)
    assert "past --max-wait" in record["stop_detail"]
    assert record["failures_in_row"] == 0 and record["attempts"] == {}


def test_a_usage_limit_wait_is_shown_and_outlives_a_killed_loop(root: Path, claude_env: dict[str, str]) -> None:
    # Far off: the test's steps take what they take, the limit never lifts meanwhile (a stop ends the wait).
    env = {**claude_env, "FAKE_AGENT_STREAM": "claude-usage-limit.jsonl", "FAKE_AGENT_RESETS_IN": "3600"}
    first = start_loop(root, env=env)
    try:
        wait_for(lambda: (loop_record(root) or {}).get("waiting_until") is not None)
        until = loop_record(root)["waiting_until"]  # type: ignore[index]
        assert sessions(root)[0]["ended_reason"] == "usage-limit"
        view = coord("status", "--json", cwd=root)
        assert f'"waiting_until": "{until}"' in view.stdout
        text = coord("status", cwd=root).stdout
        assert f"waiting until {until} for a usage limit to lift" in text
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        assert "is no longer running" in coord("status", cwd=root).stdout
        second = start_loop(root, env=env)
        try:
            wait_for(lambda: (loop_record(root) or {}).get("loop_id") == "loop-002")
            record = loop_record(root)
            assert record is not None
            assert record["waiting_until"] == until
            assert "as the last loop left it" in record["waiting_for"]
            assert coord("stop", cwd=root).returncode == 0
            _, err = second.communicate(timeout=60)
            assert second.returncode == 0, err
        finally:
            end_group(second)
    finally:
        end_group(first)
    assert len(sessions(root)) == 1  # no session started before the limit lifts
    loops = {item["loop_id"]: item["stop_reason"] for item in state(root)["loops"]}
    assert loops == {"loop-001": "crashed", "loop-002": "stopped"}


def test_failing_gates_refuse_to_start_with_their_output(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    (root / "gate.txt").write_text("broken before the loop\n")
    result = run_loop(root, "--command", agent("fix"))
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("coord: error: the loop stopped: the gates already fail before any session: ")
    assert "--allow-failing-gates" in last
    assert result.stderr.splitlines().count("  | broken before the loop") == 1  # their output, once
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], record["sessions"]) == ("gates-failing", [])
    assert state(root)["sessions"] == []


ALL_DONE_TASKS = """\
| id | status | milestone | description | depends_on |
|----|--------|-----------|-------------|------------|
| T-001 | done | M1 | Scaffold | |
"""
SLOW_GATE = "verify: {command: 'sleep 0.5; echo ran >> gates.log; cat gate.txt; grep -qx ok gate.txt'}\n"


def test_a_detached_loop_answers_once_its_gates_pass_or_says_why_they_fail(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra=SLOW_GATE)
    (root / "gate.txt").write_text("broken before the loop\n")
    refused = run_loop(root, "--detach", "--command", agent("done"))
    assert refused.returncode == 1
    assert "coord: loop loop-001 started; its gates run first (`sleep 0.5; " in refused.stderr
    last = refused.stderr.splitlines()[-1]
    assert last.startswith("coord: error: the loop stopped before its first session: the gates already fail ")
    assert last.endswith("loop-001.log")
    log = (root / ORCH / "logs" / "loop-001.log").read_text()
    assert "\n  | broken before the loop\n" in log  # what the gates printed, in the loop's log
    record = loop_record(root)
    assert record is not None and (record["stop_reason"], record["sessions"]) == ("gates-failing", [])

    (root / "gate.txt").write_text("ok\n")
    started = run_loop(root, "--detach", "--max-sessions", "1", "--command", agent("done"))
    assert started.returncode == 0, started.stderr
    assert (root / "gates.log").read_text() == "ran\nran\n"  # answered only once they had run
    assert started.stdout.startswith("loop loop-002 started in the background: pid ")
    wait_for(lambda: (loop_record(root) or {}).get("stop_reason") == "max-sessions")


HELD_GATE = "verify: {command: 'until test -e go; do sleep 0.05; done; echo ran >> gates.log'}\n"
"""Gates that run until the test creates `go`: whatever the test does meanwhile meets them running."""


def detached_waiting(root: Path, *args: str) -> subprocess.Popen[str]:
    """`loop --detach ARGS`, once it has said that it waits for the gates."""
    waiting = subprocess.Popen(
        [str(BIN / "mosaic-coord"), "loop", "--detach", *args, "--command", agent("done")],
        cwd=root,
        env=loop_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiting.stderr is not None
    line = waiting.stderr.readline()
    assert line.startswith("coord: loop loop-001 started; its gates run first (`until test -e go; "), line
    return waiting


def test_ctrl_c_while_a_detached_loop_runs_its_gates_leaves_the_loop_going(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra=HELD_GATE)
    try:
        waiting = detached_waiting(root, "--max-sessions", "1")
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=60)
    finally:
        (root / "go").touch()
    assert waiting.returncode == 130, err
    assert err.startswith("coord: error: stopped waiting; the loop goes on in the background (pid ")
    wait_for(lambda: (loop_record(root) or {}).get("stop_reason") == "max-sessions")
    assert len(sessions(root)) == 1


def test_a_stop_while_a_detached_loop_runs_its_gates_is_its_answer(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra=HELD_GATE)
    try:
        waiting = detached_waiting(root)
        assert coord("stop", cwd=root).returncode == 0
    finally:
        (root / "go").touch()
    out, err = waiting.communicate(timeout=60)
    assert (waiting.returncode, out) == (
        0,
        "loop loop-001 stopped before its first session: stopped (`mosaic-coord stop` asked for it)\n",
    ), err
    assert sessions(root) == []


def test_stop_now_cuts_short_the_gates_before_a_loops_first_session(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra=HELD_GATE)
    loop = start_loop(root, "--command", agent("done"))
    try:
        assert loop.stderr is not None
        wait_for(lambda: (root / ORCH / "logs" / "loop-gates.verify.log").exists())
        assert coord("stop", "--now", cwd=root).returncode == 0
        loop.wait(timeout=60)  # the gates never end by themselves: only the stop ends them
    finally:
        (root / "go").touch()
        end_group(loop)
    assert not (root / "gates.log").exists()
    assert loop.returncode == 0, loop.stderr.read() if loop.stderr else ""
    record = loop_record(root)
    assert record is not None
    assert (record["stop_reason"], record["sessions"]) == ("stopped", [])
    assert "--now` asked for it while the gates ran before any session" in record["stop_detail"]


def test_a_detached_loop_whose_supervisor_dies_during_its_gates_names_its_log(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra=HELD_GATE)
    try:
        waiting = detached_waiting(root)
        record = loop_record(root)
        assert record is not None
        os.kill(int(record["pid"]), signal.SIGKILL)  # the supervisor alone, not the caller
        _, err = waiting.communicate(timeout=60)
    finally:
        (root / "go").touch()  # its gates, orphaned, end too
    assert waiting.returncode == 1
    assert err.endswith(
        "coord: error: the loop's supervisor ended before the loop's first session; see "
        f"{root / '.mosaic' / 'orchestrator' / 'logs' / 'loop-001.log'}\n"
    )


def test_a_detached_loop_on_a_done_mission_says_so_with_exit_0(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", tasks=ALL_DONE_TASKS)
    result = run_loop(root, "--detach", "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("loop loop-001 stopped before its first session: mission-done (all ")


def test_failing_gates_that_print_nothing_say_so(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", extra="verify: {command: test -f ok.txt}\n")
    result = run_loop(root, "--command", agent("done"))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].endswith("loop-gates.verify.log (it printed nothing)")


def test_allow_failing_gates_starts_anyway(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    (root / "gate.txt").write_text("broken before the loop\n")
    result = run_loop(root, "--allow-failing-gates", "--command", agent("fix"))
    assert result.returncode == 0, result.stderr
    assert [s["verdict"] for s in sessions(root)] == ["accepted"] * 3
