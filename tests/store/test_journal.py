"""state.journal: session changes appended beside a large state.json, replayed by every reader."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_invoke.errors import CoordError
from mosaic_invoke.store import state as _state
from mosaic_invoke.store.journal import JOURNAL_BOUND, JOURNAL_FILE, frame
from mosaic_invoke.store.layout import own_layout
from mosaic_invoke.store.session import Session
from mosaic_invoke.store.state import State, load_state, save_state

BOUND = 4096
"""The bound in these tests: a state of a dozen sessions is journaled, and a journal of a few
entries is folded."""


def record(number: int, **fields: object) -> dict[str, object]:
    return {
        "session_id": f"sess-{number:03d}",
        "runtime": "claude",
        "pid": 1000 + number,
        "started_at": "2026-11-20T10:00:00.000Z",
        "task_id": f"T-{number:03d}",
        "milestone_id": "M1",
        "final_message": "x" * 200,
        **fields,
    }


def session(number: int, **fields: object) -> Session:
    return State.of("m", [record(number, **fields)]).last(1)[0]


@pytest.fixture(autouse=True)
def small_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_state, "JOURNAL_BOUND", BOUND)


def another_process(folder: Path) -> State:
    """The state as a process that never read it before reads it."""
    _state._on_disk.clear()
    return load_state(folder, "m")


def seeded(folder: Path, count: int = 16) -> bytes:
    """A state.json past the bound, written whole; its bytes."""
    save_state(folder, State.of("m", [record(n, ended_at="2026-11-20T10:41:03.000Z") for n in range(1, count + 1)]))
    raw = (folder / "state.json").read_bytes()
    assert len(raw) >= BOUND
    return raw


def test_a_sessions_start_and_end_are_appended_and_every_reader_sees_them(tmp_path: Path) -> None:
    before = seeded(tmp_path)
    state = load_state(tmp_path, "m", writing=True)
    started = state.with_session(session(17))
    save_state(tmp_path, started)
    ended = started.with_session(session(17, ended_at="2026-11-20T11:00:00.000Z", cost_usd=0.25))
    save_state(tmp_path, ended)
    assert (tmp_path / "state.json").read_bytes() == before
    lines = (tmp_path / JOURNAL_FILE).read_bytes().splitlines()
    assert len(lines) == 3  # the state.json it extends, then one line per change
    assert [json.loads(line)["entry"]["new"] for line in lines[1:]] == [["sess-017"], []]
    reader = f"""
import json
from pathlib import Path
from mosaic_invoke.store.state import load_state
state = load_state(Path({str(tmp_path)!r}), "m")
print(json.dumps([state.count, state.summary["cost_usd"], state.last(1)[0].to_dict()]))
"""
    result = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [17, 0.25, ended.last(1)[0].to_dict()]


def test_a_replayed_state_is_the_state_that_was_saved(tmp_path: Path) -> None:
    seeded(tmp_path)
    state = load_state(tmp_path, "m", writing=True)
    # An old session ended late (its record is in state.json), then a new one started.
    state = state.with_session(session(3, exit_code=1, ended_reason="failed"))
    save_state(tmp_path, state)
    state = replace(state.with_session(session(17)), status="active")
    save_state(tmp_path, state)
    reread = another_process(tmp_path)
    assert (reread.records, reread.summary, reread.status) == (state.records, state.summary, state.status)
    assert reread.to_bytes() == state.to_bytes()
    assert [r["session_id"] for r in reread.records] == [f"sess-{n:03d}" for n in range(1, 18)]


def test_lines_put_after_the_file_was_read_keep_its_checksum_right(tmp_path: Path) -> None:
    """New sessions are kept after the file's lines, and a change of one of them (its end)
    after the checksum was taken takes a new one: what is written is coord's own layout."""
    seeded(tmp_path)
    state = another_process(tmp_path).with_session(session(17)).with_session(session(18))  # read by line
    assert own_layout(state.to_bytes()) is not None
    for changed in (session(17, exit_code=3), session(18, exit_code=4), session(2, exit_code=5)):
        state = state.with_session(changed)
        assert own_layout(state.to_bytes()) is not None
        assert state.session(changed.session_id) == changed
    assert [r["session_id"] for r in state.records] == [f"sess-{n:03d}" for n in range(1, 19)]
    assert [s.session_id for s in state.last(3)] == ["sess-016", "sess-017", "sess-018"]


def test_a_journal_that_would_pass_its_bound_is_folded_into_state_json(tmp_path: Path) -> None:
    seeded(tmp_path)
    journal = tmp_path / JOURNAL_FILE
    state = load_state(tmp_path, "m", writing=True)
    number = 17
    while True:
        state = state.with_session(session(number))
        size = journal.stat().st_size if journal.exists() else 0
        save_state(tmp_path, state)
        number += 1
        if not journal.exists():
            break
        assert journal.stat().st_size <= BOUND
    assert size + len(frame({"sessions": [record(number - 1)]})) > BOUND
    assert State.of("m", another_process(tmp_path).records).to_bytes() == (tmp_path / "state.json").read_bytes()
    assert another_process(tmp_path).count == number - 1


def test_a_change_of_a_record_state_json_holds_folds_the_journal(tmp_path: Path) -> None:
    """A session that started before the last fold ends after it: its end is written whole.
    Journaled, every reader would copy the whole of state.json to replay it, until the next fold."""
    seeded(tmp_path)  # state.json holds sess-001 to sess-016
    state = load_state(tmp_path, "m", writing=True).with_session(session(17))
    save_state(tmp_path, state)
    assert (tmp_path / JOURNAL_FILE).exists()  # a new session: journaled
    state = state.with_session(session(17, exit_code=0)).with_session(session(3, exit_code=1, ended_reason="failed"))
    save_state(tmp_path, state)
    assert not (tmp_path / JOURNAL_FILE).exists()
    reread = another_process(tmp_path)
    assert reread.to_bytes() == state.to_bytes() == (tmp_path / "state.json").read_bytes()
    state = reread.with_session(session(18))
    save_state(tmp_path, state)
    save_state(tmp_path, state.with_session(session(18, exit_code=0)))  # started after the fold: journaled
    assert len((tmp_path / JOURNAL_FILE).read_bytes().splitlines()) == 3


def test_a_change_of_the_loops_folds_the_journal(tmp_path: Path) -> None:
    seeded(tmp_path)
    state = load_state(tmp_path, "m", writing=True).with_session(session(17))
    save_state(tmp_path, state)
    assert (tmp_path / JOURNAL_FILE).exists()
    save_state(tmp_path, state.with_loop({"loop_id": "loop-001", "stop_reason": "stopped"}))
    assert not (tmp_path / JOURNAL_FILE).exists()
    data = json.loads((tmp_path / "state.json").read_text())
    assert (len(data["sessions"]), data["loops"][0]["loop_id"]) == (17, "loop-001")


def test_the_journal_is_private_and_a_link_in_its_place_is_replaced_never_followed(tmp_path: Path) -> None:
    seeded(tmp_path)
    target = tmp_path / "elsewhere"
    target.write_text("not coord's")
    (tmp_path / JOURNAL_FILE).symlink_to(target)
    assert another_process(tmp_path).count == 16  # a link is no journal
    state = load_state(tmp_path, "m", writing=True).with_session(session(17))
    save_state(tmp_path, state)
    journal = tmp_path / JOURNAL_FILE
    assert not journal.is_symlink() and journal.stat().st_mode & 0o777 == 0o600
    assert target.read_text() == "not coord's"
    journal.unlink()
    journal.symlink_to(target)  # planted after coord's last write: the next one folds instead
    save_state(tmp_path, state.with_session(session(18)))
    assert target.read_text() == "not coord's"
    assert another_process(tmp_path).count == 18


def test_a_small_state_is_rewritten_whole_as_before(tmp_path: Path) -> None:
    save_state(tmp_path, State.of("m", [record(1)]))
    save_state(tmp_path, load_state(tmp_path, "m", writing=True).with_session(session(2)))
    assert not (tmp_path / JOURNAL_FILE).exists()
    assert len(json.loads((tmp_path / "state.json").read_text())["sessions"]) == 2
    assert JOURNAL_BOUND == 64 * 1024  # the bound these tests lower


@pytest.mark.parametrize("cut", [1, 20, -2], ids=["first-byte", "mid-line", "no-newline"])
def test_a_last_line_cut_short_is_ignored_and_the_next_write_folds(tmp_path: Path, cut: int) -> None:
    """What a kill while appending leaves: the entries before it hold, the next save folds."""
    seeded(tmp_path)
    state = load_state(tmp_path, "m", writing=True)
    for number in (17, 18):
        state = state.with_session(session(number))
        save_state(tmp_path, state)
    journal = tmp_path / JOURNAL_FILE
    raw = journal.read_bytes()
    last = raw.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(raw[: last + cut] if cut > 0 else raw[:cut])
    assert another_process(tmp_path).count == 17
    writer = load_state(tmp_path, "m", writing=True)
    save_state(tmp_path, writer.with_session(session(19)))
    assert not journal.exists()
    assert [r["session_id"] for r in another_process(tmp_path).records][-3:] == ["sess-016", "sess-017", "sess-019"]


@pytest.mark.parametrize(
    ("old", "new", "checksum_made_right"),
    [
        pytest.param(b'"task_id":"T-017"', b'"task_id":"T-018"', False, id="a-changed-byte"),
        pytest.param(b'"pid":1017', b'"pid":' + b"9" * 5000, True, id="a-number-too-long-to-convert"),
    ],
)
def test_a_damaged_last_line_is_ignored(tmp_path: Path, old: bytes, new: bytes, checksum_made_right: bool) -> None:
    seeded(tmp_path)
    save_state(tmp_path, load_state(tmp_path, "m", writing=True).with_session(session(17)))
    journal = tmp_path / JOURNAL_FILE
    header, line, _ = journal.read_bytes().split(b"\n")
    damaged = line.replace(old, new)
    if checksum_made_right:  # the entry itself is then what a replay cannot take
        payload = damaged[damaged.index(b'"entry":') + len(b'"entry":') : -1]
        damaged = b'{"crc32":%10d,"entry":%s}' % (zlib.crc32(payload), payload)
    journal.write_bytes(header + b"\n" + damaged + b"\n")
    assert another_process(tmp_path).count == 16


def test_a_damaged_line_followed_by_a_sound_one_is_an_error_and_nothing_is_written(tmp_path: Path) -> None:
    seeded(tmp_path)
    state = load_state(tmp_path, "m", writing=True)
    for number in (17, 18):
        state = state.with_session(session(number))
        save_state(tmp_path, state)
    journal = tmp_path / JOURNAL_FILE
    damaged = journal.read_bytes().replace(b'"task_id":"T-017"', b'"task_id":"T-917"')
    journal.write_bytes(damaged)
    before = (tmp_path / "state.json").read_bytes()
    for writing in (False, True):
        _state._on_disk.clear()
        with pytest.raises(CoordError, match=r"state.journal:2: the state journal is damaged at this line") as info:
            load_state(tmp_path, "m", writing=writing)
        assert "coord never overwrites it" in str(info.value)
    assert (journal.read_bytes(), (tmp_path / "state.json").read_bytes()) == (damaged, before)


def test_a_journal_a_fold_left_behind_is_ignored_and_replaced(tmp_path: Path) -> None:
    """A fold killed between writing state.json and removing the journal: the journal names
    the old state.json, so its sessions are not counted twice."""
    seeded(tmp_path)
    state = load_state(tmp_path, "m", writing=True).with_session(session(17))
    save_state(tmp_path, state)
    journal = tmp_path / JOURNAL_FILE
    left = journal.read_bytes()
    save_state(tmp_path, state.with_loop({"loop_id": "loop-001"}))  # folds
    journal.write_bytes(left)
    reread = another_process(tmp_path)
    assert [r["session_id"] for r in reread.records].count("sess-017") == 1
    _state._on_disk.clear()
    writer = load_state(tmp_path, "m", writing=True)
    save_state(tmp_path, writer.with_session(session(18)))
    assert journal.read_bytes() != left
    assert [r["session_id"] for r in another_process(tmp_path).records][-2:] == ["sess-017", "sess-018"]


def test_a_state_saved_by_another_process_since_is_read_again(tmp_path: Path) -> None:
    seeded(tmp_path)
    mine = load_state(tmp_path, "m", writing=True).with_session(session(17))
    save_state(tmp_path, mine)
    assert load_state(tmp_path, "m") is mine
    other = f"""
from pathlib import Path
from mosaic_invoke.store import state
from mosaic_invoke.store.state import load_state, save_state
state.JOURNAL_BOUND = {BOUND}
folder = Path({str(tmp_path)!r})
current = load_state(folder, "m", writing=True)
save_state(folder, current.with_session(current.last(1)[0].ended("completed", 0)))
"""
    subprocess.run([sys.executable, "-c", other], check=True)
    again = load_state(tmp_path, "m")
    assert again is not mine
    assert again.last(1)[0].ended_reason == "completed"


_changes = st.lists(
    st.tuples(st.integers(1, 30), st.sampled_from(["put", "save", "read"]), st.integers(0, 3)), max_size=40
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(changes=_changes)
def test_any_sequence_of_puts_saves_and_reads_gives_the_state_that_was_put(
    tmp_path: Path, changes: list[tuple[int, str, int]]
) -> None:
    """Sessions put (new ones and old ones changed, in state.json or in the journal), saved and
    read by other processes in any order: every read is the state last saved."""
    folder = tmp_path / str(len(list(tmp_path.iterdir())))
    folder.mkdir()
    seeded(folder, 12)
    _state._on_disk.clear()
    state = load_state(folder, "m", writing=True)
    saved = state
    for number, action, variant in changes:
        if action == "put":
            state = state.with_session(session(number, exit_code=variant))
        elif action == "save":
            save_state(folder, state)
            saved = state
            # state.json in coord's own layout, its checksum right, whether or not this save folded
            assert own_layout((folder / "state.json").read_bytes()) is not None
        else:
            read = another_process(folder)
            assert (read.records, read.summary) == (saved.records, saved.summary)
            state = load_state(folder, "m", writing=True)
            assert state.records == saved.records
    save_state(folder, state)
    read = another_process(folder)
    assert (read.records, read.summary) == (state.records, state.summary)
    assert read.to_bytes() == State.of("m", state.records).to_bytes()  # its checksum carried right
    ids = [r["session_id"] for r in read.records]
    assert len(ids) == len(set(ids))
