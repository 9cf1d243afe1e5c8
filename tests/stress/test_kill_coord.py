"""SIGKILL coord alone (not its agent) at random instants of `run` and `run --detach`.

While the agent it launched lives, `run` and `resume` refuse (exit 3) and no second agent
starts; once the agent has ended, `resume` recovers; no session record is lost or doubled,
and no temp file a cut-off write left stays behind.
The kill instants cluster around the launch, where the session lock is first written:
that is where a lock that does not yet name a live agent looked stale.
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
from collections.abc import Callable
from pathlib import Path

from conftest import BIN, FAKE_AGENT, coord, sessions

ORCH = Path(".mosaic") / "orchestrator"
ROUNDS = 10
PROBE = f"{sys.executable} {FAKE_AGENT} probe"


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode().split()


def alive(pid: int | None) -> bool:
    """Exists and is no zombie (an orphan may linger unreaped here)."""
    fields = _stat(pid) if pid else None
    return fields is not None and fields[0] not in ("Z", "X")


def processes_with(marker: str) -> dict[int, bool]:
    """Live processes with ``marker`` as an argument: pid -> whether it is still the gate shell."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv and alive(int(entry.name)):
            found[int(entry.name)] = argv[0] in (b"/bin/sh", b"sh")
    return found


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def lock_owner_gone(root: Path) -> bool:
    """No session lock, or one whose agent and owner have both ended (stale)."""
    try:
        lock = json.loads((root / ORCH / "session.lock").read_text())
    except FileNotFoundError:
        return True
    except json.JSONDecodeError:
        return False  # never: the lock is written atomically; read again
    return not alive(lock.get("pid")) and not alive(lock.get("owner_pid"))


def agent_runs(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    return [(int(pid), sid) for pid, sid in (line.split() for line in log.read_text().splitlines())]


def kill_coord(
    project: Path, args: list[str], env: dict[str, str], rng: random.Random, ready: Path | None = None
) -> None:
    """Start coord, SIGKILL it alone: once its agent works (``ready``: a file the agent writes),
    just after it writes the session lock, or anywhere."""
    process = subprocess.Popen(
        [str(BIN / "mosaic-coord"), *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    lock = project / ORCH / "session.lock"
    if ready is not None:  # however slow the machine, some rounds must see the agent outlive coord
        deadline = time.monotonic() + 60
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.02))
    elif rng.random() < 0.8:
        deadline = time.monotonic() + 10
        while not lock.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.02))
    else:
        time.sleep(rng.uniform(0, 0.8))
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def test_sigkill_of_coord_alone_never_lets_two_agents_run(project: Path, tmp_path: Path) -> None:
    seed = int(os.environ.get("STRESS_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"test_kill_coord seed: {seed} (STRESS_SEED={seed} repeats the choices)")
    rng = random.Random(seed)
    log = tmp_path / "agents.log"
    env = {**os.environ, "FAKE_AGENT_LOG": str(log)}
    recorded: list[str] = []
    probed = 0
    outliving = set(rng.sample(range(ROUNDS), 2))  # rounds killed once the agent works, the others at random
    try:
        for round_number in range(ROUNDS):
            where = f"seed {seed}, round {round_number}"
            release = tmp_path / f"release-{round_number}"
            ready = tmp_path / f"ready-{round_number}" if round_number in outliving else None
            probed += kill_and_probe(project, env, rng, where, release, ready, detach=bool(round_number % 2))
            recorded = recover(project, env, where, recorded)
    finally:  # no agent outlives the test
        for round_number in range(ROUNDS):
            (tmp_path / f"release-{round_number}").touch()
    assert probed >= 2, f"seed {seed}: the agent outlived coord in only {probed} rounds"


def kill_and_probe(
    project: Path,
    env: dict[str, str],
    rng: random.Random,
    where: str,
    release: Path,
    ready: Path | None,
    *,
    detach: bool,
) -> bool:
    """Kill coord during a launch; while its agent lives, `run` and `resume` must refuse.

    Returns whether the agent outlived coord; it has ended when this returns.
    """
    marker = f"agent-{where.replace(' ', '').replace(',', '-')}"
    command = f"{sys.executable} {FAKE_AGENT} {marker}"
    args = ["run", "--task", "T-002", *(["--detach"] if detach else []), "--command", command]
    agent_env = {**env, "FAKE_AGENT_WAIT_FOR": str(release), **({"FAKE_AGENT_READY": str(ready)} if ready else {})}
    kill_coord(project, args, agent_env, rng, ready)
    # A launch cut off mid-fork still has coord's arguments until it reaches its exec (or ends).
    wait_until(lambda: not processes_with(command), 60, f"{where}: a forked launch to reach its exec")
    # A gate never opened ends by itself (125); an opened one becomes the agent.
    wait_until(lambda: not any(processes_with(marker).values()), 60, f"{where}: the gate to open or close")
    agents = set(processes_with(marker))
    log = Path(env["FAKE_AGENT_LOG"])
    if agents:
        logged = len(agent_runs(log))
        probes = {
            name: subprocess.Popen(
                [str(BIN / "mosaic-coord"), name, "--command", PROBE],
                cwd=project,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("run", "resume")
        }
        for name, probe in probes.items():
            _, stderr = probe.communicate(timeout=60)
            assert probe.returncode == 3, f"{where}: `{name}` while agent {agents} lives: {stderr}"
        assert all(alive(pid) for pid in agents), f"{where}: the agent ended during the probes"
        intruders = [run for run in agent_runs(log)[logged:] if run[0] not in agents]
        assert not intruders, f"{where}: a second agent started while {agents} lived: {intruders}"
    release.touch()
    wait_until(lambda: not any(alive(pid) for pid in agents), 60, f"{where}: the agent to end")
    wait_until(lambda: lock_owner_gone(project), 60, f"{where}: the supervisor to record the end")
    return bool(agents)


def recover(project: Path, env: dict[str, str], where: str, recorded: list[str]) -> list[str]:
    """`resume` recovers; every record kept, none doubled, every agent that worked recorded."""
    resumed = coord("resume", "--command", PROBE, cwd=project, env=env)
    assert resumed.returncode == 0, f"{where}: resume after the agent ended: {resumed.stderr}"
    now = sessions(project)
    ids = [s["session_id"] for s in now]
    assert ids[: len(recorded)] == recorded, f"{where}: a session record was lost: {recorded} -> {ids}"
    assert len(ids) == len(set(ids)), f"{where}: a session recorded twice: {ids}"
    assert all(s.get("ended_at") for s in now), f"{where}: a session left running: {now}"
    assert not (project / ORCH / "session.lock").exists(), where
    runs = agent_runs(Path(env["FAKE_AGENT_LOG"]))
    started = [sid for _, sid in runs]
    assert len(started) == len(set(started)), f"{where}: two agents worked as one session: {runs}"
    assert set(started) <= set(ids), f"{where}: an agent worked on an unrecorded session: {runs}, {ids}"
    # What a write cut off by the kill left, the next writer of that folder removed.
    folders = (project / ORCH, project / ORCH / "logs", project / "docs")
    left = [path.name for folder in folders for path in folder.glob(".*.tmp")]
    assert not left, f"{where}: temp files left: {left}"
    return ids
