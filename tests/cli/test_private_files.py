"""The files coord writes: no planted link followed, private modes, temp files of the killed removed."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from conftest import ORCH, coord, sessions, wait_for
from loopkit import agent, make_project, run_loop

from mosaic_invoke.store.liveness import hostname, process_start_time

# Every file of the orchestrator folder a run, a report and a loop write, by their predictable names.
PLANTED = [
    "logs/sess-001.log",
    "logs/sess-001.prompt.md",
    "logs/sess-001.verify.log",
    "logs/sess-002.log",
    "logs/sess-002.prompt.md",
    "logs/loop-gates.verify.log",
    "next-task.json",
    "report.html",
    "session.lock",
    "coord.lock",
    "loop.json",
    "stop-request.json",
]


def test_links_planted_in_the_orchestrator_folder_are_replaced_never_followed(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    outside = tmp_path / "home"
    outside.mkdir()
    victims = {}
    for name in PLANTED:
        victim = outside / name.replace("/", "-")
        victim.write_text(f"the user's {name}\n")
        link = root / ORCH / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(victim)
        victims[name] = victim
    # state.json too, aimed at a state the run reads, then must not write through
    state_victim = outside / "state.json"
    state_victim.write_text('{"version": 1, "mission_id": "demo", "sessions": []}\n')
    (root / ORCH / "state.json").symlink_to(state_victim)

    result = coord("run", "--command", agent("done"), cwd=root)
    assert result.returncode == 0, result.stderr
    assert coord("report", cwd=root).returncode == 0
    looped = run_loop(root, "--max-sessions", "1", "--command", agent("done"))
    assert looped.returncode == 4, looped.stderr

    for name, victim in victims.items():
        assert victim.read_text() == f"the user's {name}\n", name
    assert state_victim.read_text() == '{"version": 1, "mission_id": "demo", "sessions": []}\n'
    written = [name for name in [*PLANTED, "state.json"] if (root / ORCH / name).exists()]
    assert all(not (root / ORCH / name).is_symlink() for name in written)
    assert {"logs/sess-001.log", "logs/sess-002.log", "report.html", "loop.json", "state.json"} <= set(written)
    assert len(sessions(root)) == 2


def test_logs_prompts_and_state_are_private_to_the_user(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", gates=True)
    assert coord("run", "--command", agent("done"), cwd=root).returncode == 0
    assert coord("report", cwd=root).returncode == 0
    assert run_loop(root, "--max-sessions", "1", "--command", agent("done")).returncode == 4
    folders, files = {}, {}
    for path in [root / ORCH, *(root / ORCH).rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        (folders if path.is_dir() else files)[str(path.relative_to(root))] = mode
    assert set(folders.values()) == {0o700}, folders
    assert set(files.values()) == {0o600}, files
    assert {".mosaic/orchestrator/state.json", ".mosaic/orchestrator/logs/sess-001.prompt.md"} <= set(files)
    assert stat.S_IMODE((root / "docs" / "TASKS.md").stat().st_mode) == 0o644  # the user's file keeps its mode


def test_temp_files_a_killed_coord_left_are_removed_by_the_next_writer(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    (root / ORCH / "logs").mkdir(parents=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = [
        root / "docs" / f".TASKS.md.{gone.stdout.strip()}-7.abcdefgh.tmp",
        root / ORCH / f".state.json.{gone.stdout.strip()}-7.k2j3h4g5.tmp",
        root / ORCH / "logs" / f".sess-000.prompt.md.{gone.stdout.strip()}-7.zzzzzzzz.tmp",
    ]
    for path in left:
        path.write_text("cut off by SIGKILL")
    writing = root / ORCH / f".state.json.{os.getpid()}-{process_start_time(os.getpid())}.q1w2e3r4.tmp"
    writing.write_text("a write under way")  # a live writer's (this process's)
    assert coord("run", "--command", agent("done"), cwd=root).returncode == 0
    assert [path for path in left if path.exists()] == []
    assert writing.exists()


def test_a_corrupt_state_is_copied_aside_once_not_once_per_command(project: Path) -> None:
    (project / ORCH).mkdir(parents=True)
    (project / ORCH / "state.json").write_text('{"sessions": [')
    for _ in range(3):
        result = coord("run", "--command", "true", cwd=project)
        assert result.returncode == 1
        assert "a copy is kept in .mosaic/orchestrator/state.json.corrupt-" in result.stderr
    assert coord("loop", "--command", "true", cwd=project).returncode == 1
    copies = list((project / ORCH).glob("state.json.corrupt-*"))
    assert len(copies) == 1
    assert copies[0].read_text() == '{"sessions": ['
    (project / ORCH / "state.json").write_text('{"sessions": [}')  # another corruption: another copy
    assert coord("run", "--command", "true", cwd=project).returncode == 1
    assert len(list((project / ORCH).glob("state.json.corrupt-*"))) == 2


def _loop_json(root: Path, pid: int, **fields: object) -> None:
    record = {"loop_id": "loop-001", "pid": pid, "host": hostname(), "started_at": "2026-11-20T10:00:00.000Z", **fields}
    (root / ORCH).mkdir(parents=True, exist_ok=True)
    (root / ORCH / "loop.json").write_text(json.dumps(record))


def test_stop_signals_no_process_that_loop_json_does_not_prove_is_the_loop(project: Path, tmp_path: Path) -> None:
    """SIGUSR1 ends most processes (this one exits 42 on it): a hand-written loop.json naming any
    pid (1, or one of the user's) must not reach it."""
    ready, heard = tmp_path / "ready", tmp_path / "heard"
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGUSR2})\n"  # whatever the runner blocks
        f"def note(signum, frame): open({str(heard)!r}, 'a').write(signal.Signals(signum).name + '\\n')\n"
        "signal.signal(signal.SIGUSR2, note)\n"
        "signal.signal(signal.SIGUSR1, lambda *_: (note(signal.SIGUSR1, None), sys.exit(42)))\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(120)\n"
    )
    bystander = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for(ready.exists)
        _loop_json(project, bystander.pid)  # no start time: no proof
        said = coord("stop", cwd=project)
        assert said.returncode == 0, said.stderr
        assert f"loop.json does not prove that pid {bystander.pid} is the loop, so it was sent no signal" in said.stdout
        _loop_json(project, bystander.pid, pid_started_at=(process_start_time(bystander.pid) or 0) + 1)
        said = coord("stop", cwd=project)  # another start time: that loop is gone, the pid is another's
        assert said.returncode == 1
        assert "is no longer running" in said.stderr
        # A signal of coord's, had it sent one, is delivered before this later, higher-numbered one.
        os.kill(bystander.pid, signal.SIGUSR2)
        wait_for(lambda: heard.exists() and heard.read_text().endswith("SIGUSR2\n"))
        assert heard.read_text() == "SIGUSR2\n" and bystander.poll() is None
        _loop_json(project, 1)
        said = coord("stop", cwd=project)
        assert "does not prove that pid 1 is the loop, so it was sent no signal" in said.stdout
        _loop_json(project, bystander.pid, pid_started_at=process_start_time(bystander.pid))
        said = coord("stop", cwd=project)  # with proof, it is woken
        assert said.stdout.strip() == f"asked loop loop-001 (pid {bystander.pid}) to stop after its current session"
        assert bystander.wait(timeout=60) == 42  # it was sent SIGUSR1
    finally:
        bystander.kill()
        bystander.wait()
