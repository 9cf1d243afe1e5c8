"""`mosaic-coord loop`: each stop reason with its exit code, through the real program (SPEC 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import coord, sessions, task_status
from loopkit import agent, loop_record, make_project, run_loop, state

ALL_DONE = """\
| id | status | milestone | description | depends_on |
|----|--------|-----------|-------------|------------|
| T-001 | done | M1 | Scaffold | |
| T-002 | cancelled | M1 | Config | |
"""
BLOCKED = """\
| id | status | milestone | description | depends_on |
|----|--------|-----------|-------------|------------|
| T-001 | done | M1 | Scaffold | |
| T-002 | blocked | M1 | Config | |
| T-003 | not-started | M1 | Parser | T-002 |
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def stopped(root: Path) -> tuple[str, int]:
    record = loop_record(root)
    assert record is not None
    return record["stop_reason"], len(record["sessions"])


def test_mission_done_runs_every_task_then_exits_0(root: Path) -> None:
    result = run_loop(root, "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    assert stopped(root) == ("mission-done", 3)
    assert [s["task_id"] for s in sessions(root)] == ["T-002", "T-003", "T-004"]
    assert {s["verdict"] for s in sessions(root)} == {"accepted"}
    assert "stopped: mission-done (all 4 tasks are done or cancelled)" in result.stderr


def test_a_mission_done_before_the_first_session_runs_none(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", tasks=ALL_DONE)
    result = run_loop(root, "--command", agent("fail"))
    assert result.returncode == 0, result.stderr
    assert stopped(root) == ("mission-done", 0)
    assert state(root)["sessions"] == []
    assert "0 sessions: 0 accepted" in result.stderr


def test_milestone_done_stops_at_the_end_of_the_milestone(root: Path) -> None:
    result = run_loop(root, "--milestone", "M1", "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    assert stopped(root) == ("milestone-done", 2)
    assert task_status(root, "T-004") == "not-started"


def test_an_unknown_milestone_is_refused_before_any_loop_starts(root: Path) -> None:
    result = run_loop(root, "--milestone", "M3", "--command", agent("done"))
    assert result.returncode == 1
    assert result.stderr == "coord: error: unknown milestone 'M3' in .mosaic/mission.yaml\n"
    assert loop_record(root) is None


def test_no_runnable_task_exits_5_with_the_reason(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", tasks=BLOCKED)
    result = run_loop(root, "--command", agent("done"))
    assert result.returncode == 5, result.stderr
    reason, count = stopped(root)
    assert (reason, count) == ("no-runnable-task", 0)
    detail = loop_record(root)["stop_detail"]  # type: ignore[index]
    assert "T-003" in detail and "T-002" in detail
    assert f"no-runnable-task ({detail})" in result.stderr


def test_no_runnable_task_after_a_session_blocks_the_rest(root: Path) -> None:
    """The agent marks its task blocked: what waits on it cannot run."""
    tasks = root / "docs" / "TASKS.md"
    tasks.write_text(
        tasks.read_text().replace(
            "T-003 | not-started | M1 | Parser | T-002", "T-003 | not-started | M1 | Parser | T-009"
        )
    )
    tasks.write_text(tasks.read_text().replace("| T-004 |", "| T-009 | blocked | M2 | Later | |\n| T-004 |"))
    result = run_loop(root, "--command", agent("done"))
    assert result.returncode == 5, result.stderr
    assert stopped(root) == ("no-runnable-task", 1)


def test_max_sessions_exits_4(root: Path) -> None:
    result = run_loop(root, "--max-sessions", "2", "--command", agent("done"))
    assert result.returncode == 4, result.stderr
    assert stopped(root) == ("max-sessions", 2)
    assert task_status(root, "T-004") == "not-started"


def test_max_hours_is_checked_between_sessions(root: Path) -> None:
    # The loop's start-up before its first session counts too: 2 s leave room for it on a loaded machine.
    result = run_loop(root, "--max-hours", "2s", "--command", agent("done"), env={"LOOP_AGENT_SLEEP": "2.1"})
    assert result.returncode == 4, result.stderr
    assert stopped(root) == ("max-hours", 1)


def test_max_hours_stops_at_once_when_a_wait_would_outlast_it(root: Path) -> None:
    result = run_loop(root, "--max-hours", "30s", "--pause", "2m", "--command", agent("done"), timeout=90)
    assert result.returncode == 4, result.stderr
    assert stopped(root) == ("max-hours", 1)
    assert "the wait would outlast the loop's 30s" in result.stderr


def test_max_failures_exits_4(root: Path) -> None:
    result = run_loop(root, "--max-failures", "2", "--max-attempts", "9", "--command", agent("fail"))
    assert result.returncode == 4, result.stderr
    assert stopped(root) == ("max-failures", 2)
    assert [s["ended_reason"] for s in sessions(root)] == ["failed", "failed"]
    assert loop_record(root)["failures_in_row"] == 2  # type: ignore[index]


def test_an_always_failing_agent_on_one_task_stops_with_max_failures_not_max_attempts(root: Path) -> None:
    result = run_loop(root, "--max-failures", "3", "--max-attempts", "3", "--command", agent("fail"))
    assert result.returncode == 4, result.stderr
    assert stopped(root) == ("max-failures", 3)
    assert loop_record(root)["attempts"] == {"T-002": 3}  # type: ignore[index]


def test_max_attempts_exits_4_when_a_task_is_never_finished(root: Path) -> None:
    """An agent that ends well but never marks its task done is no failure; its attempts still count."""
    result = run_loop(root, "--max-attempts", "2", "--command", agent("idle"))
    assert result.returncode == 4, result.stderr
    assert stopped(root) == ("max-attempts", 2)
    assert [s["verdict"] for s in sessions(root)] == ["unfinished", "unfinished"]
    assert loop_record(root)["failures_in_row"] == 0  # type: ignore[index]


def test_a_rejected_claim_counts_as_a_failure_in_a_row(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    result = run_loop(root, "--max-failures", "2", "--max-attempts", "9", "--command", agent("break"))
    assert result.returncode == 4, result.stderr
    assert stopped(root) == ("max-failures", 2)
    assert [s["verdict"] for s in sessions(root)] == ["rejected", "rejected"]


def test_a_missing_agent_command_stops_the_loop_at_once_as_unusable(root: Path) -> None:
    result = run_loop(root, "--command", "no-such-agent-here")
    assert result.returncode == 1, result.stderr
    assert stopped(root) == ("agent-unusable", 0)
    assert result.stderr.rstrip().splitlines()[-1].startswith("coord: error: the loop stopped: ")
    assert "no-such-agent-here" in result.stderr
    assert "Traceback" not in result.stderr
    assert task_status(root, "T-002") == "not-started"


def test_a_tasks_file_broken_during_the_loop_stops_it_with_error(root: Path) -> None:
    script = root / "spoil.sh"
    script.write_text("printf '| T-002 | nonsense |\\n' >> docs/TASKS.md\n")
    result = run_loop(root, "--command", f"/bin/sh {script}")
    assert result.returncode == 1, result.stderr
    assert stopped(root) == ("error", 1)
    assert "coord: error: the loop stopped: " in result.stderr and "TASKS.md" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_prints_only_the_summary_on_stdout(root: Path) -> None:
    result = run_loop(root, "--json", "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["stop_reason"] == "mission-done"
    assert summary["sessions"] == ["sess-001", "sess-002", "sess-003"]
    assert (summary["accepted"], summary["rejected"], summary["failures"]) == (3, 0, 0)
    assert summary["cost_usd"] == 0
    assert "agent done on T-002" in result.stderr
    assert "loop 1/20: sess-001 T-002 completed, accepted" in result.stderr


def test_an_unknown_runtime_is_refused_before_any_loop_starts(project: Path) -> None:
    result = coord("loop", "--runtime", "nope", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "coord: error: unknown runtime `nope`; known: claude, codex; "
        "add it under `runtimes:` in mission.yaml or pass --command"
    )
    assert not (project / ".mosaic" / "orchestrator" / "loop.json").exists()
