"""The no-progress breaker: what counts as progress, which errors are the same, when it trips."""

from __future__ import annotations

from typing import Any

import pytest

from mosaic_invoke.loop.progress import count_progress, error_of, no_progress, progressed
from mosaic_invoke.store.loopfile import LoopRecord
from mosaic_invoke.store.session import Session

LOOP = LoopRecord(loop_id="loop-001", pid=1, host="here", started_at="2026-11-20T10:00:00.000Z")
UNCHANGED = {"head_before": "a", "head_after": "a", "commits": 0, "dirty": False, "changed": False}


def session(**fields: Any) -> Session:
    base: dict[str, Any] = {
        "session_id": "sess-001",
        "runtime": "claude",
        "pid": 2,
        "started_at": "2026-11-20T10:00:00.000Z",
        "ended_reason": "completed",
        "exit_code": 0,
        "task_id": "T-002",
        "task_status_after": "in-progress",
        "git": UNCHANGED,
        "verdict": "unfinished",
    }
    return Session(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "moved"),
    [
        pytest.param({}, False, id="nothing"),
        pytest.param({"git": {**UNCHANGED, "commits": 2, "head_after": "b"}}, True, id="commits"),
        pytest.param({"git": {**UNCHANGED, "changed": True, "dirty": True}}, True, id="tree-changed"),
        pytest.param({"git": {**UNCHANGED, "dirty": True}}, False, id="dirty-as-before"),
        pytest.param({"task_status_after": "blocked"}, True, id="own-status"),
        pytest.param({"tasks_done": ["T-002"], "task_status_after": "in-progress"}, True, id="done-then-rejected"),
        pytest.param({"git": None}, False, id="no-git-no-status"),
        pytest.param({"git": None, "tasks_changed": ["T-007"]}, True, id="another-status"),
    ],
)
def test_what_counts_as_progress(fields: dict[str, Any], moved: bool) -> None:
    assert progressed(session(**fields)) is moved


def test_the_error_a_session_ended_on() -> None:
    assert error_of(session()) is None
    assert error_of(session(verdict="rejected", rejected_because="`make test` failed (exit 2)")) == (
        "`make test` failed (exit 2)"
    )
    failed = session(ended_reason="failed", exit_code=1, final_message="\nNot logged in · Please run /login\nmore")
    assert error_of(failed) == "failed (exit 1): Not logged in · Please run /login"
    assert error_of(session(ended_reason="crashed", exit_code=None)) == "crashed"
    assert error_of(session(ended_reason="usage-limit", exit_code=1)) is None


def test_idle_sessions_in_a_row_trip_the_breaker_and_progress_resets_it() -> None:
    record = LOOP
    for _ in range(2):
        record = count_progress(record, session())
    assert (record.idle_in_row, no_progress(record, 3)) == (2, None)
    assert count_progress(record, session(git={**UNCHANGED, "commits": 1})).idle_in_row == 0
    record = count_progress(record, session())
    assert no_progress(record, 3) == (
        "3 sessions in a row changed nothing: no commit, no change in the tree, no status"
    )
    assert no_progress(record, None) is None and no_progress(record, 4) is None


def test_the_same_error_in_a_row_trips_it_even_with_changes_but_a_commit_resets_it() -> None:
    broken = {"ended_reason": "failed", "exit_code": 2, "final_message": "ImportError: no module named x"}
    changed = {**broken, "git": {**UNCHANGED, "changed": True}}
    record = count_progress(count_progress(LOOP, session(**changed)), session(**changed))
    assert (record.idle_in_row, record.same_error_in_row) == (0, 2)
    other = count_progress(record, session(ended_reason="failed", exit_code=2, final_message="SyntaxError"))
    assert other.same_error_in_row == 1
    committed = count_progress(record, session(**{**broken, "git": {**UNCHANGED, "commits": 1}}))
    assert committed.same_error_in_row == 0
    record = count_progress(record, session(**changed))
    assert no_progress(record, 3) == (
        "3 sessions in a row ended on the same error: failed (exit 2): ImportError: no module named x"
    )
