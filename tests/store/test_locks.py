from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from mosaic_invoke.store.clock import now_iso
from mosaic_invoke.store.locks import SessionLock, read_session_lock, write_session_lock


def test_lock_round_trip(tmp_path: Path) -> None:
    lock = SessionLock(
        session_id="sess-001",
        runtime="claude",
        pid=12,
        started_at=now_iso(),
        project_path="/p",
        task_id="T-1",
        host="h",
        pid_started_at=5,
    )
    write_session_lock(tmp_path, lock)
    assert read_session_lock(tmp_path) == (lock, None)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", "lock is not valid JSON", id="empty"),
        pytest.param(b"[" * 100_000, "lock is not valid JSON", id="deep"),
        pytest.param(b"42", "lock is not a JSON object", id="number"),
        pytest.param(b'{"session_id": "s", "runtime": "claude", "pid": "12"}', "`pid` must be an integer", id="type"),
        pytest.param(b'{"session_id": "s", "runtime": "claude", "pid": 1}', "`started_at` is missing", id="missing"),
        pytest.param(
            b'{"session_id": "s", "runtime": "c", "pid": true, "started_at": "x", "project_path": "/"}',
            "`pid` must be an integer",
            id="bool-pid",
        ),
    ],
)
def test_corrupt_lock_is_reported_and_treated_as_absent(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "session.lock").write_bytes(content)
    lock, warning = read_session_lock(tmp_path)
    assert lock is None
    assert warning is not None and expected in warning and "treated as absent" in warning


def test_a_session_lives_until_its_owner_has_recorded_its_end() -> None:
    """The agent has exited, but the coord that will record its end still runs: not stale."""
    from mosaic_invoke.store.liveness import hostname, process_start_time

    me = os.getpid()
    ended_agent = SessionLock(
        session_id="s",
        runtime="c",
        pid=999_999,
        started_at=now_iso(),
        project_path="/",
        host=hostname(),
        owner_pid=me,
        owner_started_at=process_start_time(me),
    )
    assert ended_agent.judge() == "live"
    assert replace(ended_agent, owner_started_at=(process_start_time(me) or 0) + 1).judge() == "stale"
    assert replace(ended_agent, owner_pid=None).judge() == "stale"


def test_a_state_lock_that_cannot_be_taken_is_said_plainly(tmp_path: Path) -> None:
    from mosaic_invoke.errors import CoordError
    from mosaic_invoke.store.locks import state_lock

    (tmp_path / "coord.lock").mkdir()
    with pytest.raises(CoordError) as info, state_lock(tmp_path):
        pass
    assert str(info.value).endswith(
        "coord.lock: cannot take the state lock (Is a directory); "
        "check that the folder is writable and that this is a plain file"
    )
    assert "b'" not in str(info.value)
