"""Another tool's state.json: decoded whole once, then read from a copy in coord's layout."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cli.agent_stand_ins import agent_env
from conftest import BIN, coord, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_invoke.store import state as _state
from mosaic_invoke.store import statecache as _statecache
from mosaic_invoke.store.session import summarise
from mosaic_invoke.store.state import State, load_state, save_state
from mosaic_invoke.store.statecache import CACHE_FILE, WORTH_KEEPING, store
from store.test_state import other_layout, records

SESSION = {
    "session_id": "sess-001",
    "runtime": "claude",
    "pid": 4242,
    "started_at": "2026-11-20T10:00:00.000Z",
    "ended_at": "2026-11-20T10:41:03.000Z",
    "ended_reason": "completed",
    "exit_code": 0,
    "task_id": "T-002",
}
AGENTS = Path(__file__).parent.parent / "streams"
RECORDS = [SESSION, {**SESSION, "session_id": "sess-002", "task_id": "T-003", "cost_usd": 0.25}]


@pytest.fixture(autouse=True)
def small_files_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The files here are small: keep them as a large one would be."""
    monkeypatch.setattr(_statecache, "WORTH_KEEPING", 0)


def another_tools_file(folder: Path, records: list[dict[str, object]] = RECORDS, status: str = "active") -> Path:
    path = folder / "state.json"
    path.write_text(json.dumps({"version": 1, "mission_id": "m", "status": status, "sessions": records}))
    return path


def decoding_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on a read that decodes state.json whole fails the test."""

    def no_decode(*args: object, **kwargs: object) -> State:
        raise AssertionError("state.json was decoded whole")

    monkeypatch.setattr(_state, "decode", no_decode)


def test_a_decoded_file_is_kept_in_coords_layout_and_read_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    another_tools_file(tmp_path)
    first = load_state(tmp_path, "m")
    key, layout = (tmp_path / CACHE_FILE).read_bytes().split(b"\n", 1)
    assert layout == State.of("m", RECORDS, status="active").to_bytes()
    assert json.loads(key)["source_size"] == (tmp_path / "state.json").stat().st_size
    decoding_fails(monkeypatch)
    again = load_state(tmp_path, "m")
    assert (again.status, again.records, again.summary) == (first.status, first.records, first.summary)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(b'"status":"active"', b'"status":"paused"', id="head-status"),
        pytest.param(b'"next_session":3', b'"next_session":2', id="head-summary"),
        pytest.param(b'"T-003"', b'"T-004"', id="record"),
        pytest.param(b"]}\n", b"]}", id="end"),
    ],
)
def test_a_copy_edited_anywhere_is_ignored(tmp_path: Path, old: bytes, new: bytes) -> None:
    """Its key holds the checksum of its head line; its records have theirs: an edit to either
    (a next session number that would reuse an id) is never read."""
    another_tools_file(tmp_path)
    first = load_state(tmp_path, "m")
    cache = tmp_path / CACHE_FILE
    content = cache.read_bytes()
    assert old in content
    cache.write_bytes(content.replace(old, new, 1))
    again = load_state(tmp_path, "m")
    assert (again.status, again.records, again.next_session_id()) == ("active", first.records, "sess-003")


def test_a_copy_read_for_another_mission_id_is_not_used(tmp_path: Path) -> None:
    """A file without its own mission id takes the mission's: the copy is only for that one."""
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "status": "active", "sessions": RECORDS}))
    assert load_state(tmp_path, "old-id").mission_id == "old-id"
    assert load_state(tmp_path, "renamed").mission_id == "renamed"


def test_a_lone_surrogate_escape_reads_and_writes_as_its_json_says(tmp_path: Path) -> None:
    """`"\\ud800"` is valid JSON but has no UTF-8: it is kept as its escape in every file."""
    another_tools_file(tmp_path, [*RECORDS, {**SESSION, "session_id": "sess-003", "final_message": "\ud800 x"}])
    for _ in range(2):  # decoded, then from the copy
        assert load_state(tmp_path, "m").last(1)[0].final_message == "\ud800 x"
    assert b'"final_message":"\\ud800 x"' in (tmp_path / CACHE_FILE).read_bytes()
    state = load_state(tmp_path, "m", writing=True)
    save_state(tmp_path, state.with_session(state.last(1)[0]))
    assert load_state(tmp_path, "m").last(1)[0].final_message == "\ud800 x"


def test_a_copy_that_is_a_link_is_replaced_not_written_through(tmp_path: Path) -> None:
    another_tools_file(tmp_path)
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n")
    (tmp_path / CACHE_FILE).symlink_to(target)
    load_state(tmp_path, "m")
    assert target.read_text() == "keep me\n"
    assert not (tmp_path / CACHE_FILE).is_symlink()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    sessions=st.lists(records, max_size=12, unique_by=lambda record: record["session_id"]),
    layout=st.sampled_from(["compact", "indent2", "sessions-first", "list-after-sessions"]),
)
def test_reading_from_the_copy_gives_what_the_json_says(
    tmp_path: Path, sessions: list[dict[str, object]], layout: str
) -> None:
    """The first read decodes and keeps a copy; the second reads the copy: both as the JSON says."""
    save_state(tmp_path, State.of("m", sessions, status="active"))
    path = tmp_path / "state.json"
    other_layout(path, layout)
    data = json.loads(path.read_text())
    for read in ("decoded", "from the copy"):
        state = load_state(tmp_path, "m")
        assert (tmp_path / CACHE_FILE).exists(), read
        assert state.records == data["sessions"], read
        assert [s.to_dict() for s in state.last(3)] == data["sessions"][-3:], read
        for record in sessions:
            found = state.session(str(record["session_id"]))
            assert found is not None
            assert found.to_dict() == next(
                r for r in reversed(data["sessions"]) if r["session_id"] == record["session_id"]
            )
        assert (state.status, state.summary) == (data["status"], summarise(data["sessions"])), read


def test_other_bytes_of_the_same_size_miss_the_copy(tmp_path: Path) -> None:
    path = another_tools_file(tmp_path)
    load_state(tmp_path, "m")
    path.write_text(path.read_text().replace('"task_id": "T-003"', '"task_id": "T-009"'))
    assert load_state(tmp_path, "m").last(1)[0].task_id == "T-009"
    assert b'"task_id":"T-009"' in (tmp_path / CACHE_FILE).read_bytes()  # kept anew for the new bytes


def test_a_copy_made_from_older_bytes_is_never_read(tmp_path: Path) -> None:
    """A reader that decoded one file may store its copy after another tool replaced it."""
    old = another_tools_file(tmp_path).read_bytes()
    store(tmp_path, old, "m", State.of("m", RECORDS, status="active").chunks)
    another_tools_file(tmp_path, RECORDS[:1], status="paused")
    state = load_state(tmp_path, "m")
    assert (state.status, state.count) == ("paused", 1)


def test_a_damaged_copy_is_ignored(tmp_path: Path) -> None:
    another_tools_file(tmp_path)
    load_state(tmp_path, "m")
    cache = tmp_path / CACHE_FILE
    cache.write_bytes(cache.read_bytes().replace(b'"T-003"', b'"T-004"'))  # the records' checksum fails
    assert load_state(tmp_path, "m").last(1)[0].task_id == "T-003"


def test_coords_own_write_removes_the_copy(tmp_path: Path) -> None:
    another_tools_file(tmp_path)
    load_state(tmp_path, "m")
    assert (tmp_path / CACHE_FILE).exists()
    state = load_state(tmp_path, "m", writing=True)
    save_state(tmp_path, state)
    assert not (tmp_path / CACHE_FILE).exists()
    assert load_state(tmp_path, "m").records == RECORDS


def test_a_copy_that_cannot_be_written_only_costs_the_next_read_a_decode(tmp_path: Path) -> None:
    another_tools_file(tmp_path)
    (tmp_path / CACHE_FILE).mkdir()  # in the way of the write, as an unwritable folder would be
    assert load_state(tmp_path, "m").records == RECORDS
    assert load_state(tmp_path, "m").records == RECORDS
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_a_command_that_writes_the_state_keeps_no_copy(tmp_path: Path) -> None:
    """It rewrites state.json in coord's layout: a copy would be made only to be removed."""
    another_tools_file(tmp_path)
    assert load_state(tmp_path, "m", writing=True).records == RECORDS
    assert not (tmp_path / CACHE_FILE).exists()


def test_a_small_file_is_decoded_each_time_and_no_cache_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_statecache, "WORTH_KEEPING", WORTH_KEEPING)
    another_tools_file(tmp_path)
    assert load_state(tmp_path, "m").records == RECORDS
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_status_reads_a_large_file_of_another_tool_the_same_the_first_time_and_after(project: Path) -> None:
    orchestrator = project / ".mosaic" / "orchestrator"
    orchestrator.mkdir(parents=True)
    records = [{**SESSION, "session_id": f"sess-{n:04d}"} for n in range(1, 2000)]
    size = another_tools_file(orchestrator, records).stat().st_size
    assert size >= WORTH_KEEPING
    env = {key: value for key, value in os.environ.items() if not key.startswith("INVOKE_")}

    def status() -> str:
        result = subprocess.run(
            [str(BIN / "mosaic-coord"), "status", "--json"], cwd=project, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    first = status()
    assert (orchestrator / CACHE_FILE).exists()
    assert status() == first
    assert [s["session_id"] for s in json.loads(first)["sessions"]][-1] == "sess-1999"


def test_every_command_takes_a_lone_surrogate_escape_from_an_agent(project: Path, tmp_path: Path) -> None:
    """An agent's event stream may hold `"\\ud800"` (valid JSON, no UTF-8): kept as its escape
    in state.json, the hook's input and the report; no command gives a traceback."""
    stream = (AGENTS / "claude-success.jsonl").read_text().replace("The tests pass now.", "The tests pass\\ud800.")
    (tmp_path / "stream.jsonl").write_text(stream)
    mission = project / ".mosaic" / "mission.yaml"
    mission.write_text(mission.read_text() + "hooks: {after_session: cat > hook.json}\n")
    env = agent_env(tmp_path, str(tmp_path / "stream.jsonl"))
    for args in (["run", "--runtime", "claude"], ["status"], ["report"], ["run", "--print-only"], ["logs"]):
        result = coord(*args, cwd=project, env=env)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
    detached = coord("loop", "--detach", "--max-sessions", "1", "--runtime", "claude", cwd=project, env=env)
    assert detached.returncode == 0, detached.stderr
    loop = project / ".mosaic" / "orchestrator" / "loop.json"
    wait_for(lambda: json.loads(loop.read_text()).get("stop_reason") is not None)
    assert json.loads(loop.read_text())["stop_reason"] == "max-sessions"
    record, second = json.loads((project / ".mosaic" / "orchestrator" / "state.json").read_text())["sessions"]
    assert record["final_message"].startswith("The tests pass\ud800.")
    assert second["final_message"] == record["final_message"]
    assert json.loads((project / "hook.json").read_text())["final_message"] == record["final_message"]
    assert "The tests pass\\ud800." in (project / ".mosaic" / "orchestrator" / "report.html").read_text()


def test_a_lone_surrogate_escape_in_what_the_prompt_shows_is_kept_as_its_escape(project: Path) -> None:
    assert coord("run", "--command", "true", cwd=project).returncode == 0
    state = project / ".mosaic" / "orchestrator" / "state.json"
    data = json.loads(state.read_text())
    data["sessions"][0]["runtime"] = "sh\ud800"
    state.write_text(json.dumps(data, indent=2))
    preview = coord("run", "--print-only", cwd=project)
    assert preview.returncode == 0, preview.stderr
    assert "- **Session:** sess-001 (sh\\ud800, 0s)" in preview.stdout
    looped = coord("loop", "--max-sessions", "1", "--command", "true", cwd=project)
    assert looped.returncode == 4 and "Traceback" not in looped.stderr, looped.stderr
