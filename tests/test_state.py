from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_invoke._clock import now_iso, seconds_between
from mosaic_invoke._exceptions import CoordError
from mosaic_invoke._state import (
    NEWEST_DECODED,
    Session,
    State,
    load_state,
    save_state,
)

SESSION = {
    "session_id": "sess-001",
    "runtime": "claude",
    "pid": 4242,
    "pid_started_at": 123456,
    "host": "build-7",
    "started_at": "2026-11-20T10:00:00.000Z",
    "ended_at": "2026-11-20T10:41:03.000Z",
    "ended_reason": "completed",
    "exit_code": 0,
    "duration_seconds": 2463,
    "milestone_id": "M1",
    "task_id": "T-002",
}


def test_round_trip_keeps_every_field_and_unknown_ones(tmp_path: Path) -> None:
    data = {
        "version": 1,
        "mission_id": "auth",
        "status": "active",
        "owner": "kept",
        "sessions": [
            {**SESSION, "tokens": 99},
            {"session_id": "sess-002", "runtime": "codex", "pid": 7, "started_at": "2026-11-20T11:00:00.000Z"},
        ],
    }
    (tmp_path / "state.json").write_text(json.dumps(data))
    state = load_state(tmp_path, "auth")
    assert len(state.records) == 2
    assert state.sessions[0].duration_seconds == 2463
    assert state.sessions[0].extra == {"tokens": 99}
    assert state.sessions[1].running
    save_state(tmp_path, state)
    again = json.loads((tmp_path / "state.json").read_text())
    assert again == data
    assert (tmp_path / "state.json").read_text().endswith("}\n")


def test_no_state_file_gives_an_empty_state(tmp_path: Path) -> None:
    state = load_state(tmp_path, "auth")
    assert (state.mission_id, state.status, state.records, state.sessions) == ("auth", "pending", (), [])
    assert state.next_session_id() == "sess-001"


def test_session_ids_follow_the_highest_number() -> None:
    sessions = tuple(Session(session_id=f"sess-{n:03d}", runtime="claude", pid=1, started_at="x") for n in (1, 7))
    assert State(mission_id="m", records=tuple(s.to_dict() for s in sessions)).next_session_id() == "sess-008"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"{not json", "state.json:1: state is not valid JSON", id="json"),
        pytest.param(b"[]", "state is corrupt: expected a JSON object", id="list"),
        pytest.param(b'{"sessions": [{"session_id": 1}]}', "sessions[0]: `session_id` must be a string", id="type"),
        pytest.param(b'{"sessions": [{"session_id": "s"}]}', "sessions[0]: `runtime` is missing", id="missing"),
        pytest.param(b"\xff\x00", "state is not valid JSON", id="binary"),
        pytest.param(b'{"sessions": ' + b"[" * 100_000, "state is not valid JSON (nested too deeply)", id="deep"),
    ],
)
def test_corrupt_state_is_reported_never_overwritten_and_copied(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(CoordError, match="coord never overwrites it") as info:
        load_state(tmp_path, "m", writing=True)
    assert expected in str(info.value)
    assert path.read_bytes() == content
    (copy,) = tmp_path.glob("state.json.corrupt-*")
    assert copy.read_bytes() == content
    assert str(copy.name) in str(info.value)


def test_reading_a_corrupt_state_for_a_read_only_command_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{")
    with pytest.raises(CoordError):
        load_state(tmp_path, "m")
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_crash_between_temp_write_and_rename_leaves_the_old_file(tmp_path: Path) -> None:
    """A real SIGKILL of the writing process just before its rename."""
    old = State(mission_id="m", status="active")
    save_state(tmp_path, old)
    before = (tmp_path / "state.json").read_bytes()
    script = f"""
import os, signal
from dataclasses import replace
from pathlib import Path
from mosaic_invoke._state import Session, State, save_state
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
sessions = tuple(Session(session_id=f"sess-{{n}}", runtime="x" * 1000, pid=n, started_at="t") for n in range(500))
save_state(Path({str(tmp_path)!r}), State(mission_id="m", records=tuple(s.to_dict() for s in sessions)))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9
    assert (tmp_path / "state.json").read_bytes() == before
    assert load_state(tmp_path, "m") == old
    # The torn temp file is left beside it, never in its place.
    (torn,) = [p for p in tmp_path.iterdir() if p.name != "state.json"]
    assert torn.name.startswith(".state.json.")


def test_seconds_between() -> None:
    assert seconds_between("2026-11-20T10:00:00.000Z", "2026-11-20T10:41:03.900Z") == 2463
    assert seconds_between("2026-11-20T10:00:00.000Z", "2026-11-20T09:00:00.000Z") == 0
    assert seconds_between("garbage", "2026-11-20T09:00:00.000Z") is None
    assert now_iso().endswith("Z") and len(now_iso()) == len("2026-11-20T10:00:00.000Z")


def test_a_malformed_field_of_a_session_in_use_is_reported(tmp_path: Path) -> None:
    """Only identity fields are checked on load; the rest when a command reads that session."""
    data = {"sessions": [{**SESSION, "exit_code": "zero"}]}
    (tmp_path / "state.json").write_text(json.dumps(data))
    state = load_state(tmp_path, "m")
    with pytest.raises(
        CoordError, match=r"state.json: sessions\[0\]: state is corrupt: `exit_code` must be an integer"
    ):
        state.last(1)


# Values that look like the layout's own markers once inside a string or a nested value.
tricky_text = st.sampled_from(["", "x", '\n    {"a": 1},', "\n  ]\n}", '"sessions": [', "{", "]}", "é ✓"])
records = st.fixed_dictionaries(
    {
        "session_id": st.from_regex(r"sess-[0-9]{3}", fullmatch=True),
        "runtime": tricky_text,
        "pid": st.integers(0, 2**31),
        "started_at": st.just("2026-11-20T10:00:00.000Z"),
    },
    optional={
        "ended_at": st.just("2026-11-20T10:41:03.000Z"),
        "exit_code": st.integers(-255, 255),
        "task_id": tricky_text,
        "notes": st.lists(st.dictionaries(st.sampled_from(["a", "b"]), tricky_text), max_size=2),
    },
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    sessions=st.lists(records, max_size=NEWEST_DECODED + 4),
    extra=st.dictionaries(
        st.sampled_from(["owner", "notes"]), st.lists(records, max_size=NEWEST_DECODED + 1), max_size=1
    ),
    layout=st.sampled_from(["coord", "compact", "indent4", "sessions-first"]),
)
def test_a_read_only_load_agrees_with_a_whole_decode(
    tmp_path: Path, sessions: list[dict[str, object]], extra: dict[str, object], layout: str
) -> None:
    """Read-only commands decode the newest records from the end of the file: the same state
    as a whole decode, for coord's layout and (through the fallback) for any other."""
    state = State(mission_id="m", status="active", records=tuple(sessions), extra=extra)
    save_state(tmp_path, state)
    if layout != "coord":
        data = json.loads((tmp_path / "state.json").read_text())
        if layout == "sessions-first":
            data = {"sessions": data.pop("sessions"), **data}
        # sessions-first keeps coord's indent: another list of records then ends the file.
        text = json.dumps(data, indent={"compact": None, "indent4": 4, "sessions-first": 2}[layout])
        (tmp_path / "state.json").write_text(text)
    whole = load_state(tmp_path, "m", writing=True)
    newest = load_state(tmp_path, "m")
    for count in (0, 1, 5, NEWEST_DECODED, NEWEST_DECODED + 1):
        assert newest.last(count) == whole.last(count)
    for record in sessions:
        assert newest.session(str(record["session_id"])) == whole.session(str(record["session_id"]))
    assert newest.session("sess-none") is None
    assert (newest.status, newest.extra, len(newest.records)) == (whole.status, whole.extra, len(sessions))
    assert newest == whole


def many_sessions(count: int) -> State:
    records = tuple({**SESSION, "session_id": f"sess-{n:03d}", "task_id": f"T-{n}"} for n in range(1, count + 1))
    return State(mission_id="m", status="active", records=records)


def test_a_read_only_load_decodes_only_the_newest_records(tmp_path: Path) -> None:
    """Older records are decoded only when asked for; a flaw among them shows then."""
    save_state(tmp_path, many_sessions(50))
    path = tmp_path / "state.json"
    path.write_text(path.read_text().replace('"task_id": "T-3"', '"task_id": 3', 1))
    state = load_state(tmp_path, "m")
    assert [s.task_id for s in state.last(5)] == ["T-46", "T-47", "T-48", "T-49", "T-50"]
    assert state.session("sess-045").task_id == "T-45"
    with pytest.raises(CoordError, match=r"state.json: sessions\[2\]: state is corrupt: `task_id` must be a string"):
        state.session("sess-003")


def test_a_broken_middle_is_refused_by_a_writer_and_shown_as_such_when_reached(tmp_path: Path) -> None:
    save_state(tmp_path, many_sessions(30))
    path = tmp_path / "state.json"
    path.write_text(path.read_text().replace('"runtime": "claude"', '"runtime": claude', 1))
    assert [s.session_id for s in load_state(tmp_path, "m").last(2)] == ["sess-029", "sess-030"]
    with pytest.raises(CoordError, match=r"state.json:\d+: state is not valid JSON"):
        load_state(tmp_path, "m").next_session_id()
    with pytest.raises(CoordError, match="a copy is kept"):
        load_state(tmp_path, "m", writing=True)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda text: text[:-20], id="truncated"),
        pytest.param(lambda text: text.replace('"pid": 4242', '"pid": "4242"'), id="newest-typed-wrong"),
        pytest.param(lambda text: text.rstrip()[:-1] + ', "later": [1]}', id="key-after-sessions"),
    ],
)
def test_a_damaged_end_falls_back_to_the_whole_decode(tmp_path: Path, damage: Callable[[str], str]) -> None:
    save_state(tmp_path, many_sessions(20))
    path = tmp_path / "state.json"
    path.write_text(damage(path.read_text()))
    try:
        whole: State | str = load_state(tmp_path, "m", writing=True)
    except CoordError as exc:
        whole = str(exc).split("; a copy")[0]
    for name in tmp_path.glob("state.json.corrupt-*"):
        name.unlink()
    try:
        newest: State | str = load_state(tmp_path, "m")
    except CoordError as exc:
        newest = str(exc).split("; fix it")[0]
    if isinstance(whole, State):
        assert isinstance(newest, State)
        assert newest.last(3) == whole.last(3)
    else:
        assert newest == whole.split("; fix it")[0]
