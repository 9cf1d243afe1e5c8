from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from conftest import AGENT_COMMAND, coord

ORCH = Path(".mosaic") / "orchestrator"


def status_json(root: Path) -> dict:
    result = coord("status", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_status_with_no_sessions(project: Path) -> None:
    before = snapshot(project)
    view = status_json(project)
    assert snapshot(project) == before  # read-only: not even the orchestrator folder is created
    assert view["mission"] == {"id": "demo", "name": "Demo mission", "status": "pending"}
    assert view["project_path"] == str(project.resolve())
    assert view["branch"] is None
    assert view["progress"] == {"done": 1, "total": 4, "pct": 25}
    assert view["milestones"] == [
        {"id": "M1", "name": "Foundations", "status": "in-progress", "done": 1, "total": 3, "current": True},
        {"id": "M2", "name": "API", "status": "pending", "done": 0, "total": 1, "current": False},
    ]
    assert view["counts"] == {"not-started": 3, "in-progress": 0, "done": 1, "blocked": 0, "failed": 0, "cancelled": 0}
    assert view["next_task"] == "T-002"
    assert (view["session"], view["stale_lock"], view["sessions"]) == (None, None, [])


def test_status_after_sessions_shows_recent_ones_newest_last(project: Path, tmp_path: Path) -> None:
    for code in ("0", "3"):
        coord("run", "--command", AGENT_COMMAND, cwd=project, env={"FAKE_AGENT_EXIT": code})
    view = status_json(project)
    assert view["mission"]["status"] == "active"
    assert [(s["session_id"], s["ended_reason"], s["exit_code"]) for s in view["sessions"]] == [
        ("sess-001", "completed", 0),
        ("sess-002", "failed", 3),
    ]
    assert view["next_task"] == "T-002"  # left in-progress, no session: cut off, so it comes first
    text = coord("status", cwd=project).stdout
    assert "Demo mission (demo): active" in text
    assert "  > M1  Foundations  in-progress  1/3" in text
    assert "running  nothing" in text
    assert "  sess-002  python  T-002" in text  # a --command session is named by its program
    assert "failed (exit 3)" in text


def test_status_with_a_stale_lock(project: Path) -> None:
    (project / ORCH).mkdir(parents=True)
    lock = {
        "session_id": "sess-004",
        "runtime": "codex",
        "pid": 999999,
        "started_at": "2026-11-20T10:00:00.000Z",
        "project_path": str(project),
        "host": socket.gethostname(),
    }
    (project / ORCH / "session.lock").write_text(json.dumps(lock))
    view = status_json(project)
    assert view["session"] is None
    assert view["stale_lock"] == {"session_id": "sess-004", "pid": 999999, "host": socket.gethostname()}
    text = coord("status", cwd=project).stdout
    assert "stale    sess-004 (pid 999999) is not running but left its lock; recover with `mosaic-coord resume`" in text


def test_status_with_a_live_session(project: Path) -> None:
    (project / ORCH).mkdir(parents=True)
    lock = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": os.getpid(),
        "task_id": "T-002",
        "started_at": "2026-11-20T10:00:00.000Z",
        "project_path": str(project),
    }
    (project / ORCH / "session.lock").write_text(json.dumps(lock))
    view = status_json(project)
    assert view["session"]["session_id"] == "sess-001"
    assert view["session"]["pid"] == os.getpid()
    assert view["session"]["task_id"] == "T-002"
    assert view["stale_lock"] is None
    assert f"running  sess-001 (claude, pid {os.getpid()}), task T-002" in coord("status", cwd=project).stdout


def test_status_of_a_finished_mission(project: Path) -> None:
    tasks = project / "docs" / "TASKS.md"
    tasks.write_text(tasks.read_text().replace("not-started", "done").replace("| T-004 | done", "| T-004 | cancelled"))
    view = status_json(project)
    assert view["mission"]["status"] == "completed"
    assert view["progress"] == {"done": 3, "total": 4, "pct": 75}
    assert [m["status"] for m in view["milestones"]] == ["done", "done"]
    assert view["next_task"] is None
    assert view["next_task_reason"] == "every task in the tasks file is done or cancelled"
    assert "next     none (every task in the tasks file is done or cancelled)" in coord("status", cwd=project).stdout


def test_status_on_bad_input_is_one_line_and_writes_nothing(project: Path) -> None:
    (project / ORCH).mkdir(parents=True)
    (project / ORCH / "state.json").write_text("{oops")
    before = snapshot(project)
    result = coord("status", cwd=project)
    assert result.returncode == 1
    assert result.stderr.startswith("coord: error: .mosaic/orchestrator/state.json:1: state is not valid JSON")
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(project) == before


def test_status_of_a_long_history_finds_a_live_session_far_back_and_any_damage(project: Path) -> None:
    """status reads coord's state.json by line: a live session far back is found, and a hand
    edit anywhere (no longer coord's checksum) is read whole, its damage shown at once."""
    from mosaic_invoke.store.state import State, save_state

    records = [
        {"session_id": f"sess-{n:03d}", "runtime": "codex", "pid": n, "started_at": "2026-11-20T10:00:00.000Z"}
        | ({} if n == 3 else {"ended_at": "2026-11-20T10:01:00.000Z", "ended_reason": "completed", "exit_code": 0})
        | ({"log_path": "logs/sess-003.log"} if n == 3 else {})
        for n in range(1, 41)
    ]
    save_state(project / ORCH, State.of("demo", records, status="active"))
    lock = {**records[2], "project_path": str(project), "pid": os.getpid(), "host": socket.gethostname()}
    (project / ORCH / "session.lock").write_text(json.dumps(lock))
    view = status_json(project)
    assert [s["session_id"] for s in view["sessions"]] == [f"sess-{n:03d}" for n in range(36, 41)]
    assert view["session"]["session_id"] == "sess-003"
    assert view["session"]["log_path"] == "logs/sess-003.log"

    state = project / ORCH / "state.json"
    state.write_text(state.read_text().replace('"pid":10,', '"pid":10,,', 1))
    (project / ORCH / "session.lock").unlink()
    for command in (["status"], ["run", "--command", AGENT_COMMAND]):
        result = coord(*command, cwd=project)
        assert result.returncode == 1
        assert "state.json:" in result.stderr and "state is not valid JSON" in result.stderr
    assert "a copy is kept" in result.stderr


def test_a_stale_session_is_listed_as_cut_off_not_running(project: Path) -> None:
    """Beside the stale-lock line, the session itself does not read as running."""
    from mosaic_invoke.store.state import State, save_state

    record = {"session_id": "sess-001", "runtime": "codex", "pid": 999999, "started_at": "2026-11-20T10:00:00.000Z"}
    save_state(project / ORCH, State.of("demo", [record], status="active"))
    lock = {**record, "project_path": str(project), "host": socket.gethostname()}
    (project / ORCH / "session.lock").write_text(json.dumps(lock))
    text = coord("status", cwd=project).stdout
    (line,) = [line for line in text.splitlines() if line.startswith("  sess-001")]
    assert line.endswith("cut off (stale lock)")
    assert "running" not in line


def test_status_shows_the_cost_in_all_and_in_the_current_milestone(project: Path) -> None:
    from mosaic_invoke.store.state import State, save_state

    base = {"runtime": "claude", "pid": 1, "started_at": "2026-11-20T10:00:00.000Z", "ended_reason": "completed"}
    records = [
        {**base, "session_id": "sess-001", "milestone_id": "M1", "cost_usd": 0.42, "input_tokens": 1000},
        {**base, "session_id": "sess-002", "milestone_id": "M2", "cost_usd": 1.5, "output_tokens": 20},
        {**base, "session_id": "sess-003", "milestone_id": "M1"},  # a runtime that reports no cost
    ]
    save_state(project / ORCH, State.of("demo", records, status="active"))
    view = status_json(project)
    assert view["cost"] == {
        "total_usd": 1.92,
        "input_tokens": 1000,
        "output_tokens": 20,
        "by_milestone": {"M1": 0.42, "M2": 1.5},
    }
    assert view["current_milestone"] == "M1"
    assert "cost     $1.92 in all, $0.42 in M1 (current)" in coord("status", cwd=project).stdout
