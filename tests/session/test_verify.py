"""Verification after a session (SPEC section 12), through the real mosaic-coord with stand-in agents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import AGENT_COMMAND, BIN, coord, wait_for

from mosaic_invoke.config.mission import load_mission
from mosaic_invoke.session.verify import STOP_NOW, Start, run_gates
from mosaic_invoke.store.liveness import is_alive

ORCH = Path(".mosaic") / "orchestrator"
DONE_AGENT = f"{sys.executable} {Path(__file__).parents[1] / 'done_agent.py'}"
GATE_PASSES = "echo gate ran; exit 0\n"
GATE_FAILS = "echo gate broken; exit 3\n"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project as a git work tree with one commit; coord's own folder ignored, as init does."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    (project / ".gitignore").write_text(".mosaic/orchestrator/\n")
    (project / "gate.sh").write_text(GATE_PASSES)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    return project


def with_verify(root: Path, verify: str) -> None:
    config = root / ".mosaic" / "mission.yaml"
    config.write_text(config.read_text() + f"verify: {verify}\n")
    if (root / ".git").exists():
        git(root, "commit", "-qam", "verify")


def run(root: Path, command: str = DONE_AGENT, **env: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """`run` in the foreground with ``--json``: the result and the session record."""
    result = coord("run", "--json", "--command", command, cwd=root, env=env)
    record = json.loads(result.stdout)
    assert record == json.loads((root / ORCH / "state.json").read_text())["sessions"][-1]
    return result, record


def rows(root: Path) -> dict[str, list[str]]:
    table = (root / "docs" / "TASKS.md").read_text().splitlines()[4:]
    return {cells[1].strip(): cells for cells in (line.split("|") for line in table)}


def test_a_done_task_with_passing_gates_is_accepted(repo: Path) -> None:
    with_verify(repo, "{command: sh gate.sh, timeout: 1m}")
    result, record = run(repo, DONE_AGENT_TASKS="T-002 T-003")
    assert result.returncode == 0, result.stderr
    assert (record["verdict"], record["task_status_after"]) == ("accepted", "done")
    assert record["tasks_done"] == ["T-002"]  # T-001 was done before; T-003 is not the session's to claim
    assert record["tasks_restored"] == ["T-003"]
    assert rows(repo)["T-003"][2] == " not-started "
    log = repo.resolve() / ORCH / "logs" / "sess-001.verify.log"
    assert record["verification"] == {
        "command": "sh gate.sh",
        "exit_code": 0,
        "passed": True,
        "duration_seconds": record["verification"]["duration_seconds"],
        "log_path": str(log),
    }
    assert record["verification"]["duration_seconds"] in range(5)  # whole seconds
    assert log.read_text() == "$ sh gate.sh\ngate ran\n"
    assert "rejected_because" not in record
    head = git(repo, "rev-parse", "HEAD")
    assert record["git"] == {
        "head_before": head,
        "head_after": head,
        "commits": 0,
        "dirty": False,
        "changed": False,
    }  # TASKS.md is coord's
    assert rows(repo)["T-002"][2] == " done "


def test_a_claim_that_breaks_the_gates_is_rejected_and_the_task_reopened(repo: Path) -> None:
    with_verify(repo, "{command: sh gate.sh}")
    result, record = run(repo, DONE_AGENT_WRITE=f"gate.sh={GATE_FAILS}", DONE_AGENT_TASKS="T-002 T-003")
    assert result.returncode == 0, result.stderr  # the agent's exit code: it did exit 0
    assert (record["verdict"], record["task_status_after"]) == ("rejected", "done")
    assert record["rejected_because"] == "`sh gate.sh` failed (exit 3)"
    assert (record["verification"]["exit_code"], record["verification"]["passed"]) == (3, False)
    assert (record["tasks_done"], record["tasks_restored"]) == (["T-002"], ["T-003"])
    message = "coord: T-002 was marked done, but `sh gate.sh` failed (exit 3); it is in-progress again"
    assert message in result.stderr.splitlines()
    log = repo / ORCH / "logs" / "sess-001.verify.log"
    assert log.read_text() == "$ sh gate.sh\ngate broken\n"
    assert rows(repo)["T-003"][2] == " not-started "


def test_a_rejection_changes_one_cell_of_the_file_the_agent_left(repo: Path, tmp_path: Path) -> None:
    with_verify(repo, "{command: sh gate.sh}")
    tasks = repo / "docs" / "TASKS.md"
    tasks.write_bytes(tasks.read_bytes().replace(b"\n", b"\r\n") + b"\r\nNotes the agent keeps   \r\n")
    snapshot = tmp_path / "as-the-agent-left-it.md"
    _, record = run(
        repo,
        DONE_AGENT_WRITE=f"gate.sh={GATE_FAILS}",
        DONE_AGENT_TASKS="T-002 T-003",
        DONE_AGENT_SNAPSHOT=str(snapshot),
    )
    assert record["verdict"] == "rejected"
    left = snapshot.read_bytes()
    assert left.count(b"| T-002 | done |") == 1
    reopened = left.replace(b"| T-002 | done |", b"| T-002 | in-progress |")
    assert tasks.read_bytes() == reopened.replace(b"| T-003 | done |", b"| T-003 | not-started |")


@pytest.mark.parametrize(
    ("env", "verdict", "because", "commits", "dirty"),
    [
        pytest.param({}, "rejected", "no commit was made and nothing in the work tree changed", 0, False, id="nothing"),
        pytest.param({"DONE_AGENT_WRITE": "feature.txt=x"}, "accepted", None, 0, True, id="changed-tree"),
        pytest.param(
            {"DONE_AGENT_WRITE": "feature.txt=x", "DONE_AGENT_COMMIT": "feature"},
            "accepted",
            None,
            1,
            False,
            id="commit",
        ),
    ],
)
def test_require_change(
    repo: Path, env: dict[str, str], verdict: str, because: str | None, commits: int, dirty: bool
) -> None:
    with_verify(repo, "{command: 'true', require_change: true}")
    before = git(repo, "rev-parse", "HEAD")
    _, record = run(repo, **env)
    assert (record["verdict"], record.get("rejected_because")) == (verdict, because)
    after = git(repo, "rev-parse", "HEAD")
    changed = bool(commits) or dirty
    assert record["git"] == {
        "head_before": before,
        "head_after": after,
        "commits": commits,
        "dirty": dirty,
        "changed": changed,
    }
    assert (after != before) == bool(commits)
    assert rows(repo)["T-002"][2] == (" done " if verdict == "accepted" else " in-progress ")


def test_gates_past_their_timeout_are_killed_and_count_as_a_failure(repo: Path) -> None:
    with_verify(repo, "{command: 'echo started; sleep 30', timeout: 1s}")
    _, record = run(repo)
    assert (record["verdict"], record["rejected_because"]) == (
        "rejected",
        "`echo started; sleep 30` timed out after 1s",
    )
    assert (record["verification"]["exit_code"], record["verification"]["passed"]) == (None, False)
    assert record["duration_seconds"] < 25  # not the gates' 30 s
    log = repo / ORCH / "logs" / "sess-001.verify.log"
    assert log.read_text() == "$ echo started; sleep 30\nstarted\n\ncoord: killed after 1s\n"
    assert rows(repo)["T-002"][2] == " in-progress "


@pytest.mark.parametrize(
    ("command", "env", "verdict", "status"),
    [
        pytest.param(AGENT_COMMAND, {}, "unfinished", "in-progress", id="completed-not-done"),
        pytest.param(AGENT_COMMAND, {"FAKE_AGENT_EXIT": "1"}, "none", "in-progress", id="failed-untouched"),
        pytest.param(
            DONE_AGENT, {"DONE_AGENT_STATUS": "blocked", "DONE_AGENT_EXIT": "1"}, "unfinished", "blocked", id="blocked"
        ),
    ],
)
def test_a_task_not_done_is_not_verified(
    repo: Path, command: str, env: dict[str, str], verdict: str, status: str
) -> None:
    with_verify(repo, "{command: 'touch gates-ran'}")
    _, record = run(repo, command, **env)
    assert (record["verdict"], record["task_status_after"], record["tasks_done"]) == (verdict, status, [])
    assert "verification" not in record
    assert not (repo / "gates-ran").exists()
    assert not (repo / ORCH / "logs" / "sess-001.verify.log").exists()


def test_verify_quality_gates_runs_the_quality_gates_string(repo: Path) -> None:
    config = repo / ".mosaic" / "mission.yaml"
    config.write_text(
        config.read_text().replace("quality_gates: make test", "quality_gates: echo $MOSAIC_TASK_ID > gated")
        + "verify: quality_gates\n"
    )
    _, record = run(repo)
    assert record["verdict"] == "accepted"
    assert record["verification"]["command"] == "echo $MOSAIC_TASK_ID > gated"
    assert (repo / "gated").read_text() == "T-002\n"


def test_without_gates_a_done_task_is_accepted_and_git_is_null_outside_a_work_tree(project: Path) -> None:
    _, record = run(project)
    assert (record["verdict"], record["task_status_after"], record["tasks_done"]) == ("accepted", "done", ["T-002"])
    assert record.get("git") is None
    assert "verification" not in record


def test_a_detached_session_is_verified_by_its_supervisor(repo: Path) -> None:
    with_verify(repo, "{command: sh gate.sh}")
    started = coord(
        "run",
        "--detach",
        "--json",
        "--command",
        DONE_AGENT,
        cwd=repo,
        env={"DONE_AGENT_WRITE": f"gate.sh={GATE_FAILS}"},
    )
    assert started.returncode == 0, started.stderr
    state = repo / ORCH / "state.json"
    wait_for(lambda: "verdict" in json.loads(state.read_text())["sessions"][0])
    (record,) = json.loads(state.read_text())["sessions"]
    assert (record["verdict"], record["rejected_because"]) == ("rejected", "`sh gate.sh` failed (exit 3)")
    assert record["tasks_done"] == ["T-002"]
    assert record["git"]["commits"] == 0
    assert rows(repo)["T-002"][2] == " in-progress "
    assert (repo / ORCH / "logs" / "sess-001.verify.log").read_text() == "$ sh gate.sh\ngate broken\n"
    log = Path(json.loads(started.stdout)["log_path"])
    said = "coord: T-002 was marked done, but `sh gate.sh` failed (exit 3); it is in-progress again"
    wait_for(lambda: said in log.read_text())
    assert not (repo / ORCH / "session.lock").exists()


@pytest.mark.parametrize("tracked", [pytest.param(True, id="tracked"), pytest.param(False, id="untracked")])
def test_more_changes_to_a_file_already_changed_count_as_a_change(repo: Path, *, tracked: bool) -> None:
    """Work left uncommitted before the session, taken further by the agent: git status reads the same."""
    with_verify(repo, "{command: 'true', require_change: true}")
    draft = repo / ("gate.sh" if tracked else "draft.txt")
    draft.write_text(draft.read_text() + "# begun\n" if tracked else "begun\n")
    _, record = run(repo, DONE_AGENT_WRITE=f"{draft.name}=begun, and taken further\n")
    assert (record["verdict"], record["git"]["dirty"]) == ("accepted", True), record.get("rejected_because")


@pytest.mark.parametrize(
    ("signum", "whom"),
    [
        pytest.param(signal.SIGINT, "group", id="ctrl-c"),
        pytest.param(signal.SIGTERM, "coord", id="sigterm"),
    ],
)
def test_a_signal_while_the_gates_run_stops_them_and_leaves_the_claim_unverified(
    repo: Path, signum: int, whom: str
) -> None:
    """Ctrl-C reaches coord's process group, not the gates (they run in a session of their own)."""
    with_verify(repo, "{command: 'echo $$ > gates.pid; exec sleep 30'}")
    process = subprocess.Popen(
        [str(BIN / "mosaic-coord"), "run", "--command", DONE_AGENT],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    pid_file = repo / "gates.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"))
    gates = int(pid_file.read_text())
    if whom == "group":
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    name = signal.Signals(signum).name
    assert process.returncode == 130, stderr
    (record,) = json.loads((repo / ORCH / "state.json").read_text())["sessions"]
    assert (record["ended_reason"], record["exit_code"], record["verdict"]) == ("completed", 0, "none"), stderr
    assert "rejected_because" not in record  # the user stopped the check: nothing failed
    verification = record["verification"]
    assert (verification["exit_code"], verification["passed"], verification["interrupted"]) == (None, False, True)
    assert rows(repo)["T-002"][2] == " in-progress "
    assert not (repo / ORCH / "session.lock").exists()
    wait_for(lambda: not is_alive(gates, None))
    assert (repo / ORCH / "logs" / "sess-001.verify.log").read_text().endswith(f"\ncoord: stopped by {name}\n")


def test_gates_killed_by_a_signal_read_as_a_shell_reads_them(repo: Path) -> None:
    with_verify(repo, "{command: 'kill -9 $$'}")
    _, record = run(repo)
    assert record["rejected_because"] == "`kill -9 $$` failed (exit 137)"
    assert record["verification"]["exit_code"] == 137


def test_a_stop_now_asked_for_before_the_gates_start_runs_none_of_them(project: Path) -> None:
    """`coord.stop --now` may come just before the gates listen for it: they never start."""
    mission = load_mission(project / ".mosaic" / "mission.yaml")
    log = project / "gates.log"
    began = time.monotonic()
    gates = run_gates(mission, "sleep 30; touch ran", 60, log, dict(os.environ), stop_now=lambda: True)
    assert (gates.passed, gates.stopped_by) == (False, STOP_NOW)
    assert time.monotonic() - began < 25 and not (project / "ran").exists()  # not the gates' 30 s
    assert log.read_text().endswith("coord: stopped by stop --now\n")


def test_the_tasks_changed_since_the_start_are_those_whose_status_differs() -> None:
    """Compared as strings in one pass (a mission has thousands); a task added since has not changed."""
    begun = Start(
        task_id="A", statuses={"A": "in-progress", "B": "done", "C": "not-started"}, head_before=None, tree_before=None
    )
    now = {"A": "done", "B": "done", "C": "cancelled", "D": "done"}
    assert begun.changed(now) == ["A", "C"]
    assert begun.done_before == frozenset({"B"})
