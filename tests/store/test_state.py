from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store.clock import now_iso, seconds_between
from mosaic_invoke.store.session import Session, summarise, with_record
from mosaic_invoke.store.state import State, load_state, save_state

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
    (tmp_path / "state.json").write_text(json.dumps(data, indent=2))
    state = load_state(tmp_path, "auth")
    assert state.count == 2
    assert state.sessions[0].duration_seconds == 2463
    assert state.sessions[0].extra == {"tokens": 99}
    assert state.sessions[1].running
    save_state(tmp_path, state)
    again = json.loads((tmp_path / "state.json").read_text())
    checksums = {key: again[key] for key in ("summary_crc32", "sessions_crc32")}
    assert again == {**data, "loops": [], "summary": again["summary"], **checksums}
    assert list(again)[-1] == "sessions"
    assert load_state(tmp_path, "auth") == state


def test_coord_writes_one_compact_record_per_line(tmp_path: Path) -> None:
    """The layout: a head line, one record per line, then the list and the object closed."""
    state = State.of("m", [SESSION, {**SESSION, "session_id": "sess-002", "task_id": "T-✓"}], status="active")
    save_state(tmp_path, state)
    lines = (tmp_path / "state.json").read_text().split("\n")
    assert lines[0].startswith('{"version":1,"mission_id":"m","status":"active",')
    assert lines[0].endswith(',"sessions":[')
    assert [json.loads(line.rstrip(",")) for line in lines[1:3]] == state.records
    assert lines[3:] == ["]}", ""]
    empty = tmp_path / "empty"
    save_state(empty, State(mission_id="m"))
    assert (empty / "state.json").read_text().endswith(',"sessions":[\n]}\n')
    assert load_state(empty, "m") == State(mission_id="m")


def test_no_state_file_gives_an_empty_state(tmp_path: Path) -> None:
    state = load_state(tmp_path, "auth")
    assert (state.mission_id, state.status, state.records, state.sessions) == ("auth", "pending", [], [])
    assert state.next_session_id() == "sess-001"


def test_session_ids_follow_the_highest_number(tmp_path: Path) -> None:
    sessions = [Session(session_id=f"sess-{n:03d}", runtime="claude", pid=1, started_at="x") for n in (1, 7)]
    state = State.of("m", [s.to_dict() for s in sessions])
    assert state.next_session_id() == "sess-008"
    save_state(tmp_path, state.with_session(replace(sessions[0], pid=2)))
    assert load_state(tmp_path, "m").next_session_id() == "sess-008"
    save_state(tmp_path, load_state(tmp_path, "m").with_session(replace(sessions[0], session_id="sess-008")))
    assert load_state(tmp_path, "m").next_session_id() == "sess-009"


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
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import State, save_state
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
sessions = tuple(Session(session_id=f"sess-{{n}}", runtime="x" * 1000, pid=n, started_at="t") for n in range(500))
save_state(Path({str(tmp_path)!r}), State.of("m", [s.to_dict() for s in sessions]))
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


def test_a_malformed_field_is_reported_when_its_session_is_read(tmp_path: Path) -> None:
    """Identities are checked on load (in C, over thousands of records); the rest of a
    record when a command reads that session."""
    data = {"sessions": [SESSION, {**SESSION, "session_id": "sess-002", "exit_code": "zero"}]}
    (tmp_path / "state.json").write_text(json.dumps(data))
    state = load_state(tmp_path, "m")
    with pytest.raises(
        CoordError, match=r"state.json: sessions\[1\]: state is corrupt: `exit_code` must be an integer"
    ):
        state.last(1)


# Values that look like the layout's own markers once inside a string or a nested value.
tricky_text = st.sampled_from(["", "x", '\n    {"a": 1},', "\n  ]\n}", '"sessions":[', ",\n", "{", "]}", "é ✓ \u2028"])
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
        "milestone_id": st.sampled_from(["M1", "M2"]),
        "cost_usd": st.floats(0, 50, allow_nan=False),
        "input_tokens": st.integers(0, 10**6),
        "notes": st.lists(st.dictionaries(st.sampled_from(["a", "b"]), tricky_text), max_size=2),
    },
)


def other_layout(path: Path, layout: str) -> None:
    """Rewrite coord's file at ``path`` as another tool (or a hand) would."""
    text = path.read_text()
    data = json.loads(text)
    if layout == "hand-edited":  # coord's own layout, one value changed without the checksum
        path.write_text(text.replace('"status":"active"', '"status":"paused"', 1))
        return
    if layout == "list-after-sessions":  # the list closes on its last record's line; another follows
        body = ",\n".join(json.dumps(r) for r in data.pop("sessions"))
        head = json.dumps(data)[:-1]
        path.write_text(f'{head}, "sessions": [\n{body}], "later": [\n{body}\n]}}\n')
        return
    if layout == "sessions-first":
        data = {"sessions": data.pop("sessions"), **data}
    path.write_text(json.dumps(data, indent={"compact": None, "indent2": 2, "sessions-first": 2}[layout]))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    sessions=st.lists(records, max_size=12, unique_by=lambda record: record["session_id"]),
    extra=st.dictionaries(st.sampled_from(["owner", "notes"]), st.lists(records, max_size=3), max_size=1),
    layout=st.sampled_from(["coord", "compact", "indent2", "sessions-first", "hand-edited", "list-after-sessions"]),
)
def test_every_layout_reads_as_its_json_says(
    tmp_path: Path, sessions: list[dict[str, object]], extra: dict[str, object], layout: str
) -> None:
    """coord's own file is read by line; any other (another tool's, a hand edit, a list after
    the sessions) by the whole decode: both give what the JSON says."""
    save_state(tmp_path, State.of("m", sessions, status="active", extra=extra))
    path = tmp_path / "state.json"
    if layout != "coord":
        other_layout(path, layout)
    data = json.loads(path.read_text())
    state = load_state(tmp_path, "m")
    assert state.records == data["sessions"]
    for count in (0, 1, 5, 13):
        assert [s.to_dict() for s in state.last(count)] == (data["sessions"][-count:] if count else [])
    for record in sessions:
        found = state.session(str(record["session_id"]))
        assert found is not None
        assert found.to_dict() == next(r for r in reversed(data["sessions"]) if r["session_id"] == record["session_id"])
    assert state.session("sess-none") is None
    assert state.status == data["status"]
    assert state.summary == summarise(data["sessions"])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(first=st.lists(records, max_size=8), changes=st.lists(records, min_size=1, max_size=8))
def test_writes_by_line_agree_with_a_whole_rewrite(
    tmp_path: Path, first: list[dict[str, object]], changes: list[dict[str, object]]
) -> None:
    """Replacing and appending records in coord's file, without decoding the others, gives the
    records, summary and bytes that a whole rewrite gives."""
    save_state(tmp_path, State.of("m", first))
    expected = list(first)
    for change in changes:
        session = State.of("m", [change]).last(1)[0]
        save_state(tmp_path, load_state(tmp_path, "m").with_session(session))
        record = session.to_dict()
        same = [i for i, r in enumerate(expected) if r["session_id"] == record["session_id"]]
        if same:
            expected[same[-1]] = record
        else:
            expected.append(record)
    reread = load_state(tmp_path, "m")
    whole = State.of("m", expected)
    assert reread.records == expected
    assert reread.summary == whole.summary
    assert (tmp_path / "state.json").read_bytes() == whole.to_bytes()


def test_a_checksum_mismatch_is_read_whole(tmp_path: Path) -> None:
    """A file with coord's layout whose records were edited is read as its JSON says."""
    save_state(tmp_path, State.of("m", [SESSION]))
    path = tmp_path / "state.json"
    path.write_text(path.read_text().replace('"task_id":"T-002"', '"task_id":"T-009"'))
    assert load_state(tmp_path, "m").last(1)[0].task_id == "T-009"
    head = json.loads(path.read_text().split("\n")[0][: -len(',"sessions":[')] + "}")
    assert head["sessions_crc32"] != zlib.crc32(path.read_bytes().split(b"\n", 1)[1][: -len(b"\n]}\n")])


def test_a_state_this_process_wrote_is_read_back_until_another_replaces_it(tmp_path: Path) -> None:
    """Reading back one's own write skips the decode; any other writer's file is read anew."""
    mine = State.of("m", [SESSION], status="active")
    save_state(tmp_path, mine)
    assert load_state(tmp_path, "m") is mine
    other = f"""
from pathlib import Path
from mosaic_invoke.store.state import State, save_state
save_state(Path({str(tmp_path)!r}), State.of("m", [], status="paused"))
"""
    subprocess.run([sys.executable, "-c", other], check=True)
    again = load_state(tmp_path, "m")
    assert (again.status, again.count) == ("paused", 0)


def test_a_hand_edited_summary_is_computed_anew(tmp_path: Path) -> None:
    """The head line is not under the checksum: a summary not of coord's shape is read whole."""
    save_state(tmp_path, State.of("m", [{**SESSION, "cost_usd": 0.5}]))
    path = tmp_path / "state.json"
    head, rest = path.read_text().split("\n", 1)
    for summary in ("{}", '{"sessions":"1"}'):
        edited = re.sub(r'"summary":\{.*?\}\}', f'"summary":{summary}', head)
        path.write_text(edited + "\n" + rest)
        state = load_state(tmp_path, "m")
        assert (state.count, state.summary["cost_usd"], state.next_session_id()) == (1, 0.5, "sess-002")


def test_a_reviewer_s_cost_and_tokens_count_in_the_totals() -> None:
    worker = {"session_id": "sess-001", "milestone_id": "M1", "cost_usd": 1.5, "input_tokens": 100}
    reviewed = {**worker, "session_id": "sess-002", "review": {"cost_usd": 0.25, "input_tokens": 40, "verdict": None}}
    totals = summarise([worker, reviewed])
    assert (totals["cost_usd"], totals["input_tokens"], totals["by_milestone"]) == (3.25, 240, {"M1": 3.25})
    assert with_record(summarise([worker]), None, reviewed) == totals
    assert with_record(totals, reviewed, {**reviewed, "review": None})["cost_usd"] == 3.0
    session = Session(
        session_id="sess-002", runtime="claude", pid=1, started_at="x", cost_usd=1.5, review={"cost_usd": 0.25}
    )
    assert session.spent_usd == 1.75
