"""The one place a session ends (session/record.py): what a later command settles, and the
signal policy the agent, the gates and a loop's waits share (session/signals.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

from conftest import coord, sessions, task_status

from mosaic_invoke.session.signals import listening

ORCH = Path(".mosaic") / "orchestrator"


def _ended_without_verdict(project: Path) -> None:
    """coord died between writing a session's end and its verdict: its lock is left, its claim unchecked."""
    config = project / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + "verify: {command: 'exit 0'}\n")
    tasks = project / "docs" / "TASKS.md"
    tasks.write_text(tasks.read_text().replace("| T-002 | not-started |", "| T-002 | done |"))
    record = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": 999999,
        "pid_started_at": 1,
        "host": socket.gethostname(),
        "started_at": "2026-11-20T10:00:00.000Z",
        "ended_at": "2026-11-20T10:05:00.000Z",
        "ended_reason": "completed",
        "exit_code": 0,
        "duration_seconds": 300,
        "task_id": "T-002",
    }
    (project / ORCH).mkdir(parents=True)
    (project / ORCH / "state.json").write_text(json.dumps({"version": 1, "mission_id": "demo", "sessions": [record]}))
    lock = {key: record[key] for key in ("session_id", "runtime", "pid", "pid_started_at", "host", "started_at")}
    lock |= {"project_path": str(project), "task_id": "T-002", "owner_pid": 999998, "owner_started_at": 1}
    (project / ORCH / "session.lock").write_text(json.dumps(lock))


def test_a_claim_whose_check_was_cut_off_is_settled_unchecked_and_reopened(project: Path) -> None:
    _ended_without_verdict(project)
    result = coord("resume", "--command", "true", cwd=project)
    assert result.returncode == 0, result.stderr
    first, second = sessions(project)
    assert (first["ended_reason"], first["verdict"]) == ("completed", "none")
    assert "T-002 was claimed done but never checked; it is in-progress again" in result.stderr
    assert second["task_id"] == "T-002"  # the reopened task comes first
    assert not (project / ORCH / "session.lock").exists()


def test_a_preview_settles_nothing(project: Path) -> None:
    _ended_without_verdict(project)
    before = (project / ORCH / "state.json").read_bytes()
    result = coord("resume", "--print-only", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / ORCH / "state.json").read_bytes() == before
    assert (project / ORCH / "session.lock").exists()
    assert task_status(project, "T-002") == "done"


def test_one_signal_policy_for_the_whole_command() -> None:
    """An inner listener shares the outer one: a signal between the agent and the gates is not lost."""
    before = signal.getsignal(signal.SIGTERM)
    with listening() as outer:
        os.kill(os.getpid(), signal.SIGTERM)
        with listening() as inner:
            assert inner is outer
        outer.sleep(5)  # woken at once by the signal already noted, or by its arrival
        assert outer.interrupted and outer.interrupt() == "SIGTERM"
        os.kill(os.getpid(), signal.SIGUSR1)  # `coord.stop` only wakes whoever waits
        assert outer.seen == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is before
