"""A session's end, whole-process: the record first, one claim per session, the verdict ruling
the prompt and the counts, gates that obey the user, waits within the caps, ids never reused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import BIN, coord, sessions, task_status, wait_for
from loopkit import ORCH, agent, end_group, loop_env, loop_record, make_project, run_loop, start_loop, state

# A gate that cannot be answered by reopening the task: it puts a folder where the tasks file was.
BREAKS_THE_TASKS_FILE = "mv docs/TASKS.md docs/TASKS.saved && mkdir docs/TASKS.md && exit 1"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def test_a_rejected_claim_that_cannot_be_reopened_is_still_recorded_and_its_lock_removed(tmp_path: Path) -> None:
    extra = f"verify: {{command: {BREAKS_THE_TASKS_FILE!r}}}\n"
    root = make_project(tmp_path / "project", extra=extra)
    result = run_loop(root, "--allow-failing-gates", "--command", agent("done"))
    (session,) = sessions(root)
    assert session["ended_reason"] == "completed" and session["verdict"] == "rejected", session
    assert "cannot be reopened" in session["rejected_because"], session
    assert not (root / ORCH / "session.lock").exists()
    record = loop_record(root)
    assert record is not None and record["sessions"] == ["sess-001"] and record["rejected"] == 1
    assert "coord: 1 session: 0 accepted, 1 rejected" in result.stderr, result.stderr


def test_a_run_whose_rejected_claim_cannot_be_reopened_records_it_and_says_so(tmp_path: Path) -> None:
    extra = f"verify: {{command: {BREAKS_THE_TASKS_FILE!r}}}\n"
    root = make_project(tmp_path / "project", extra=extra)
    result = coord("run", "--command", agent("done"), cwd=root, env=loop_env(None))
    assert result.returncode == 1, result.stderr
    (session,) = sessions(root)
    assert session["verdict"] == "rejected" and session["exit_code"] == 0
    assert not (root / ORCH / "session.lock").exists()
    assert "coord: error: " in result.stderr and "Traceback" not in result.stderr


def test_a_loop_continued_after_coord_was_killed_settles_the_session_before_it_judges(tmp_path: Path) -> None:
    tasks = "| id | status | milestone |\n|----|--------|-----------|\n| T-001 | done | M1 |\n| T-002 | not-started | M1 |\n"
    root = make_project(tmp_path / "project", tasks=tasks)
    log = tmp_path / "agent.log"
    loop = start_loop(root, "--command", agent("done-hang"), env={"LOOP_AGENT_LOG": str(log)})
    try:
        wait_for(lambda: any(line.startswith("marked sess-001") for line in _lines(log)))
        agent_pid = int(next(line for line in _lines(log) if line.startswith("start")).split()[-1])
        os.kill(loop.pid, signal.SIGKILL)  # coord alone: its agent lives on
        loop.wait()
        os.killpg(agent_pid, signal.SIGKILL)
        wait_for(lambda: subprocess.run(["kill", "-0", str(agent_pid)], capture_output=True).returncode != 0)
    finally:
        end_group(loop)
    assert task_status(root, "T-002") == "done"  # the mission looks done: the session must be settled first
    result = run_loop(root, "--command", agent("done"))
    assert result.returncode == 0, result.stderr
    (session,) = sessions(root)
    assert session["ended_reason"] == "crashed" and session["ended_at"], session
    assert not (root / ORCH / "session.lock").exists()
    assert "session sess-001" in result.stderr and "recorded as crashed" in result.stderr
    assert [loop["stop_reason"] for loop in state(root)["loops"]] == ["crashed", "mission-done"]


def test_sigterm_to_run_is_an_interrupted_session_whatever_the_agent_exits_with(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    log = tmp_path / "agent.log"
    run = subprocess.Popen(
        [str(BIN / "mosaic-coord"), "run", "--command", agent("term-zero")],
        cwd=root,
        env={**loop_env(None), "LOOP_AGENT_LOG": str(log)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    run.mosaic_root = root  # type: ignore[attr-defined]  # for end_group
    try:
        wait_for(lambda: any(line.startswith("waiting") for line in _lines(log)))
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    finally:
        end_group(run)
    assert run.returncode == 130, err
    (session,) = sessions(root)
    assert session["ended_reason"] == "interrupted" and session["exit_code"] == 0, session


def test_the_gates_time_is_not_the_sessions(tmp_path: Path) -> None:
    extra = "verify: {command: 'date +%s.%N > gates-began; sleep 2'}\n"
    root = make_project(tmp_path / "project", extra=extra)
    result = coord("run", "--command", agent("done"), cwd=root, env=loop_env(None))
    assert result.returncode == 0, result.stderr
    (session,) = sessions(root)
    gates_began = datetime.fromtimestamp(float((root / "gates-began").read_text()), timezone.utc)
    assert _parse(session["ended_at"]) <= gates_began, session
    assert session["verification"]["duration_seconds"] >= 2


def test_a_session_claims_only_its_own_task(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    result = run_loop(root, "--command", agent("all-done"))
    assert result.returncode == 0, result.stderr
    found = [(s["task_id"], s["verdict"], s.get("tasks_restored")) for s in sessions(root)]
    assert found == [
        ("T-002", "accepted", ["T-003", "T-004"]),
        ("T-003", "accepted", ["T-004"]),
        ("T-004", "accepted", None),
    ]
    assert [s["tasks_done"] for s in sessions(root)] == [["T-002"], ["T-003"], ["T-004"]]
    prompt = (root / ORCH / "logs" / "sess-002.prompt.md").read_text()
    assert "- **Restored:** T-003, T-004 were set back: a session claims only its own task (T-002)\n" in prompt


def test_rows_cancelled_by_a_session_with_failing_gates_are_restored(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    (root / "gate.txt").write_text("broken\n")
    result = run_loop(root, "--max-sessions", "1", "--allow-failing-gates", "--command", agent("all-cancelled"))
    assert "mission-done" not in result.stderr, result.stderr  # T-002 cancelled itself; T-003 waits on it
    (session,) = sessions(root)
    assert session["tasks_restored"] == ["T-001", "T-003", "T-004"]  # T-001 was done: it stays so
    assert [task_status(root, task) for task in ("T-001", "T-003", "T-004")] == ["done", "not-started", "not-started"]


def test_after_a_rejected_claim_the_prompt_names_no_completed_task(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    run_loop(root, "--max-sessions", "1", "--command", agent("break"))
    preview = coord("run", "--print-only", cwd=root, env=loop_env(None))
    assert "- **Last completed task:** —\n" in preview.stdout
    because = "`cat gate.txt; grep -qx ok gate.txt` failed (exit 1)"
    assert f"- **Unfinished task:** T-002 (rejected: {because})\n" in preview.stdout
    assert "- **Verification:** T-002 was marked done, but " in preview.stdout


def test_a_verification_line_does_not_outlive_a_hand_fix(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    run_loop(root, "--max-sessions", "1", "--command", agent("break"))
    tasks = root / "docs" / "TASKS.md"
    tasks.write_text(tasks.read_text().replace("| T-002 | in-progress |", "| T-002 | done |"))
    preview = coord("run", "--print-only", cwd=root, env=loop_env(None))
    assert preview.returncode == 0, preview.stderr
    assert "Verification" not in preview.stdout


def test_an_accepted_claim_from_an_agent_that_exits_1_counts_once_as_accepted(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    result = run_loop(root, "--max-sessions", "1", "--command", agent("done-exit1"))
    (session,) = sessions(root)
    assert (session["ended_reason"], session["exit_code"], session["verdict"]) == ("failed", 1, "accepted")
    assert "coord: 1 session: 1 accepted, 0 rejected, 0 failed" in result.stderr, result.stderr
    record = loop_record(root)
    assert record is not None and record["failures_in_row"] == 0 and record["failures"] == 0
    preview = coord("run", "--print-only", cwd=root, env=loop_env(None))
    assert "- **Last completed task:** T-002\n" in preview.stdout
    assert "Unfinished task" not in preview.stdout


def _interrupt_during_gates(tmp_path: Path, *args: str) -> tuple[Path, subprocess.Popen[str], str]:
    extra = "verify: {command: 'touch gates-began; sleep 300'}\n"
    root = make_project(tmp_path / "project", extra=extra)
    process = subprocess.Popen(
        [str(BIN / "mosaic-coord"), *args, "--command", agent("done")],
        cwd=root,
        env=loop_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    process.mosaic_root = root  # type: ignore[attr-defined]
    return root, process, ""


def test_ctrl_c_during_the_gates_leaves_the_claim_unverified(tmp_path: Path) -> None:
    root, run, _ = _interrupt_during_gates(tmp_path, "run")
    try:
        wait_for(lambda: (root / "gates-began").exists())
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
    finally:
        end_group(run)
    assert run.returncode == 130, err
    (session,) = sessions(root)
    assert session["verdict"] == "none" and session["verification"]["interrupted"] is True, session
    assert "rejected_because" not in session
    assert task_status(root, "T-002") == "in-progress"
    assert "was interrupted" in err and "failed" not in err.replace("failed (", "")
    preview = coord("run", "--print-only", cwd=root, env=loop_env(None))
    assert "- **Verification:** T-002 was marked done, but its check was interrupted" in preview.stdout


def test_ctrl_c_during_a_loops_gates_counts_nothing(tmp_path: Path) -> None:
    root, loop, _ = _interrupt_during_gates(tmp_path, "loop", "--allow-failing-gates", "--backoff", "0")
    try:
        wait_for(lambda: (root / "gates-began").exists())
        loop.send_signal(signal.SIGINT)
        _, err = loop.communicate(timeout=60)
    finally:
        end_group(loop)
    assert loop.returncode == 130, err
    record = loop_record(root)
    assert record is not None and record["stop_reason"] == "interrupted"
    assert (record["failures"], record["failures_in_row"], record["rejected"], record["attempts"]) == (0, 0, 0, {})


def test_stop_now_ends_the_gates_after_a_session(tmp_path: Path) -> None:
    root, loop, _ = _interrupt_during_gates(tmp_path, "loop", "--allow-failing-gates", "--backoff", "0")
    try:
        wait_for(lambda: (root / "gates-began").exists())
        stopped = coord("stop", "--now", cwd=root)
        assert stopped.returncode == 0, stopped.stderr
        _, err = loop.communicate(timeout=120)  # the gates would run for 300 s
    finally:
        end_group(loop)
    assert loop.returncode == 0, err
    (session,) = sessions(root)
    assert session["verdict"] == "none" and session["verification"]["interrupted"] is True
    assert task_status(root, "T-002") == "in-progress"
    record = loop_record(root)
    assert record is not None and record["stop_reason"] == "stopped" and record["failures"] == 0


def _limited_last_session(root: Path, resets: datetime) -> None:
    record = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": 999999,
        "started_at": _iso(resets - timedelta(hours=11)),
        "ended_at": _iso(resets - timedelta(hours=10)),
        "ended_reason": "usage-limit",
        "exit_code": 1,
        "task_id": "T-002",
        "resume_at": _iso(resets),
    }
    (root / ORCH).mkdir(parents=True, exist_ok=True)
    (root / ORCH / "state.json").write_text(json.dumps({"version": 1, "mission_id": "demo", "sessions": [record]}))


def test_a_continued_loop_applies_max_wait_to_an_inherited_wait(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    _limited_last_session(root, datetime.now(timezone.utc) + timedelta(hours=10))
    for cap in ("1h", "0"):
        result = run_loop(root, "--max-wait", cap, "--command", agent("done"), timeout=120)
        assert result.returncode == 4, result.stderr
        record = loop_record(root)
        assert record is not None and record["stop_reason"] == "usage-limit" and record["sessions"] == []
        assert "past --max-wait" in record["stop_detail"]
    assert len(sessions(root)) == 1


def test_a_wait_in_year_9999_is_past_any_max_wait(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    crashed = {
        "loop_id": "loop-001",
        "pid": 999999,
        "pid_started_at": 1,
        "host": "elsewhere.invalid",
        "started_at": "2026-11-20T10:00:00.000Z",
        "waiting_until": "9999-12-31T00:00:00.000Z",
        "ended_at": "2026-11-20T10:00:05.000Z",
        "stop_reason": "stopped",
    }
    (root / ORCH).mkdir(parents=True)
    (root / ORCH / "loop.json").write_text(json.dumps(crashed))
    result = run_loop(root, "--command", agent("done"), timeout=120)
    assert result.returncode == 4, result.stderr
    record = loop_record(root)
    assert record is not None and record["stop_reason"] == "usage-limit"


def _state_with_head(root: Path, edit: dict[str, object]) -> None:
    run_loop(root, "--max-sessions", "2", "--command", agent("idle"))
    path = root / ORCH / "state.json"
    head, rest = path.read_text().split("\n", 1)
    data = json.loads(head.removesuffix(',"sessions":[') + "}")
    data["summary"].update(edit)
    path.write_text(json.dumps(data).removesuffix("}") + ',"sessions":[\n' + rest)


def test_an_edited_next_session_never_reuses_an_id(tmp_path: Path) -> None:
    for value in (1, -5):
        root = make_project(tmp_path / f"project{value}")
        _state_with_head(root, {"next_session": value})
        result = coord("run", "--command", agent("idle"), cwd=root, env=loop_env(None))
        assert result.returncode == 0, result.stderr
        assert [s["session_id"] for s in sessions(root)] == ["sess-001", "sess-002", "sess-003"]
        assert (root / ORCH / "logs" / "sess-001.prompt.md").exists()


def test_duplicate_session_ids_from_another_tool_are_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    record = {"session_id": "sess-001", "runtime": "claude", "pid": 1, "started_at": "2026-11-20T10:00:00.000Z"}
    ended = {**record, "ended_at": "2026-11-20T10:01:00.000Z", "ended_reason": "completed", "exit_code": 0}
    (root / ORCH).mkdir(parents=True)
    path = root / ORCH / "state.json"
    path.write_text(json.dumps({"version": 1, "mission_id": "demo", "sessions": [ended, ended]}))
    before = path.read_bytes()
    result = coord("run", "--command", agent("idle"), cwd=root, env=loop_env(None))
    assert result.returncode == 1
    assert "duplicate session id sess-001" in result.stderr and "Traceback" not in result.stderr
    assert path.read_bytes() == before
