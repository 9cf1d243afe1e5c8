"""Verdicts in a loop (accepted, rejected, unfinished, none), its step lines and its summary."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import sessions, task_status
from loopkit import ORCH, agent, loop_record, make_project, run_loop


def test_a_rejected_claim_reopens_the_task_and_the_next_prompt_says_why(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    count = tmp_path / "runs"
    result = run_loop(root, "--command", agent("break,fix"), env={"LOOP_AGENT_COUNT": str(count)})
    assert result.returncode == 0, result.stderr
    found = [(s["task_id"], s["verdict"]) for s in sessions(root)]
    assert found == [("T-002", "rejected"), ("T-002", "accepted"), ("T-003", "accepted"), ("T-004", "accepted")]
    first = sessions(root)[0]
    assert first["task_status_after"] == "done"  # as the agent left it; coord then reopened it
    assert first["rejected_because"] == "`cat gate.txt; grep -qx ok gate.txt` failed (exit 1)"
    prompt = (root / ORCH / "logs" / "sess-002.prompt.md").read_text()
    verify_log = root / ORCH / "logs" / "sess-001.verify.log"
    line = (
        "- **Verification:** T-002 was marked done, but `cat gate.txt; grep -qx ok gate.txt` failed (exit 1); "
        f"it is in-progress again; output: {verify_log}"
    )
    assert line in prompt
    assert "Verification" not in (root / ORCH / "logs" / "sess-003.prompt.md").read_text()
    step = "loop 1/20: sess-001 T-002 completed, rejected (`cat gate.txt; grep -qx ok gate.txt` failed (exit 1))"
    assert step in result.stderr
    assert "coord: 4 sessions: 3 accepted, 1 rejected, 0 failed; cost $0.00; wall time " in result.stderr


def test_a_rejected_task_is_in_progress_again_one_cell_changed(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    tasks = root / "docs" / "TASKS.md"
    before = tasks.read_text()
    result = run_loop(root, "--max-sessions", "1", "--command", agent("break"))
    assert result.returncode == 4, result.stderr
    assert sessions(root)[0]["verdict"] == "rejected"
    assert task_status(root, "T-002") == "in-progress"
    assert tasks.read_text() == before.replace("| T-002 | not-started |", "| T-002 | in-progress |")
    assert "T-002 was marked done, but `cat gate.txt; grep -qx ok gate.txt` failed (exit 1)" in result.stderr


def test_step_lines_show_the_verdict_gates_and_commits(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True, git=True)
    result = run_loop(root, "--max-sessions", "1", "--command", agent("commit"), env={"LOOP_AGENT_COMMITS": "2"})
    assert result.returncode == 4, result.stderr
    assert "coord: loop 1/1: sess-001 T-002 completed, accepted (gates passed, 2 commits)\n" in result.stderr
    (session,) = sessions(root)
    assert session["git"]["commits"] == 2
    assert session["verification"]["passed"] is True


def test_unfinished_and_failed_sessions_in_the_step_lines(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    count = tmp_path / "runs"
    env = {"LOOP_AGENT_COUNT": str(count)}
    result = run_loop(root, "--max-sessions", "3", "--command", agent("idle,fail,done"), env=env)
    assert result.returncode == 4, result.stderr
    assert [s["verdict"] for s in sessions(root)] == ["unfinished", "none", "accepted"]
    assert "loop 1/3: sess-001 T-002 completed, unfinished\n" in result.stderr
    assert "loop 2/3: sess-002 T-002 failed, none\n" in result.stderr
    assert "loop 3/3: sess-003 T-002 completed, accepted\n" in result.stderr
    record = loop_record(root)
    assert record is not None
    assert (record["accepted"], record["rejected"], record["failures"], record["failures_in_row"]) == (1, 0, 1, 0)
    assert record["attempts"] == {"T-002": 3}


def test_the_summary_names_sessions_verdicts_cost_wall_time_and_reason(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    result = run_loop(root, "--command", agent("done"))
    lines = result.stderr.splitlines()
    assert lines[-2] == "coord: loop loop-001 stopped: mission-done (all 4 tasks are done or cancelled)"
    assert re.fullmatch(r"coord: 3 sessions: 3 accepted, 0 rejected, 0 failed; cost \$0\.00; wall time \ds", lines[-1])
    assert lines[0].startswith("coord: loop loop-001 started: at most 20 sessions")
