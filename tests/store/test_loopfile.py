"""_looprecord: loop.json read and written, a crashed loop settled, stop requests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from mosaic_invoke.store.liveness import hostname, process_start_time
from mosaic_invoke.store.loopfile import (
    LoopRecord,
    clear_stop,
    new_loop,
    read_loop,
    request_stop,
    settle_crashed_loop,
    stop_requested,
    write_loop,
)
from mosaic_invoke.store.state import State

SESSION = {"runtime": "claude", "pid": 5, "started_at": "2026-11-20T10:00:00.000Z"}


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def loop(pid: int, **fields: object) -> LoopRecord:
    return LoopRecord(
        loop_id=str(fields.pop("loop_id", "loop-002")),
        pid=pid,
        pid_started_at=process_start_time(pid),
        host=hostname(),
        started_at="2026-11-20T10:00:00.000Z",
        **fields,  # type: ignore[arg-type]
    )


def test_a_dead_loop_is_settled_crashed_with_the_session_it_had_started(tmp_path: Path) -> None:
    write_loop(tmp_path, loop(dead_pid(), sessions=["sess-001"], current_session="sess-002"))
    state = State.of("demo", [{"session_id": f"sess-00{n}", "loop_id": "loop-002", **SESSION} for n in (1, 2)])
    settled = settle_crashed_loop(tmp_path, state)
    (summary,) = settled.loops
    assert (summary["loop_id"], summary["stop_reason"], summary["sessions"]) == (
        "loop-002",
        "crashed",
        ["sess-001", "sess-002"],
    )
    record, _ = read_loop(tmp_path)
    assert record is not None and not record.running and record.stop_reason == "crashed"


def test_a_session_recorded_before_loop_json_named_it_is_still_the_loops(tmp_path: Path) -> None:
    write_loop(tmp_path, loop(dead_pid(), sessions=["sess-001"]))
    records = [{"session_id": "sess-001", "loop_id": "loop-002", **SESSION}]
    records.append({"session_id": "sess-002", "loop_id": "loop-002", **SESSION})
    assert settle_crashed_loop(tmp_path, State.of("demo", records)).loops[0]["sessions"] == ["sess-001", "sess-002"]
    write_loop(tmp_path, loop(dead_pid(), loop_id="loop-003"))
    other = [{"session_id": "sess-003", "loop_id": "loop-002", **SESSION}]
    assert settle_crashed_loop(tmp_path, State.of("demo", other)).loops[0]["sessions"] == []


def test_a_loop_that_recorded_its_end_in_the_state_keeps_its_reason(tmp_path: Path) -> None:
    write_loop(tmp_path, loop(dead_pid()))
    state = State.of("demo", loops=[{"loop_id": "loop-002", "stop_reason": "max-cost", "stop_detail": "$5"}])
    assert settle_crashed_loop(tmp_path, state) is state
    record, _ = read_loop(tmp_path)
    assert record is not None and (record.stop_reason, record.stop_detail) == ("max-cost", "$5")


def test_a_live_or_ended_loop_is_left_alone(tmp_path: Path) -> None:
    state = State.of("demo")
    write_loop(tmp_path, loop(os.getpid()))
    assert settle_crashed_loop(tmp_path, state) is state
    write_loop(tmp_path, loop(dead_pid()).ended("stopped"))
    assert settle_crashed_loop(tmp_path, state) is state
    assert settle_crashed_loop(tmp_path / "none", state) is state


def test_a_damaged_loop_json_is_absent_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "loop.json").write_text("{half")
    assert read_loop(tmp_path)[0] is None
    assert str(read_loop(tmp_path)[1]).endswith(
        "loop.json:1: the loop record is not valid JSON (Expecting property name enclosed in double quotes); "
        "treated as absent"
    )
    (tmp_path / "loop.json").write_text(json.dumps({"loop_id": "loop-001", "pid": "many"}))
    record, warning = read_loop(tmp_path)
    assert record is None and warning is not None and "damaged" in warning


def test_loop_ids_count_on_from_the_past_loops(tmp_path: Path) -> None:
    state = State.of("demo", loops=[{"loop_id": "loop-007"}, {"loop_id": "odd"}])
    record = new_loop(state, "M1", {"max_sessions": 5})
    assert (record.loop_id, record.pid, record.milestone, record.caps) == (
        "loop-008",
        os.getpid(),
        "M1",
        {"max_sessions": 5},
    )
    assert record.judge() == "live"


def test_stop_requests(tmp_path: Path) -> None:
    assert stop_requested(tmp_path) is None
    request_stop(tmp_path, now=True)
    request = stop_requested(tmp_path)
    assert request is not None and request["now"] is True
    clear_stop(tmp_path)
    assert stop_requested(tmp_path) is None
    clear_stop(tmp_path)  # nothing to clear: no error
