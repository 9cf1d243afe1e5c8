"""SIGKILL a loop at random instants (also while its agent works), continue with a new loop each time:
no session lost or doubled, every agent run recorded once, each agent's work kept, the mission done."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from conftest import sessions, task_status, wait_for
from loopkit import ORCH, agent, end_group, loop_record, make_project, start_loop

ROUNDS = 8
TASKS = 8
SEED = 20261120
ARGS = ("--max-failures", "100", "--max-attempts", "100", "--max-sessions", "100", "--command", agent("done"))


def tasks_file() -> str:
    rows = "".join(f"| T-{n:03d} | not-started | M1 | Task {n} | |\n" for n in range(1, TASKS + 1))
    return "| id | status | milestone | description | depends_on |\n|---|---|---|---|---|\n" + rows


def agent_lines(log: Path, kind: str) -> list[tuple[str, str]]:
    """(session, task) of each agent that started (``start``) or finished its work (``end``)."""
    if not log.exists():
        return []
    return [tuple(line.split()[1:3]) for line in log.read_text().splitlines() if line.startswith(kind + " ")]  # type: ignore[misc]


def next_agent(log: Path, loop: subprocess.Popen[str]) -> Callable[[], bool]:
    """True once another agent has started (or the loop has ended)."""
    seen = len(agent_lines(log, "start"))
    return lambda: len(agent_lines(log, "start")) > seen or loop.poll() is not None


def start_when_free(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """A new loop; while the killed loop's agent still works it refuses (exit 3): try again.

    One still starting up after 0.05 s is returned: it may yet refuse, and is killed at random anyway.
    """
    deadline = time.monotonic() + 60
    while True:
        loop = start_loop(root, *ARGS, env=env)
        time.sleep(0.05)
        if loop.poll() is None or loop.wait() != 3:
            return loop
        loop.communicate()  # refused: it ended, and the killed loop's agent works on
        assert time.monotonic() < deadline, "the killed loop's agent never ended"
        time.sleep(0.1)


def last_loop(root: Path, env: dict[str, str]) -> tuple[int, str]:
    """A loop run to its end once no killed loop's agent works any more: one refused for that
    (exit 3, however long the agent takes on a loaded machine) is tried again. Its code and stderr."""
    deadline = time.monotonic() + 60
    while True:
        final = start_loop(root, *ARGS, env=env)
        try:
            _, err = final.communicate(timeout=120)
        finally:
            end_group(final)
        if final.returncode != 3 or time.monotonic() > deadline:
            return final.returncode, err
        time.sleep(0.1)


def test_loops_killed_at_random_and_continued_lose_and_double_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    root = make_project(tmp_path / "project", tasks=tasks_file())
    log = tmp_path / "agents.log"
    env = {"LOOP_AGENT_LOG": str(log), "LOOP_AGENT_SLEEP": "0.15"}
    for _ in range(ROUNDS):
        loop = start_when_free(root, env)
        try:
            if rng.random() < 0.4:  # while its agent works
                wait_for(next_agent(log, loop))
                time.sleep(rng.uniform(0, 0.1))
            else:
                time.sleep(rng.uniform(0, 1.0))
            loop.send_signal(signal.SIGKILL)  # the loop alone: its agent lives on
            loop.wait(timeout=60)
        finally:
            if loop.poll() is None:
                loop.kill()
            loop.communicate()
    code, err = last_loop(root, env)
    assert code == 0, err

    record = loop_record(root)
    assert record is not None and record["stop_reason"] == "mission-done"
    assert all(task_status(root, f"T-{n:03d}") == "done" for n in range(1, TASKS + 1))
    recorded = sessions(root)
    ids = [s["session_id"] for s in recorded]
    assert ids == [f"sess-{n:03d}" for n in range(1, len(ids) + 1)]  # unique, none lost
    assert all(s.get("ended_at") for s in recorded)
    assert not (root / ORCH / "session.lock").exists()

    # Every agent run is one recorded session; a session no agent ran was cut off before its gate.
    started = agent_lines(log, "start")
    assert len({sid for sid, _ in started}) == len(started)
    by_id = {s["session_id"]: s for s in recorded}
    for sid, task in started:
        assert by_id[sid]["task_id"] == task
    for session in recorded:
        if session["session_id"] not in dict(started):
            assert session["ended_reason"] == "crashed", session

    # Each task's work was done once and kept: no agent ran on a task after one finished it.
    finished = agent_lines(log, "end")
    assert Counter(task for _, task in finished) == Counter(f"T-{n:03d}" for n in range(1, TASKS + 1))
    order = [sid for sid, _ in started]
    for sid, task in finished:
        later = order[order.index(sid) + 1 :]
        assert all(by_id[other]["task_id"] != task for other in later), (sid, task)

    # One session at a time: each starts after the one before it was over.
    for before, after in itertools.pairwise(recorded):
        assert after["started_at"] >= before["ended_at"], (before, after)

    # Each loop's summary names its own sessions; the killed ones are crashed.
    loops = json.loads((root / ORCH / "state.json").read_text())["loops"]
    assert loops[-1]["stop_reason"] == "mission-done"
    owners = Counter(sid for item in loops for sid in item["sessions"])
    assert all(count == 1 for count in owners.values())
    for item in loops:
        assert all(by_id[sid]["loop_id"] == item["loop_id"] for sid in item["sessions"])
    named = {s["session_id"] for s in recorded if s.get("loop_id")}
    assert set(owners) == named
    assert {item["stop_reason"] for item in loops[:-1]} <= {"crashed", "mission-done"}  # done before its kill
    # The seed kills some loops while their agents work: those sessions were cut off, and redone.
    cut_off = [sid for sid, _ in started if by_id[sid]["ended_reason"] == "crashed"]
    assert cut_off and len(recorded) > TASKS


def _agent_pid(log: Path, after: int) -> int | None:
    """The pid of the newest agent that started after the first ``after`` ones, if any."""
    if not log.exists():
        return None
    starts = [line.split() for line in log.read_text().splitlines() if line.startswith("start ")]
    return int(starts[-1][3]) if len(starts) > after else None


def _kill(pid: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def test_a_kill_storm_on_loop_records_every_session_once_and_leaves_no_lock(tmp_path: Path) -> None:
    """SIGKILL of coord alone, of coord with its agent, or of the agent alone, at random instants
    (before, during and after the agent's work); then `loop` again until the mission is done."""
    seed = int(os.environ.get("STRESS_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"kill storm seed: {seed} (STRESS_SEED={seed} repeats the choices)")
    rng = random.Random(seed)
    tasks = 4
    rows = "".join(f"| T-{n:03d} | not-started | M1 | Task {n} | |\n" for n in range(1, tasks + 1))
    root = make_project(
        tmp_path / "project",
        tasks="| id | status | milestone | description | depends_on |\n|---|---|---|---|---|\n" + rows,
    )
    log = tmp_path / "agents.log"
    env = {"LOOP_AGENT_LOG": str(log), "LOOP_AGENT_SLEEP": "0.1"}
    for round_number in range(12):
        kind = rng.choice(["coord", "group", "agent"])
        where = f"seed {seed}, round {round_number}, {kind}"
        seen = len(agent_lines(log, "start"))
        loop = start_when_free(root, env)
        try:
            moment = rng.random()
            if moment < 0.35:  # while an agent works
                wait_for(next_agent(log, loop))
                time.sleep(rng.uniform(0, 0.15))
            elif moment < 0.7:  # just after an agent finished its work: coord is recording it
                ended = len(agent_lines(log, "end"))
                wait_for(lambda: len(agent_lines(log, "end")) > ended or loop.poll() is not None)  # noqa: B023
                time.sleep(rng.uniform(0, 0.03))
            else:
                time.sleep(rng.uniform(0, 0.6))
            agent_pid = _agent_pid(log, seen)
            if kind in ("coord", "group"):
                _kill(loop.pid, group=False)
            if kind in ("group", "agent") and agent_pid is not None:
                _kill(agent_pid, group=True)  # the agent leads a process group of its own
            if kind == "agent":  # coord records it and goes on: stop it the user's way
                wait_for(next_agent(log, loop))
                _kill(loop.pid, group=False)
            _, err = loop.communicate(timeout=60)
        except BaseException:
            end_group(loop)
            raise
        assert loop.returncode in (-signal.SIGKILL, 0, 3, 4), where
        # Refused (however late on a loaded machine) while the last killed loop's agent works on.
        assert loop.returncode != 3 or "is still running" in err, (where, err)
    code, err = last_loop(root, env)
    assert code == 0, (seed, err)
    assert all(task_status(root, f"T-{n:03d}") == "done" for n in range(1, tasks + 1)), seed
    recorded = sessions(root)
    ids = [s["session_id"] for s in recorded]
    assert ids == [f"sess-{n:03d}" for n in range(1, len(ids) + 1)], seed  # each once, none lost
    assert all(s.get("ended_at") for s in recorded), (seed, recorded)
    assert not (root / ORCH / "session.lock").exists(), seed
    started = agent_lines(log, "start")
    assert len({sid for sid, _ in started}) == len(started), seed  # no session ran two agents
    assert {sid for sid, _ in started} <= set(ids), seed  # every agent that ran is recorded
    loops = json.loads((root / ORCH / "state.json").read_text())["loops"]
    assert loops[-1]["stop_reason"] == "mission-done", seed
    owners = Counter(sid for item in loops for sid in item["sessions"])
    assert all(count == 1 for count in owners.values()), seed
