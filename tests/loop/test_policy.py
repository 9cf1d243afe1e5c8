"""_loopsteps: counting a session into the loop, the waits it sets, which stop reason wins, step lines."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from loopkit import make_project

from mosaic_invoke.config.caps import LoopCaps
from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.config.options import RunOptions
from mosaic_invoke.loop.loop import exit_code
from mosaic_invoke.loop.policy import (
    BACKOFF_CEILING,
    LIMIT_MARGIN,
    STOP_REASONS,
    after_session,
    before_session,
    counted,
    describe,
    inherited_wait,
)
from mosaic_invoke.loop.view import caps_line
from mosaic_invoke.store.clock import iso_at, parse_iso
from mosaic_invoke.store.loopfile import LoopRecord, request_stop
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import State

SPEC_ORDER = [
    "mission-done",
    "milestone-done",
    "no-runnable-task",
    "max-sessions",
    "max-hours",
    "max-failures",
    "max-attempts",
    "max-cost",
    "no-progress",
    "stopped",
    "interrupted",
    "usage-limit",
    "agent-unusable",
    "gates-failing",
    "error",
]
NO_WAIT = LoopCaps(backoff=0.0)


def loop(**fields: Any) -> LoopRecord:
    return LoopRecord(loop_id="loop-001", pid=1, host="here", started_at="2026-11-20T10:00:00.000Z", **fields)


def session(reason: str = "completed", verdict: str | None = "accepted", task: str = "T-002", **fields: Any) -> Session:
    return Session(
        session_id=fields.pop("session_id", "sess-001"),
        runtime="claude",
        pid=2,
        started_at="2026-11-20T10:00:00.000Z",
        ended_at="2026-11-20T10:01:00.000Z",
        ended_reason=reason,
        task_id=task,
        verdict=verdict,
        **fields,
    )


def seconds_to(moment: str | None) -> float:
    assert moment is not None
    parsed = parse_iso(moment)
    assert parsed is not None
    return parsed.timestamp() - time.time()


def test_stop_reasons_are_the_specs_in_its_order() -> None:
    assert list(STOP_REASONS) == SPEC_ORDER


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        *((r, 0) for r in ("mission-done", "milestone-done", "stopped")),
        *((r, 4) for r in ("max-sessions", "max-hours", "max-failures", "max-attempts", "max-cost", "usage-limit")),
        ("no-runnable-task", 5),
        ("agent-unusable", 1),
        ("gates-failing", 1),
        ("error", 1),
        ("interrupted", 130),
        (None, 1),
    ],
)
def test_exit_code_of_each_stop_reason(reason: str | None, code: int) -> None:
    assert exit_code(reason) == code


def test_an_accepted_session_resets_failures_and_counts_an_attempt() -> None:
    record = counted(loop(failures_in_row=2, attempts={"T-002": 1}), session(cost_usd=0.25), NO_WAIT)
    assert (record.failures_in_row, record.attempts, record.accepted, record.failures) == (0, {"T-002": 2}, 1, 0)
    assert (record.sessions, record.cost_usd, record.waiting_until) == (["sess-001"], 0.25, None)


@pytest.mark.parametrize(
    ("ended", "in_row", "failures", "rejected"),
    [
        pytest.param(session("failed", "none"), 2, 1, 0, id="failed"),
        pytest.param(session("timeout", "none"), 2, 1, 0, id="timeout"),
        pytest.param(session("interrupted", "none"), 2, 1, 0, id="interrupted"),
        pytest.param(session("completed", "rejected"), 2, 0, 1, id="rejected"),
        pytest.param(session("completed", "unfinished"), 0, 0, 0, id="unfinished"),
    ],
)
def test_failures_in_a_row(ended: Session, in_row: int, failures: int, rejected: int) -> None:
    record = counted(loop(failures_in_row=1), ended, NO_WAIT)
    assert (record.failures_in_row, record.failures, record.rejected) == (in_row, failures, rejected)
    assert record.attempts == {"T-002": 1}


def test_a_session_interrupted_on_request_is_no_failure_nor_attempt() -> None:
    record = counted(loop(failures_in_row=2), session("interrupted", "none"), LoopCaps(), stopped=True)
    assert (record.failures_in_row, record.failures, record.attempts, record.waiting_until) == (2, 0, {}, None)
    failed = counted(loop(failures_in_row=2), session("failed", "none"), LoopCaps(backoff=0.0), stopped=True)
    assert (failed.failures_in_row, failed.attempts) == (3, {"T-002": 1})  # it failed on its own


def test_a_usage_limit_is_no_failure_nor_attempt_and_waits_past_the_reset() -> None:
    resets = iso_at(time.time() + 100)
    record = counted(loop(failures_in_row=1), session("usage-limit", "none", resume_at=resets), LoopCaps())
    assert (record.failures_in_row, record.failures, record.attempts) == (1, 0, {})
    assert seconds_to(record.waiting_until) == pytest.approx(100 + LIMIT_MARGIN, abs=2)
    assert record.waiting_for == "a usage limit to lift"


def test_a_limit_already_past_still_waits_the_margin() -> None:
    record = counted(loop(), session("usage-limit", "none", resume_at=iso_at(time.time() - 600)), LoopCaps())
    assert seconds_to(record.waiting_until) == pytest.approx(LIMIT_MARGIN, abs=2)


def test_a_hard_limit_sets_no_wait() -> None:
    record = counted(loop(), session("usage-limit", "none", resume_at=None, limit="hard"), LoopCaps())
    assert record.waiting_until is None


@pytest.mark.parametrize(("in_row", "seconds"), [(0, 30), (1, 60), (2, 120), (10, BACKOFF_CEILING)])
def test_backoff_doubles_up_to_its_ceiling(in_row: int, seconds: float) -> None:
    record = counted(loop(failures_in_row=in_row), session("failed", "none"), LoopCaps(backoff=30.0, pause=5.0))
    assert seconds_to(record.waiting_until) == pytest.approx(seconds, abs=2)
    assert record.waiting_for == f"a back-off after {in_row + 1} failure(s) in a row"


def test_pause_after_a_good_session_and_none_without_one() -> None:
    paused = counted(loop(), session(), LoopCaps(pause=7.0))
    assert seconds_to(paused.waiting_until) == pytest.approx(7, abs=2)
    assert counted(loop(), session("failed", "none"), LoopCaps(backoff=0.0)).waiting_until is None


@pytest.fixture
def mission_file(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project") / ".mosaic" / "mission.yaml"


def stop_after(mission_file: Path, record: LoopRecord, ended: Session, caps: LoopCaps, **kw: Any) -> str | None:
    mission = load_mission(mission_file)
    found = after_session(mission, RunOptions(), caps, record, ended, kw.pop("elapsed", 1.0), **kw)
    return None if found is None else found[0]


def test_an_always_failing_task_stops_with_max_failures_before_max_attempts(mission_file: Path) -> None:
    record = loop(sessions=["a", "b", "c"], failures_in_row=3, attempts={"T-002": 3})
    caps = LoopCaps(max_failures=3, max_attempts=3)
    assert stop_after(mission_file, record, session("failed", "none"), caps, interrupted=False) == "max-failures"


def test_max_attempts_only_while_the_task_is_not_accepted(mission_file: Path) -> None:
    record = loop(sessions=["a", "b"], attempts={"T-002": 2})
    caps = LoopCaps(max_attempts=2)
    assert stop_after(mission_file, record, session(verdict="unfinished"), caps, interrupted=False) == "max-attempts"
    assert stop_after(mission_file, record, session(verdict="accepted"), caps, interrupted=False) is None


def test_the_first_reason_in_the_list_wins(mission_file: Path) -> None:
    caps = LoopCaps(max_sessions=1, max_cost_usd=1.0, max_hours=10.0)
    record = loop(sessions=["a"], cost_usd=2.0)
    request_stop(load_mission(mission_file).orchestrator_path, now=False)
    ended = session("interrupted", "none")
    assert stop_after(mission_file, record, ended, caps, interrupted=True, elapsed=20.0) == "max-sessions"
    assert stop_after(mission_file, record, ended, replace(caps, max_sessions=5), interrupted=True) == "max-cost"
    assert stop_after(mission_file, record, ended, LoopCaps(), interrupted=True) == "stopped"


def test_a_usage_limit_stops_past_max_wait_and_at_a_hard_wall(mission_file: Path) -> None:
    caps = LoopCaps(max_wait=600.0)
    soon = loop(sessions=["a"], waiting_until=iso_at(time.time() + 300))
    late = loop(sessions=["a"], waiting_until=iso_at(time.time() + 3600))
    limited = session("usage-limit", "none", resume_at=iso_at(time.time()))
    assert stop_after(mission_file, soon, limited, caps, interrupted=False) is None
    assert stop_after(mission_file, late, limited, caps, interrupted=False) == "usage-limit"
    wall = session("usage-limit", "none", limit="hard")
    assert stop_after(mission_file, loop(sessions=["a"]), wall, caps, interrupted=False) == "usage-limit"


def test_before_the_first_session_a_done_mission_stops_it(mission_file: Path) -> None:
    tasks = mission_file.parent.parent / "docs" / "TASKS.md"
    tasks.write_text(tasks.read_text().replace("not-started", "done"))
    found = before_session(load_mission(mission_file), RunOptions(), LoopCaps(), loop(), 0.0)
    assert found == ("mission-done", "all 4 tasks are done or cancelled")
    milestone = before_session(load_mission(mission_file), RunOptions(milestone="M1"), LoopCaps(), loop(), 0.0)
    assert milestone is not None and milestone[0] == "mission-done"


def test_the_step_line() -> None:
    ended = session(
        session_id="sess-007",
        task="T-004",
        verification={"passed": True},
        git={"commits": 2},
        cost_usd=0.5,
    )
    line = describe(loop(sessions=["a", "b", "sess-007"]), ended, LoopCaps())
    assert line == "loop 3/20: sess-007 T-004 completed, accepted (gates passed, 2 commits, $0.50)"
    uncapped = describe(loop(sessions=["a"]), session("failed", "none"), LoopCaps(max_sessions=None))
    assert uncapped == "loop 1: sess-001 T-002 failed, none"


def test_the_caps_line() -> None:
    default = "at most 20 sessions, 3 failures in a row, 3 attempts per task, 3 sessions without progress"
    assert caps_line(LoopCaps()) == default
    wide = LoopCaps(max_sessions=None, max_hours=5400.0, max_cost_usd=12.5, max_failures=1, max_attempts=None)
    assert caps_line(replace(wide, max_idle_sessions=None)) == (
        "no session cap, 1 failure in a row, 1h30m in all, $12.50 of agent cost"
    )
    assert caps_line(replace(wide, max_idle_sessions=1)) == (
        "no session cap, 1 failure in a row, 1 session without progress, 1h30m in all, $12.50 of agent cost"
    )


def test_a_new_loop_inherits_a_wait_still_ahead() -> None:
    ahead, past = iso_at(time.time() + 500), iso_at(time.time() - 5)
    assert inherited_wait(loop(waiting_until=ahead), State(mission_id="demo")) == ahead
    assert inherited_wait(loop(waiting_until=past), State(mission_id="demo")) is None
    assert inherited_wait(None, State(mission_id="demo")) is None


def test_max_attempts_comes_before_no_progress_and_no_progress_before_a_stop(mission_file: Path) -> None:
    record = loop(sessions=["a", "b", "c"], attempts={"T-002": 3}, idle_in_row=3)
    idle = session(verdict="unfinished")
    assert stop_after(mission_file, record, idle, LoopCaps(), interrupted=False) == "max-attempts"
    caps = LoopCaps(max_attempts=None)
    assert stop_after(mission_file, record, idle, caps, interrupted=True) == "no-progress"
    assert stop_after(mission_file, record, idle, replace(caps, max_idle_sessions=None), interrupted=False) is None


def test_a_session_counted_is_judged_for_progress_and_one_left_uncounted_is_not() -> None:
    idle = session(verdict="unfinished", git={"commits": 0, "changed": False}, task_status_after="in-progress")
    assert counted(loop(idle_in_row=1), idle, NO_WAIT).idle_in_row == 2
    limited = session("usage-limit", "none", resume_at=iso_at(time.time()))
    assert counted(loop(idle_in_row=1), limited, NO_WAIT).idle_in_row == 1


def test_a_runtime_the_loop_moved_on_from_stops_nothing(mission_file: Path) -> None:
    wall = session("usage-limit", "none", limit="hard")
    assert stop_after(mission_file, loop(sessions=["a"], runtime="codex"), wall, LoopCaps(), interrupted=False) is None
    unusable = session("failed", "none", unusable="Not logged in")
    moved = loop(sessions=["a"], runtime="codex")
    assert stop_after(mission_file, moved, unusable, LoopCaps(), interrupted=False) is None
    stuck = loop(sessions=["a"], runtime="claude")
    assert stop_after(mission_file, stuck, unusable, LoopCaps(), interrupted=False) == "agent-unusable"
    assert describe(moved, wall, NO_WAIT).endswith("(next on codex)")
