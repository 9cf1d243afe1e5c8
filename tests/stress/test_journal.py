"""state.journal under fire: writers SIGKILLed at random instants (while they append, fold or
start a journal) and readers that never take the state lock, all at once.

Every reader must read a whole state (each session once, ids consecutive, totals that add up,
never fewer sessions than it read before, every change acknowledged before the read began);
state.json must parse at every instant; after the storm, every acknowledged change is there once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, coord, wait_for

from mosaic_invoke.store import state as _state
from mosaic_invoke.store.state import State, load_state, save_state

ORCH = Path(".mosaic") / "orchestrator"
SMALL_JOURNAL_COORD = Path(__file__).with_name("small_journal_coord.py")
SEEDED = 24
"""Sessions in state.json before the storm: past the lowered bound, so that it is journaled."""

WRITER = """
import os, random, sys, time
from pathlib import Path
from mosaic_invoke.store import state
from mosaic_invoke.store.clock import now_iso
from mosaic_invoke.store.locks import state_lock
from mosaic_invoke.store.session import Session
folder, acks, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[5]
state.JOURNAL_BOUND = int(sys.argv[3])
rng = random.Random(int(sys.argv[4]))
while True:
    with state_lock(folder):
        current = state.load_state(folder, "m", writing=True)
        last = current.last(1)
        if last and last[0].running and rng.random() < 0.6:
            kind, changed = "end", last[0].ended("completed", 0, cost_usd=0.5)
        else:
            kind = "start"
            changed = Session(session_id=current.next_session_id(), runtime="w", pid=os.getpid(), started_at=now_iso())
        current = current.with_session(changed)
        if rng.random() < 0.05:  # a loop's summary: state.json is written whole
            current = current.with_loop({"loop_id": f"loop-{rng.randrange(10**6)}", "stop_reason": "stopped"})
        state.save_state(folder, current)
        with open(acks, "a") as file:  # after the save returned: what must never be lost
            file.write(f"{kind} {changed.session_id} {name}\\n")
    time.sleep(rng.uniform(0, 0.01))
"""

READER = """
import json, sys
from pathlib import Path
from mosaic_invoke.store import state
from mosaic_invoke.store.session import summarise
folder, acks, stop = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
seen = reads = 0
while not stop.exists():
    lines = [line.split()[:2] for line in acks.read_text().splitlines(keepends=True) if line.endswith("\\n")]
    state._on_disk.clear()  # as a process that never read it
    current = state.load_state(folder, "m")
    ids = [record["session_id"] for record in current.records]
    numbers = [int(sid.removeprefix("sess-")) for sid in ids]
    assert numbers == list(range(1, len(ids) + 1)), f"ids not each once and consecutive: {ids[-8:]}"
    assert current.summary == summarise(current.records), "the totals do not add up"
    assert len(ids) >= seen, f"{len(ids)} sessions after {seen}"
    seen = len(ids)
    ended = {record["session_id"] for record in current.records if "ended_at" in record}
    known = set(ids)
    for kind, sid in lines:
        assert sid in known, f"{sid} was acknowledged, then not read"
        assert kind == "start" or sid in ended, f"the end of {sid} was acknowledged, then not read"
    json.loads((folder / "state.json").read_bytes())
    reads += 1
print(reads)
"""


def seed(folder: Path, count: int, mission_id: str = "m") -> None:
    records = [
        {
            "session_id": f"sess-{n:03d}",
            "runtime": "seed",
            "pid": n,
            "started_at": "2026-11-20T10:00:00.000Z",
            "ended_at": "2026-11-20T10:41:03.000Z",
            "ended_reason": "completed",
            "final_message": "x" * 300,
        }
        for n in range(1, count + 1)
    ]
    save_state(folder, State.of(mission_id, records, status="active"))


@contextlib.contextmanager
def readers(folder: Path, acks: Path, stop: Path, count: int) -> Iterator[list[subprocess.Popen[str]]]:
    started = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(folder), str(acks), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        yield started
    finally:
        stop.touch()
        for reader in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                reader.wait(timeout=60)
            if reader.poll() is None:
                reader.kill()


def finish(started: list[subprocess.Popen[str]]) -> list[int]:
    """The number of reads each reader made; a reader that found a torn state fails the test."""
    counts = []
    for reader in started:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        counts.append(int(out))
    return counts


def acknowledged(acks: Path) -> list[list[str]]:
    """(kind, session id, writer) of each change acknowledged: a line cut short by a kill is not."""
    return [line.split() for line in acks.read_text().splitlines(keepends=True) if line.endswith("\n")]


def test_readers_racing_killed_writers_and_folds_always_read_a_whole_state(tmp_path: Path) -> None:
    seed_value = int(os.environ.get("STRESS_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"seed: {seed_value} (STRESS_SEED={seed_value} repeats the choices)")
    rng = random.Random(seed_value)
    folder, acks, stop = tmp_path / "orchestrator", tmp_path / "acks", tmp_path / "stop"
    folder.mkdir()
    acks.touch()
    seed(folder, 12)  # some 4 KiB: journaled under a bound of 2 KiB, folded every few changes

    names = iter(range(10**6))

    def writer() -> tuple[subprocess.Popen[bytes], str]:
        name = f"w{next(names)}"
        argv = [sys.executable, "-c", WRITER, str(folder), str(acks), "2048", str(rng.randrange(2**31)), name]
        with (tmp_path / f"{name}.err").open("wb") as err:
            return subprocess.Popen(argv, stderr=err), name

    def has_written(name: str) -> bool:
        return any(line[2] == name for line in acknowledged(acks))

    writers = [writer(), writer()]
    kills = 0
    with readers(folder, acks, stop, 2) as started:
        try:
            while kills < 40:
                index = rng.randrange(len(writers))
                process, name = writers[index]
                wait_for(lambda: has_written(name) or process.poll() is not None, timeout=60)  # noqa: B023
                time.sleep(rng.uniform(0, 0.05))  # then anywhere in its next few writes
                assert process.poll() is None, (tmp_path / f"{name}.err").read_text()
                process.send_signal(signal.SIGKILL)  # the writer alone
                process.wait(timeout=30)
                writers[index] = writer()
                kills += 1
                json.loads((folder / "state.json").read_bytes())
        finally:
            for process, _ in writers:
                process.kill()
                process.wait(timeout=30)
    counts = finish(started)
    assert min(counts) > 20, counts  # the readers read all along
    _state._on_disk.clear()
    final = load_state(folder, "m")
    ids = [record["session_id"] for record in final.records]
    assert len(ids) == len(set(ids))
    done = acknowledged(acks)
    assert sum(kind == "start" for kind, _, _ in done) > 40
    for kind, sid, _ in done:
        session = final.session(sid)
        assert session is not None, sid
        assert kind == "start" or not session.running, sid


def project_past_the_bound(root: Path) -> None:
    orchestrator = root / ORCH
    orchestrator.mkdir(parents=True)
    seed(orchestrator, SEEDED, "demo")
    assert (orchestrator / "state.json").stat().st_size > 8 * 1024


def agent_sessions(log: Path) -> list[str]:
    return [line.split()[1] for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("round_count", [20])
def test_sigkill_of_coord_while_sessions_start_and_end_loses_and_doubles_no_record(
    project: Path, tmp_path: Path, round_count: int
) -> None:
    """Real `run`s, SIGKILLed at random instants (at the launch, while the agent works, while
    the end is recorded, while the journal is folded), each followed by `resume`: every agent
    that ran has its session recorded exactly once; readers never see a torn state."""
    seed_value = int(os.environ.get("STRESS_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"seed: {seed_value} (STRESS_SEED={seed_value} repeats the choices)")
    rng = random.Random(seed_value)
    project_past_the_bound(project)
    orchestrator = project / ORCH
    log, acks, stop = tmp_path / "agents.log", tmp_path / "acks", tmp_path / "stop"
    acks.touch()
    small = [sys.executable, str(SMALL_JOURNAL_COORD)]
    env = {**os.environ, "FAKE_AGENT_LOG": str(log)}
    extended: set[bytes] = set()  # the state.json each journal seen after a round extends: new after a fold
    with readers(orchestrator, acks, stop, 1) as started:
        for round_number in range(round_count):
            where = f"seed {seed_value}, round {round_number}"
            process = subprocess.Popen(
                [*small, "run", "--task", "T-002", "--command", AGENT_COMMAND],
                cwd=project,
                env={**env, "FAKE_AGENT_SLEEP": str(rng.choice([0, 0.05]))},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0, 0.6))
            process.send_signal(signal.SIGKILL)  # coord alone: its agent lives on
            process.wait(timeout=30)
            json.loads((orchestrator / "state.json").read_bytes())
            deadline = time.monotonic() + 30
            while True:  # refused (exit 3) while the killed run's agent still works
                result = subprocess.run(
                    [*small, "resume", "--task", "T-002", "--command", AGENT_COMMAND],
                    cwd=project,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                if result.returncode != 3:
                    break
                assert time.monotonic() < deadline, f"{where}: the killed run's agent never ended"
                time.sleep(0.05)
            assert result.returncode == 0, f"{where}: {result.stderr}"
            with contextlib.suppress(FileNotFoundError):
                extended.add((orchestrator / "state.journal").read_bytes().split(b"\n", 1)[0])
            _state._on_disk.clear()
            records = load_state(orchestrator, "demo").records
            ids = [record["session_id"] for record in records]
            assert len(ids) == len(set(ids)), f"{where}: a session recorded twice"
            ran = agent_sessions(log)
            assert set(ran) <= set(ids), f"{where}: an agent ran without a record"
            assert all("ended_at" in record for record in records), f"{where}: a session left running"
            assert not (orchestrator / "session.lock").exists(), where
            with acks.open("a") as file:  # what the reader must see from here on
                file.writelines(f"end {sid}\n" for sid in ids[SEEDED:])
    finish(started)
    assert len(agent_sessions(log)) >= round_count
    assert len(extended) >= 3, "the journal was seldom folded: the bound is not what the storm needs"
    status = coord("status", "--json", cwd=project)
    assert status.returncode == 0, status.stderr
