"""Several machines, one mission (SPEC 16): whole-process tests with one bare repository standing
for the shared remote and several clones of it, each with its own orchestrator folder, standing
for hosts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from conftest import BIN, wait_for
from remotekit import agent_command, git, landed_done, remote_refs, remote_tasks, shared_mission, tasks_table

ORCH = Path(".mosaic") / "orchestrator"
IDENTITY = {
    **{f"GIT_{role}_NAME": "Test" for role in ("AUTHOR", "COMMITTER")},
    **{f"GIT_{role}_EMAIL": "test@example.com" for role in ("AUTHOR", "COMMITTER")},
}


def loop(clone: Path, mode: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``mosaic-coord loop`` in ``clone`` with the stand-in lane agent in ``mode``."""
    return subprocess.Popen(
        [str(BIN / "mosaic-coord"), "loop", "--command", agent_command(mode), *args],
        cwd=clone,
        env={**os.environ, **IDENTITY, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def sessions(clone: Path) -> list[dict[str, Any]]:
    path = clone / ORCH / "state.json"
    return json.loads(path.read_text())["sessions"] if path.exists() else []


def agent_log(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def finish(process: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, err


def test_three_hosts_finish_thirty_tasks_each_landed_once_and_leave_no_claim(tmp_path: Path) -> None:
    bare, clones = shared_mission(tmp_path, 3, tasks_table(30), claim_ttl="6s")
    log = tmp_path / "agents.log"
    loops = [loop(clone, "commit", {"LANE_AGENT_LOG": str(log)}, "--max-sessions", "30") for clone in clones]
    results = [finish(process) for process in loops]
    for code, err in results:
        assert code == 0, err
        assert "stopped: mission-done (all 30 tasks are done or cancelled)" in err, err
    assert set(remote_tasks(bare).values()) == {"done"}
    done = landed_done(bare)
    assert sorted(subject.split(":")[0] for subject in done) == [f"T-{n:02d}" for n in range(1, 31)]
    assert remote_refs(bare) == {}  # no claim left behind
    accepted = [s for clone in clones for s in sessions(clone) if s["verdict"] == "accepted"]
    assert sorted(s["task_id"] for s in accepted) == [f"T-{n:02d}" for n in range(1, 31)]
    started = [words[1] for words in agent_log(log) if words[0] == "start"]
    assert sorted(started) == sorted(set(started)), "a task's agent ran twice"
    assert sum(1 for clone in clones if any(s["verdict"] == "accepted" for s in sessions(clone))) >= 2
    for clone in clones:  # each clone's own branch followed the remote's
        assert git(clone, "rev-parse", "main") == git(bare, "rev-parse", "main")


def test_a_host_killed_mid_session_loses_its_claim_after_the_ttl_and_the_task_lands_once(tmp_path: Path) -> None:
    bare, (one, two) = shared_mission(tmp_path, 2, tasks_table(1))
    log = tmp_path / "agents.log"
    first = loop(one, "hang", {"LANE_AGENT_LOG": str(log)})
    try:
        wait_for(lambda: any(words[0] == "start" for words in agent_log(log)), timeout=60)
        wait_for(lambda: any(s.get("owner_pid") for s in sessions(one)), timeout=60)
        session = sessions(one)[0]
        for pid in (first.pid, session["owner_pid"], session["pid"]):  # the whole host, at once
            os.kill(pid, signal.SIGKILL)
    finally:
        finish(first)
    claimed = remote_refs(bare)
    assert list(claimed) == ["refs/coord/demo/claims/T-01"]  # held still, renewed no more
    second = loop(two, "commit", {"LANE_AGENT_LOG": str(log)})
    code, err = finish(second)
    assert code == 0, err
    assert "waiting for other hosts: T-01 (" in err, err  # its claim was not stale yet
    assert "claim on T-01 by " in err and "taken over" in err, err
    assert "stopped: mission-done" in err
    assert landed_done(bare) == ["T-01: done (session sess-001)"]
    assert remote_refs(bare) == {}
    # The killed host, started again, records its session as crashed and finds the mission done.
    again = loop(one, "commit", {"LANE_AGENT_LOG": str(log)})
    code, err = finish(again)
    assert code == 0, err
    assert "recorded as crashed" in err and "stopped: mission-done" in err, err
    assert [s["ended_reason"] for s in sessions(one)] == ["crashed"]
    assert landed_done(bare) == ["T-01: done (session sess-001)"]
    assert remote_refs(bare) == {}


def test_a_displaced_hosts_session_is_interrupted_at_its_next_heartbeat_and_recorded_claim_lost(
    tmp_path: Path,
) -> None:
    """Host one's claim is taken over while its agent works (its renewals stopped a while, as a host
    cut off would): at its next heartbeat it finds the claim gone, ends its agent and records
    the session interrupted with the claim lost; nothing of it lands."""
    bare, (one, two) = shared_mission(tmp_path, 2, tasks_table(1))
    log = tmp_path / "agents.log"
    first = loop(one, "hang", {"LANE_AGENT_LOG": str(log)})
    try:
        wait_for(lambda: any(words[0] == "start" for words in agent_log(log)), timeout=60)
        wait_for(lambda: any(s.get("owner_pid") for s in sessions(one)), timeout=60)
        supervisor = sessions(one)[0]["owner_pid"]
        os.kill(supervisor, signal.SIGSTOP)  # its heartbeat stops: the claim goes stale
        go = tmp_path / "go"
        second = loop(two, "commit", {"LANE_AGENT_LOG": str(log), "LANE_AGENT_WAIT_FOR": str(go)})
        try:
            wait_for(lambda: len([w for w in agent_log(log) if w[0] == "start"]) == 2, timeout=60)
        finally:
            os.kill(supervisor, signal.SIGCONT)  # awake while the other host works on the task
        wait_for(lambda: sessions(one)[0].get("verdict") is not None, timeout=60)
        go.touch()
        code, err = finish(second)
        assert code == 0, err
        assert "taken over" in err
        os.kill(first.pid, signal.SIGTERM)
    finally:
        finish(first)
    lost = sessions(one)[0]
    assert lost["ended_reason"] == "interrupted", lost
    assert lost["verdict"] == "none" and "claim on T-01 taken over by host" in lost["claim_lost"], lost
    assert landed_done(bare) == ["T-01: done (session sess-001)"]
    assert remote_refs(bare) == {}


def test_a_remote_unreachable_for_a_while_delays_the_loop_and_does_not_corrupt(tmp_path: Path) -> None:
    bare, (one,) = shared_mission(tmp_path, 1, tasks_table(3))
    log, go = tmp_path / "agents.log", tmp_path / "go"
    env = {"LANE_AGENT_LOG": str(log), "LANE_AGENT_WAIT_FOR": str(go)}
    running = loop(one, "commit", env)
    away = tmp_path / "away.git"
    try:
        wait_for(lambda: any(words[0] == "start" for words in agent_log(log)), timeout=60)
        bare.rename(away)  # the remote goes away while the first agent works
        go.touch()
        logs = one / ORCH / "logs"
        wait_for(lambda: any("trying again in" in p.read_text() for p in logs.glob("*.log")), timeout=60)
        away.rename(bare)
    finally:
        code, err = finish(running)
        if away.exists():
            away.rename(bare)
    assert code == 0, err
    assert "stopped: mission-done" in err
    assert sorted(landed_done(bare)) == [f"T-0{n}: done (session sess-00{n})" for n in (1, 2, 3)]
    assert [s["verdict"] for s in sessions(one)] == ["accepted"] * 3
    assert remote_refs(bare) == {}
    assert git(bare, "fsck", "--no-progress", "--no-dangling") == ""


def run(clone: Path, mode: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``mosaic-coord run`` in ``clone`` with the stand-in lane agent in ``mode``."""
    return subprocess.Popen(
        [str(BIN / "mosaic-coord"), "run", "--command", agent_command(mode), *args],
        cwd=clone,
        env={**os.environ, **IDENTITY, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_sixteen_hosts_running_one_task_at_once_run_exactly_one_agent(tmp_path: Path) -> None:
    """Sixteen `run --task T-01` at once, each in its own clone: one claims the task and runs its
    agent (held until the others are done); the fifteen others exit 3 naming that host and since
    when; the task lands once and no claim is left."""
    bare, clones = shared_mission(tmp_path, 16, tasks_table(2))
    log, go = tmp_path / "agents.log", tmp_path / "go"
    env = {"LANE_AGENT_LOG": str(log), "LANE_AGENT_WAIT_FOR": str(go)}
    runs = [run(clone, "commit", env, "--task", "T-01") for clone in clones]
    try:
        wait_for(lambda: sum(process.poll() is not None for process in runs) == 15, timeout=240)
        wait_for(lambda: bool(agent_log(log)), timeout=60)
        losers = [process for process in runs if process.poll() is not None]
        (winner,) = [process for process in runs if process.poll() is None]
        assert [words[:2] for words in agent_log(log)] == [["start", "T-01"]]
        for process in losers:
            code, err = finish(process)
            assert code == 3, err
            assert "coord: error: T-01 is claimed by host " in err and " since 20" in err, err
        go.touch()
        code, err = finish(winner)
        assert code == 0, err
    finally:
        go.touch()
        for process in runs:
            finish(process)
    assert [words[:2] for words in agent_log(log) if words[0] == "start"] == [["start", "T-01"]]
    assert landed_done(bare) == ["T-01: done (session sess-001)"]
    assert remote_tasks(bare) == {"T-01": "done", "T-02": "not-started"}
    assert remote_refs(bare) == {}


def test_run_on_a_task_another_host_holds_exits_3_naming_the_host(tmp_path: Path) -> None:
    bare, (one, two) = shared_mission(tmp_path, 2, tasks_table(1))
    log, go = tmp_path / "agents.log", tmp_path / "go"
    first = run(one, "commit", {"LANE_AGENT_LOG": str(log), "LANE_AGENT_WAIT_FOR": str(go)})
    try:
        wait_for(lambda: bool(agent_log(log)), timeout=60)
        second = run(two, "commit", {"LANE_AGENT_LOG": str(log)})
        code, err = finish(second)
        assert code == 3, err
        assert "every task that could run now is claimed by another host: T-01 is claimed by host" in err, err
        code, err = finish(run(two, "commit", {"LANE_AGENT_LOG": str(log)}, "--task", "T-01"))
        assert code == 3
        assert "T-01 is claimed by host" in err and "(lane 1, session sess-001) since 20" in err, err
        go.touch()
        code, err = finish(first)
        assert code == 0, err
    finally:
        go.touch()
        finish(first)
    assert landed_done(bare) == ["T-01: done (session sess-001)"]
    code, err = finish(run(two, "commit", {}, "--task", "T-01"))
    assert code == 1 and "task T-01 is done on origin/main" in err, err
    assert remote_refs(bare) == {}


def test_a_remote_this_clone_lacks_is_refused_before_any_session(tmp_path: Path) -> None:
    _, (one,) = shared_mission(tmp_path, 1, tasks_table(1))
    config = one / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text().replace("remote: origin", "remote: upstream"))
    for command in (loop, run):
        code, err = finish(command(one, "commit", {}))
        assert code == 1, err
        assert (
            "coord: error: .mosaic/mission.yaml:3: `remote`: this clone has no git remote `upstream`; "
            "add it with `git remote add upstream <url>`, or name one of `git remote`"
        ) in err, err
    assert sessions(one) == []
